"""`wacft devices` and `wacft push`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wacft.services.phone import PhoneInfo


def register(steps: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    from wacft.services.phone import no_phone, phones

    _, found = phones()
    if not found:
        print(no_phone())
    for phone in found:
        print(describe(phone))


def run_push(args: argparse.Namespace) -> None:
    from pathlib import Path

    from tqdm import tqdm

    from wacft.services.phone import language_of, name_on_phone, phone, push

    local = Path(args.file)
    name = name_on_phone(local, language_of(local, args.language), args.name)  # a wrong one before adb is asked
    client, info = phone(args.device)
    bars: list[tqdm] = []  # opened at the first progress report, so a refused push prints no bar

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="B", unit_scale=True, desc=name))
        bars[0].update(done - bars[0].n)

    try:
        pushed = push(client, info, local, name, language=args.language, force=args.force,
                      open_futo=args.open_futo, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    result = pushed.result
    checked = f"{result.checksum} checked on the phone" if result.checksum else \
        "size checked (the phone has neither sha256sum nor md5sum)"
    print(f"Pushed {local.name} to {result.remote_path} on {info.model or 'the phone'} ({info.serial}):"
          f" {result.size / 1e6:.1f} MB at {result.mb_per_s:.1f} MB/s, {checked}.")
    if pushed.futo_missing:
        if args.open_futo:
            raise pushed.futo_missing
        print(pushed.futo_missing)
        return
    print("To import it in FUTO Keyboard:")
    for i, step in enumerate(pushed.steps, 1):
        print(f"  {i}. {step}")
