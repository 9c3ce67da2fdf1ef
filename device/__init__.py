"""Getting a .bin onto an Android phone for FUTO Keyboard, over adb (through the adb server, with adbutils).

    client = adb.connect()                                   # starts a local adb server when none runs
    info = devices.choose_phone(devices.list_phones(client), serial)   # PhoneInfo: state, model, FUTO, ...
    phone = info.open(client)                                # adb.Phone
    name = naming.default_name(path)                         # e.g. base_en_acft_q5_0.bin, from the header
    result = push.push_model(phone, path, name, force=False, progress=callback)   # verified, renamed
    futo.open_languages_page(phone, info.futo_package); futo.import_steps(name, page_open=True)

Every failure a person can meet is a WacftError subclass whose message says what to do.
"""

import os


def _import_adbutils() -> None:
    """adbutils makes its client from $ANDROID_ADB_SERVER_PORT as it is imported, so a port that is no number stops
    the import with a bare ValueError, in every module here: import it without that port, which adb.connect()
    then names in a sentence."""
    port = os.environ.get("ANDROID_ADB_SERVER_PORT", "")
    if not port.isdigit():
        os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
    try:
        import adbutils  # noqa: F401
    finally:
        if port:
            os.environ["ANDROID_ADB_SERVER_PORT"] = port


_import_adbutils()
