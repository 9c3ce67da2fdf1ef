"""`wacft devices` and `wacft push`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wacft.device.devices import PhoneInfo


def register(steps: argparse._SubParsersAction) -> None:
    p = steps.add_parser("devices", help="list the phones adb sees: state, model, Android, free space and"
                         " FUTO Keyboard")
    p.set_defaults(func=run_devices)

    p = steps.add_parser("push", help="push a .bin to the phone, verify it there, open FUTO Keyboard's import"
                         " page")
    p.add_argument("file", metavar="FILE.bin", help="the whisper.cpp model to push")
    p.add_argument("--device", metavar="SERIAL",
                   help="the phone to push to (see `wacft devices`); needed only when several are connected")
    p.add_argument("--name", help="file name on the phone, in /sdcard/Download: letters, digits, '.', '_' and"
                   " '-' (default: from the model, e.g. base_en_acft_q5_0.bin)")
    p.add_argument("--language", help="the language a multilingual model was trained in (e.g. de): named in the"
                   " file name and in the import steps (an English-only model is English)")
    p.add_argument("--open-futo", action="store_true",
                   help="then open FUTO Keyboard's Languages page on the phone")
    p.add_argument("--force", action="store_true", help="replace a file of the same name on the phone")
    p.set_defaults(func=run_push)


def describe(phone: PhoneInfo) -> str:
    if phone.problem:
        return f"{phone.serial}  {phone.state}\n    {phone.problem}"
    free = f"{phone.free_bytes / 1e9:.1f} GB free" if phone.free_bytes is not None else "free space unknown"
    futo = f"FUTO Keyboard {phone.futo_package}" if phone.futo_package else "FUTO Keyboard not installed"
    return f"{phone.serial}  device  {phone.model or '?'}, Android {phone.android or '?'}, {free}, {futo}"


def run_devices(args: argparse.Namespace) -> None:
    from wacft.device.adb import connect
    from wacft.device.devices import ENABLE_DEBUGGING, list_phones

    phones = list_phones(connect())
    if not phones:
        print(f"No phone is connected over adb; plug it in and {ENABLE_DEBUGGING}.")
    for phone in phones:
        print(describe(phone))


def run_push(args: argparse.Namespace) -> None:
    from pathlib import Path

    from tqdm import tqdm

    from wacft.device import futo
    from wacft.device.adb import connect
    from wacft.device.devices import choose_phone, list_phones
    from wacft.device.naming import check_name, default_name, model_language, read_model_kind
    from wacft.device.push import push_model

    local = Path(args.file)
    language = model_language(read_model_kind(local), args.language)
    name = check_name(args.name) if args.name is not None else default_name(local, language=language)
    client = connect()
    info = choose_phone(list_phones(client), args.device)
    phone = info.open(client)
    bars: list[tqdm] = []  # opened at the first progress report, so a refused push prints no bar

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="B", unit_scale=True, desc=name))
        bars[0].update(done - bars[0].n)

    try:
        result = push_model(phone, local, name, force=args.force, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    checked = f"{result.checksum} checked on the phone" if result.checksum else \
        "size checked (the phone has neither sha256sum nor md5sum)"
    print(f"Pushed {local.name} to {result.remote_path} on {info.model or 'the phone'} ({info.serial}):"
          f" {result.size / 1e6:.1f} MB at {result.mb_per_s:.1f} MB/s, {checked}.")
    if not info.futo_package:
        missing = futo.not_installed(info.serial, result.remote_path)
        if args.open_futo:
            raise missing
        print(missing)
        return
    if args.open_futo:
        futo.open_languages_page(phone, info.futo_package)
    print("To import it in FUTO Keyboard:")
    for i, step in enumerate(futo.import_steps(name, page_open=args.open_futo, language=language), 1):
        print(f"  {i}. {step}")
