"""device/ end to end: the real adb server (Debian's `adb`) on a private port, fake phones
(tests/fixtures_adb) connected to it with `adb connect`, and the real code talking to them through
adbutils."""

from __future__ import annotations

import os
import sys
import time

import pytest
from fixtures.ggml_file import write_ggml
from fixtures_adb.adbserver import AdbServer, free_port
from fixtures_adb.fakeadbd import FakePhone

from wacft.cli import main
from wacft.device import futo
from wacft.device.adb import AdbNotFound, AdbUnavailable, Phone, PhoneFrozen, connect
from wacft.device.devices import PhoneNotUsable, SeveralPhones, choose_phone, list_phones
from wacft.device.naming import BadName, NotAWhisperModel
from wacft.device.push import NameTaken, NotEnoughSpace, NotVerified, PushFailed, push_model

pytestmark = pytest.mark.e2e

DOWNLOAD = "/sdcard/Download"
FUTO = "org.futo.inputmethod.latin"


def write_model(path, *, layers=6, vocab=51864, ftype=2008, size=3_000_000):
    """A whisper.cpp .bin whisper.cpp's loader accepts (base.en q5_0 by default), random data, about `size`."""
    return write_ggml(path, layers=layers, vocab=vocab, ftype=ftype, size=size)


@pytest.fixture(scope="module")
def adb_server(tmp_path_factory):
    server = AdbServer(tmp_path_factory.mktemp("adb-home")).start()
    yield server
    server.stop()


@pytest.fixture
def adb(adb_server, monkeypatch):
    """The adb server, with this process's environment pointing at it (as a person's shell would)."""
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    for name in ("ANDROID_ADB_SERVER_HOST", "ADBUTILS_ADB_PATH", "ANDROID_SERIAL"):
        monkeypatch.delenv(name, raising=False)
    return adb_server


@pytest.fixture
def connect_phone(adb, tmp_path):
    """Factory: connect_phone(state=..., **FakePhone options) -> a fake phone the server lists in `state`."""
    phones: list[FakePhone] = []

    def make(state="device", **options):
        phone = FakePhone(tmp_path / f"phone{len(phones)}", state=state, **options)
        phones.append(phone)
        adb.connect(phone.address, state)
        return phone

    yield make
    for phone in phones:
        adb.disconnect(phone.address)
        phone.close()
        assert phone.unsafe_commands == []  # nothing unquoted ever reached a shell


@pytest.fixture
def phone(connect_phone):
    return connect_phone()


@pytest.fixture
def model(tmp_path):
    return write_model(tmp_path / "base_en_acft_q5_0.bin")


def downloads(phone: FakePhone) -> list[str]:
    return sorted(p.name for p in phone.file(DOWNLOAD).iterdir())


def wacft(*argv: str) -> int:
    return main(list(argv))


def open_phone(fake: FakePhone) -> Phone:
    """The phone as `wacft push --device` finds it."""
    client = connect()
    return choose_phone(list_phones(client), fake.address).open(client)


# --- the fake itself, as the real adb client sees it -------------------------------------------------

def test_fake_phone_serves_the_real_adb_client(adb, phone, tmp_path):
    """SEND/STA2 (adb push), RECV (adb pull), LIST (adb ls) and shell v2 exit codes, through the server."""
    data = os.urandom(3 * 1024 * 1024 + 5)  # several 1 MiB packets and 64 KiB sync chunks, and a ragged end
    (tmp_path / "up").write_bytes(data)
    adb.adb("-s", phone.address, "push", str(tmp_path / "up"), f"{DOWNLOAD}/up")
    assert phone.file(f"{DOWNLOAD}/up").read_bytes() == data
    adb.adb("-s", phone.address, "pull", f"{DOWNLOAD}/up", str(tmp_path / "down"))
    assert (tmp_path / "down").read_bytes() == data
    assert "up" in adb.adb("-s", phone.address, "ls", DOWNLOAD)
    assert adb.adb("-s", phone.address, "shell", "getprop", "ro.product.model").strip() == "Pixel 7"
    with pytest.raises(RuntimeError, match=r"\(1\)"):
        adb.adb("-s", phone.address, "shell", "sha256sum", f"{DOWNLOAD}/missing")


# --- listing and choosing ----------------------------------------------------------------------------

def test_devices_lists_every_state_and_details_of_usable_phones(connect_phone, capsys):
    good = connect_phone(model="Pixel 8a", android="15", packages=[f"{FUTO}.playstore"],
                         df_free=3_500_000_000)
    locked = connect_phone("unauthorized")
    silent = connect_phone("offline")

    phones = {p.serial: p for p in list_phones(connect())}
    info = phones[good.address]
    assert (info.state, info.model, info.android) == ("device", "Pixel 8a", "15")
    assert info.free_bytes == 3_500_000_000 // 1024 * 1024
    assert info.futo_package == f"{FUTO}.playstore"
    assert phones[locked.address].state == "unauthorized"
    assert "accept the “Allow USB debugging?” prompt" in phones[locked.address].problem
    assert phones[silent.address].state == "offline"

    assert wacft("devices") == 0
    out = capsys.readouterr().out
    assert f"{good.address}  device  Pixel 8a, Android 15, 3.5 GB free, FUTO Keyboard {FUTO}.playstore" in out
    assert f"{locked.address}  unauthorized\n    The phone {locked.address} is unauthorized: unlock it" in out
    assert f"{silent.address}  offline" in out


def test_devices_with_no_phone_says_how_to_connect_one(adb, capsys):
    assert wacft("devices") == 0
    assert "No phone is connected over adb; plug it in and turn on USB debugging" in capsys.readouterr().out


def test_unauthorized_phone_is_refused_with_the_prompt_sentence(connect_phone, model, capsys):
    locked = connect_phone("unauthorized")
    with pytest.raises(PhoneNotUsable, match="accept the “Allow USB debugging"):
        choose_phone(list_phones(connect()))
    for argv in ([], ["--device", locked.address]):
        assert wacft("push", str(model), *argv) == 1
        err = capsys.readouterr().err
        assert "unlock it and accept the “Allow USB debugging?” prompt on its screen" in err
    assert locked.services == []


def test_two_phones_and_no_serial_asks_for_one(connect_phone, model, capsys):
    first, second = connect_phone(), connect_phone()
    with pytest.raises(SeveralPhones, match="choose one with --device SERIAL"):
        choose_phone(list_phones(connect()))
    assert wacft("push", str(model)) == 1
    err = capsys.readouterr().err
    assert first.address in err and second.address in err
    assert downloads(first) == downloads(second) == []

    assert wacft("push", str(model), "--device", second.address) == 0
    assert downloads(first) == [] and downloads(second) == [model.name]


# --- push ------------------------------------------------------------------------------------------------

def test_push_verifies_renames_and_opens_futo(phone, model, capsys):
    assert wacft("push", str(model), "--open-futo") == 0
    out = capsys.readouterr().out

    final, temp = f"{DOWNLOAD}/{model.name}", f"{DOWNLOAD}/.{model.name}.part"
    assert phone.file(final).read_bytes() == model.read_bytes()
    assert downloads(phone) == [model.name]
    assert ["sha256sum", temp] in phone.commands
    assert phone.commands.index(["sha256sum", temp]) < phone.commands.index(["mv", "-f", temp, final])
    component = f"{FUTO}/{futo.SETTINGS_ACTIVITY}"
    assert phone.activities == [["am", "start", "-n", component, "--es", "navDest", "languages"]]
    assert f"to {final} on Pixel 7 ({phone.address}): 3.0 MB" in out and "sha256 checked on the phone" in out
    assert "Tap “Import resource file”." in out and f"Pick {model.name} (in Downloads)." in out


def test_push_reports_progress_and_the_result(phone, tmp_path):
    model = write_model(tmp_path / "small_acft_q8_0_github.bin", layers=12, vocab=51865, ftype=2007,
                        size=1_000_000)
    seen = []
    result = push_model(open_phone(phone), model, "small_acft_q8_0_github.bin",
                        progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (model.stat().st_size,) * 2 and seen == sorted(seen)
    assert len(seen) == -(-model.stat().st_size // (1 << 20))  # one report per MiB
    assert result.remote_path == f"{DOWNLOAD}/small_acft_q8_0_github.bin"
    assert (result.size, result.checksum) == (model.stat().st_size, "sha256")
    assert phone.file(result.remote_path).read_bytes() == model.read_bytes()


def test_default_name_comes_from_the_header_and_name_is_editable(phone, tmp_path, capsys):
    model = write_model(tmp_path / "my model.bin", layers=4, vocab=51865, ftype=1)
    assert wacft("push", str(model)) == 0
    assert wacft("push", str(model), "--name", "tiny-mine_v2") == 0
    assert downloads(phone) == ["tiny-mine_v2.bin", "tiny_acft_f16.bin"]


def test_a_multilingual_model_is_named_and_imported_in_its_language(phone, tmp_path, capsys):
    model = write_model(tmp_path / "mine.bin", layers=6, vocab=51865, ftype=2007)
    assert wacft("push", str(model), "--language", "German") == 0
    assert downloads(phone) == ["base_de_acft_q8_0.bin"]
    assert "Choose German: FUTO Keyboard keeps a voice model for each language." in capsys.readouterr().out
    english = write_model(tmp_path / "english.bin", vocab=51864)
    assert wacft("push", str(english), "--language", "fr") != 0
    assert "English-only, so FUTO Keyboard can use it for English only, not French" in capsys.readouterr().err


def test_existing_file_is_replaced_only_when_asked(phone, model, tmp_path, capsys):
    assert wacft("push", str(model)) == 0
    first = phone.file(f"{DOWNLOAD}/{model.name}").read_bytes()
    write_model(model)  # new contents, same name
    with pytest.raises(NameTaken, match="pass --force to replace it"):
        push_model(open_phone(phone), model, model.name)
    assert phone.file(f"{DOWNLOAD}/{model.name}").read_bytes() == first
    assert wacft("push", str(model), "--force") == 0
    assert phone.file(f"{DOWNLOAD}/{model.name}").read_bytes() == model.read_bytes()


def test_checksum_falls_back_to_md5_then_to_size(connect_phone, model):
    for tools, checksum in (({"md5sum"}, "md5"), (set(), None)):
        phone = connect_phone(tools=tools)
        result = push_model(open_phone(phone), model, model.name)
        assert result.checksum == checksum
        assert phone.file(result.remote_path).read_bytes() == model.read_bytes()


def test_futo_missing_is_said_with_where_to_get_it(connect_phone, model, capsys):
    phone = connect_phone(packages=["com.android.settings"])
    assert wacft("push", str(model)) == 0  # the file is there for when FUTO is installed
    assert f"FUTO Keyboard is not installed on {phone.address}; install it from {futo.DOWNLOAD_PAGE}" in \
        capsys.readouterr().out
    assert wacft("push", str(model), "--force", "--open-futo") == 1
    assert "FUTO Keyboard is not installed" in capsys.readouterr().err
    with pytest.raises(futo.FutoPageFailed, match="does not exist"):
        futo.open_languages_page(open_phone(phone), FUTO)
    assert phone.activities == []


# --- faults: nothing half-written under the final name ---------------------------------------------------

def test_short_free_space_is_refused_before_pushing(connect_phone, model):
    phone = connect_phone(df_free=1_000_000)
    with pytest.raises(NotEnoughSpace, match=r"needs 3.0 MB but .* has 1.0 MB free in /sdcard/Download"):
        push_model(open_phone(phone), model, model.name)
    assert downloads(phone) == []
    assert not any(c[0] == "sha256sum" and c[1] != "/dev/null" for c in phone.commands)


def test_storage_full_mid_push_leaves_nothing(connect_phone, model):
    phone = connect_phone(capacity=1_000_000, df_free=10_000_000)  # df says there is room; the writes say not
    with pytest.raises(NotEnoughSpace, match="ran out of space during the push .*No space left on device"):
        push_model(open_phone(phone), model, model.name)
    assert downloads(phone) == []


def test_phone_vanishing_mid_push_leaves_nothing_under_the_final_name(adb, connect_phone, model):
    phone = connect_phone(vanish_after=1_000_000)
    with pytest.raises(PushFailed, match="broke after .* of 3.0 MB .*nothing was left under the final name") as e:
        push_model(open_phone(phone), model, model.name)
    assert f"A hidden partial copy, {DOWNLOAD}/.{model.name}.part, may be left on the phone" in str(e.value)
    # the partial file a dead phone keeps is the hidden temporary one, never the model's name
    assert downloads(phone) == [f".{model.name}.part"]
    assert phone.file(f"{DOWNLOAD}/.{model.name}.part").stat().st_size < model.stat().st_size
    assert adb.states().get(phone.address) != "device"


def test_a_phone_that_freezes_mid_push_is_given_up_soon_and_named(connect_phone, model):
    phone = connect_phone(freeze_after=1_000_000)
    started = time.monotonic()
    said = (f"{phone.address} stopped answering after .* of 3.0 MB; nothing was left under the final name: unplug it"
            " and plug it back in .*adb kill-server")
    with pytest.raises(PhoneFrozen, match=said) as e:
        push_model(open_phone(phone), model, model.name)
    assert time.monotonic() - started < 40  # 71 s before: a minute's timeout, then ten more seconds for the rm
    assert f"A hidden partial copy, {DOWNLOAD}/.{model.name}.part, may be left on the phone" in str(e.value)
    assert downloads(phone) == [f".{model.name}.part"]


def test_a_phone_that_freezes_while_checking_the_copy_is_given_up_in_seconds(connect_phone, model):
    phone = connect_phone(freeze_on="sha256sum")
    started = time.monotonic()
    with pytest.raises(PhoneFrozen, match=f"{phone.address} stopped answering while it checked the copy .*adb"
                                          " kill-server") as e:
        push_model(open_phone(phone), model, model.name)
    assert time.monotonic() - started < 40  # ten minutes before, whatever the file's size
    assert f"A hidden partial copy, {DOWNLOAD}/.{model.name}.part, may be left on the phone" in str(e.value)


def test_corrupted_copy_is_caught_and_removed(connect_phone, model):
    phone = connect_phone(flip_byte_at=2_000_000)
    with pytest.raises(NotVerified, match="has sha256 .* but base_en_acft_q5_0.bin has"):
        push_model(open_phone(phone), model, model.name)
    assert downloads(phone) == []


def test_interrupted_push_is_cleaned_up(phone, model):
    def interrupt(done, total):
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        push_model(open_phone(phone), model, model.name, progress=interrupt)
    assert downloads(phone) == []
    assert ["rm", "-f", f"{DOWNLOAD}/.{model.name}.part"] in phone.commands


@pytest.mark.parametrize("name", ["x; rm -rf /sdcard", "$(reboot)", "`id`", "a|b", "a&&b", "a>b", "it's",
                                  "a b", "../x", "ü.bin", "a\nb"])
def test_names_with_shell_metacharacters_never_reach_the_phone(phone, model, capsys, name):
    handle = open_phone(phone)
    phone.services.clear()
    assert wacft("push", str(model), "--name", name) == 1
    assert "has characters other than letters, digits" in capsys.readouterr().err
    with pytest.raises(BadName):
        push_model(handle, model, name)
    assert phone.services == [] and downloads(phone) == []


def test_not_a_model_is_refused_before_adb(phone, tmp_path, capsys):
    other = tmp_path / "notes.bin"
    other.write_bytes(b"GGUF" + bytes(100))
    handle = open_phone(phone)
    phone.services.clear()
    assert wacft("push", str(other)) == 1
    assert "is not a whisper.cpp GGML model" in capsys.readouterr().err
    with pytest.raises(NotAWhisperModel):
        push_model(handle, other, "notes.bin")
    assert phone.services == []


# --- no adb, no server -----------------------------------------------------------------------------------

@pytest.fixture
def no_server(monkeypatch):
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(free_port()))
    monkeypatch.delenv("ANDROID_ADB_SERVER_HOST", raising=False)


def test_missing_adb_says_where_to_get_it(no_server, monkeypatch, capsys):
    monkeypatch.setenv("ADBUTILS_ADB_PATH", "/nonexistent/adb")
    with pytest.raises(AdbNotFound, match="install Android platform-tools .* or your distribution's `adb`"):
        connect()
    assert wacft("devices") == 1
    assert "adb was not found" in capsys.readouterr().err


def test_server_that_cannot_start_is_a_clear_message(no_server, monkeypatch):
    monkeypatch.setenv("ADBUTILS_ADB_PATH", "/bin/false")
    with pytest.raises(AdbUnavailable, match="could not be started .* run `adb start-server` to see why"):
        connect()


def test_remote_server_that_is_not_there_is_not_started(no_server, monkeypatch):
    monkeypatch.setenv("ANDROID_ADB_SERVER_HOST", "192.0.2.1")  # TEST-NET: nothing answers
    with pytest.raises(AdbUnavailable, match="No adb server answers at 192.0.2.1"):
        connect()


def test_server_is_started_when_not_running(tmp_path, monkeypatch):
    server = AdbServer(tmp_path / "home")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(server.port))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    try:
        assert connect().server_version() > 0
    finally:
        server.stop()


def test_device_package_imports_nothing_heavy():
    import subprocess

    code = ("import sys, wacft.cli.phone, wacft.device.push, wacft.device.futo, wacft.device.devices\n"
            "print([m for m in ('torch', 'transformers', 'wacft.tui') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
