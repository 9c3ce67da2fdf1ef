"""What this machine has for each step, and what to do about what it lacks: the wizard's start screen.
Each check is cheap and imports nothing heavy (no torch, no modal)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def modal_token_configured() -> bool:
    """Whether Modal has a token id and secret, from the environment or the active profile of its config file
    (what `modal token new` writes), found the way Modal finds them, without importing modal (slow)."""
    path = Path(os.environ.get("MODAL_CONFIG_PATH") or Path.home() / ".modal.toml")
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        profiles = {}
    active = next((name for name, p in profiles.items() if isinstance(p, dict) and p.get("active")), "default")
    profile = profiles.get(os.environ.get("MODAL_PROFILE") or active, {})
    return all(os.environ.get(f"MODAL_{key.upper()}") or profile.get(key) for key in ("token_id", "token_secret"))


def modal_token() -> Check:
    from wacft.extras import beside, installed

    configured = modal_token_configured()
    then = "" if installed("modal") else "add the 'modal' extra (below), then "
    return Check("Modal token", configured, "configured" if configured else "none",
                 "" if configured else f"{then}run `{beside('modal')} token new` to train on Modal GPUs")


def huggingface_login() -> Check:
    from huggingface_hub import get_token

    from wacft.extras import beside

    ok = get_token() is not None
    return Check("Hugging Face login", ok, "token found" if ok else "not logged in",
                 "" if ok else f"run `{beside('hf')} auth login` to use gated datasets or push models")


def adb() -> Check:
    path = shutil.which("adb")
    return Check("adb", path is not None, path or "not found",
                 "" if path else "install Android platform-tools or your distribution's `adb` package")


def espeak_ng() -> Check:
    """Training on one person's recordings here mixes in other voices that espeak-ng speaks (acft/other_voices.py);
    Modal's image has its own."""
    path = shutil.which("espeak-ng")
    return Check("espeak-ng", path is not None, path or "not found",
                 "" if path else "install your distribution's `espeak-ng` package to train on your own recordings"
                                 " on this machine")


def local_gpu() -> Check:
    """nvidia-smi or Apple silicon: asked without importing torch."""
    if shutil.which("nvidia-smi"):
        return Check("Local GPU", True, "NVIDIA (CUDA)")
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return Check("Local GPU", True, "Apple silicon (MPS)")
    return Check("Local GPU", False, "none: local training runs on the CPU",
                 "train on Modal for anything beyond a small test")


def environment() -> list[Check]:
    return [modal_token(), huggingface_login(), adb(), espeak_ng(), local_gpu()]
