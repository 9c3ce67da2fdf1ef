"""The optional parts of wacft (pip extras). A feature whose extra is not installed says which one and how to
install it, as a WacftError sentence, instead of ending in a ModuleNotFoundError traceback."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

from wacft.errors import WacftError

# what each extra of pyproject.toml lets Python import (the packages a missing import can name)
EXTRAS = {
    "data": ("soundfile", "soxr", "datasets"),
    "train": ("torch", "transformers", "jiwer", "soundfile", "soxr", "datasets"),
    "verify": ("pywhispercpp", "jiwer", "soundfile", "soxr", "datasets"),
    "modal": ("modal", "soundfile"),
    "record": ("sounddevice", "soundfile", "soxr"),
}
FEATURES = {"data": "Reading a dataset", "train": "Training", "verify": "Verifying in whisper.cpp",
            "modal": "Running on Modal", "record": "Recording"}
# what each extra a person picks adds to the default install, for the wizard's first screen (`data` comes
# with `train` and `verify`)
ADDS = {"train": "training on this machine", "verify": "verifying as the phone runs it",
        "modal": "training on Modal's GPUs", "record": "recording your own clips"}


class MissingExtra(WacftError):
    """A feature's optional packages are not installed."""


def missing_extra(extra: str, package: str) -> MissingExtra:
    return MissingExtra(
        f"{FEATURES[extra]} needs {package}, which is not installed: install the {extra!r} extra with"
        f" `{install_command(extra)}` (a checkout's `make run` installs every extra)."
    )


def install_command(extra: str) -> str:
    return f"pip install 'wacft[{extra}]'"


def installed(extra: str) -> bool:
    """Whether every package of the extra can be imported, found without importing any (torch takes seconds)."""
    return all(importlib.util.find_spec(package) is not None for package in EXTRAS[extra])


def missing_extras() -> dict[str, str]:
    """The extras a person picks that are not installed: extra -> what it would add."""
    return {extra: adds for extra, adds in ADDS.items() if not installed(extra)}


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Around the imports of an extra's packages: a missing one becomes the sentence naming the extra. Only
    the extra's own packages count, so a broken import elsewhere still shows as what it is."""
    try:
        yield
    except ModuleNotFoundError as e:
        package = (e.name or "").split(".")[0]
        if package not in EXTRAS[extra]:
            raise
        raise missing_extra(extra, package) from e


def require_extra(extra: str) -> None:
    """Before starting work that will need the extra in another process: refuse now, without importing."""
    for package in EXTRAS[extra]:
        if importlib.util.find_spec(package) is None:
            raise missing_extra(extra, package)
