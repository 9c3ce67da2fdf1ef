"""The phone, the same for `wacft devices` and `wacft push` as for the wizard's Phone step: the phones adb sees,
the name a model gets there, and the push (checked on the phone) with what is left to do in FUTO Keyboard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wacft.errors import WacftError

if TYPE_CHECKING:
    import adbutils

    from wacft.device.devices import PhoneInfo as PhoneInfo  # for the command line's types
    from wacft.device.push import PushResult


def phones() -> tuple[adbutils.AdbClient, list[PhoneInfo]]:
    """adb's client (its server started when it is not running) and every phone it sees."""
    from wacft.device.adb import connect
    from wacft.device.devices import list_phones

    client = connect()
    return client, list_phones(client)


def no_phone() -> str:
    from wacft.device.devices import NO_PHONE

    return NO_PHONE


def phone(serial: str | None) -> tuple[adbutils.AdbClient, PhoneInfo]:
    """The phone with `serial`, or the only usable one; otherwise a sentence saying how to choose."""
    from wacft.device.devices import choose_phone

    client, found = phones()
    return client, choose_phone(found, serial)


def language_of(model: Path, given: str | None) -> str | None:
    """The language `model` is for, as a code (an English-only model's is English): named in its file name on the
    phone and in the import steps."""
    from wacft.device.naming import model_language, read_model_kind

    return model_language(read_model_kind(model), given)


def name_on_phone(model: Path, language: str | None, given: str | None = None) -> str:
    """`given` if it is a name the phone takes safely, else the default name from the model."""
    from wacft.device.naming import check_name, default_name

    return check_name(given) if given else default_name(model, language=language)


def is_name_taken(e: WacftError) -> bool:
    """Whether a push was refused only because a file of that name is on the phone (the wizard asks to replace)."""
    from wacft.device.push import NameTaken

    return isinstance(e, NameTaken)


@dataclass(frozen=True)
class Pushed:
    result: PushResult
    phone: PhoneInfo
    page_open: bool  # FUTO Keyboard's Languages page was opened on the phone
    steps: list[str]  # what is left to do in FUTO Keyboard; none where it is not installed

    @property
    def futo_missing(self) -> WacftError | None:
        """The sentence to say where FUTO Keyboard is not installed, naming the file to import once it is."""
        from wacft.device.futo import not_installed

        return None if self.phone.futo_package else not_installed(self.phone.serial, self.result.remote_path)


def push(client: adbutils.AdbClient, info: PhoneInfo, model: Path, name: str | None, *, language: str | None,
         force: bool = False, open_futo: bool = True,
         progress: Callable[[int, int], None] | None = None) -> Pushed:
    """`model` onto the phone in its Downloads as `name` (default: from the model), checked there by checksum;
    then, with `open_futo` where FUTO Keyboard is installed, its Languages page opened for the import."""
    from wacft.device.futo import import_steps, open_languages_page
    from wacft.device.push import push_model

    language = language_of(model, language)
    name = name_on_phone(model, language, name)
    handle = info.open(client)
    result = push_model(handle, model, name, force=force, progress=progress)
    page_open = open_futo and bool(info.futo_package)
    if page_open and info.futo_package:
        open_languages_page(handle, info.futo_package)
    steps = import_steps(Path(result.remote_path).name, page_open, language) if info.futo_package else []
    return Pushed(result, info, page_open, steps)
