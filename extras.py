"""The optional parts of wacft (pip extras). A feature whose extra is not installed says which one and how to
install it, as a WacftError sentence, instead of ending in a ModuleNotFoundError traceback."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    """The command that adds `extra` to this copy of wacft, the way it was installed (a pipx or uv tool, or a
    virtual environment with or without pip), from where it was installed (wacft is not on PyPI), keeping the
    extras it has."""
    extras = ",".join(sorted({e for e in EXTRAS if installed(e)} | {extra}))
    spec = _requirement(extras)
    prefix = Path(sys.prefix)
    if (prefix / "uv-receipt.toml").is_file():
        return f"uv tool install --force --python {sys.version_info[0]}.{sys.version_info[1]} {spec}"
    if (prefix / "pipx_metadata.json").is_file():
        return f"pipx install --force {spec}"
    python = shlex.quote(sys.executable)
    if importlib.util.find_spec("pip") is None:  # a venv uv made
        return f"uv pip install --python {python} {spec}"
    return f"{python} -m pip install {spec}"


def _requirement(extras: str) -> str:
    """wacft with these extras, from where this copy came: `-e CHECKOUT` when it runs from a checkout (editable,
    or on sys.path), else its wheel, folder or repository (PEP 610's direct_url.json), else the index."""
    here = Path(__file__).resolve().parent
    if (here / "pyproject.toml").is_file():  # a wheel holds no pyproject.toml
        return "-e " + shlex.quote(f"{here}[{extras}]")
    # a clone's own egg-info, found first from the clone's folder, has no direct_url.json
    copies = importlib.metadata.distributions(name="wacft")
    found = next((json.loads(text) for copy in copies if (text := copy.read_text("direct_url.json"))), None)
    if not found:
        return shlex.quote(f"wacft[{extras}]")
    url, vcs = found["url"], found.get("vcs_info")
    if vcs:
        url = f"{vcs['vcs']}+{url}@{vcs.get('requested_revision') or vcs['commit_id']}"
    return shlex.quote(f"wacft[{extras}] @ {url}")


def beside(command: str) -> str:
    """How to run a command that comes with wacft's packages (`modal`, `hf`): its name where it is on PATH, else
    its path in wacft's environment (after `make run`, pipx or `uv tool`, that folder is not on PATH)."""
    import shutil

    there = Path(sys.executable).parent / command
    return command if shutil.which(command) or not there.is_file() else shlex.quote(str(there))


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
