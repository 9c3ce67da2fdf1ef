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
}
FEATURES = {"data": "Reading a dataset", "train": "Training", "verify": "Verifying in whisper.cpp",
            "modal": "Running on Modal"}


class MissingExtra(WacftError):
    """A feature's optional packages are not installed."""


def missing_extra(extra: str, package: str) -> MissingExtra:
    return MissingExtra(
        f"{FEATURES[extra]} needs {package}, which is not installed: install the {extra!r} extra with"
        f" `pip install 'wacft[{extra}]'` (a checkout's `make run` installs every extra)."
    )


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
