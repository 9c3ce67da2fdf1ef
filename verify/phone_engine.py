"""The whisper.cpp generation FUTO Keyboard ships: its own copy, forked from 1.5.4 (synced March 2024). The
nearest engine to it that installs from a registry is pywhispercpp 1.2.0, which bundles whisper.cpp 1.5.4. It
cannot live beside wacft's own pywhispercpp, so it gets a virtual environment of its own, made on first use
in the user cache dir and reused after."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

from wacft.errors import WacftError
from wacft.paths import shared_cache_dir
from wacft.verify.whispercpp import Engine, EngineName, current_engine

PYWHISPERCPP = "1.2.0"
WHISPER_CPP = "1.5.4"
PYTHONS = ((3, 11), (3, 12))  # the CPython versions 1.2.0 has wheels for
LABEL = f"whisper.cpp {WHISPER_CPP}, the phone's generation"
# what `--engine` picks: one engine, or both (the verdict from the phone's)
EngineChoice = Literal[EngineName, "both"]
ENGINE_CHOICES: tuple[EngineChoice, ...] = get_args(EngineChoice)


class PhoneEngineUnavailable(WacftError):
    """No pywhispercpp 1.2.0 wheel fits this Python and platform (or PyPI cannot be reached on first use)."""


def _unavailable(why: str) -> PhoneEngineUnavailable:
    return PhoneEngineUnavailable(
        f"The phone's whisper.cpp ({WHISPER_CPP}, from pywhispercpp {PYWHISPERCPP}) cannot be installed here"
        f" ({why}); verifying in the current whisper.cpp alone."
    )


def engine_folder() -> Path:
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    return shared_cache_dir() / "phone-engine" / f"pywhispercpp-{PYWHISPERCPP}-{version}"


def _python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _build(folder: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", os.fspath(folder)], check=True, capture_output=True)
    # wheels only: building 1.2.0 from source needs a compiler and minutes, and would not be the wheel's build
    subprocess.run([os.fspath(_python(folder)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--only-binary=:all:", f"pywhispercpp=={PYWHISPERCPP}"], check=True, capture_output=True)
    subprocess.run([os.fspath(_python(folder)), "-I", "-c", "import _pywhispercpp"], check=True, capture_output=True)


def phone_engine(say: Callable[[str], None] | None = None) -> Engine:
    """The phone's engine, its environment made the first time (a minute: one wheel and numpy from PyPI), which
    `say` is told of."""
    if sys.version_info[:2] not in PYTHONS:
        raise _unavailable(f"its wheels are for CPython {' and '.join('.'.join(map(str, v)) for v in PYTHONS)}")
    folder = engine_folder()
    if not _python(folder).is_file():
        if say:
            say(f"Installing {LABEL} in {folder} (once)...")
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".building.", dir=folder.parent))
        try:
            _build(tmp)
            os.replace(tmp, folder)  # a venv finds itself from its interpreter's path, so it may be renamed
        except subprocess.CalledProcessError as e:
            lines = (e.stderr or b"").decode(errors="replace").strip().splitlines()
            raise _unavailable(lines[-1] if lines else "pip failed") from e
        except OSError:
            if not _python(folder).is_file():  # else another process won the race: use its copy
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Engine("phone", os.fspath(_python(folder)), LABEL)


def choose_engines(choice: EngineChoice, say: Callable[[str], None]) -> list[Engine]:
    """The engines to verify in, the phone's first; a phone engine that cannot be installed is said in one
    sentence and the current one runs alone (as that sentence says)."""
    if choice == "current":
        return [current_engine()]
    try:
        phone = phone_engine(say)
    except PhoneEngineUnavailable as e:
        say(str(e))
        return [current_engine()]
    return [phone] if choice == "phone" else [phone, current_engine()]
