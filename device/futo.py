"""FUTO Keyboard on the phone: which build is installed, and opening its Languages page, where a model is
imported ("Import resource file" needs a tap: its file filter takes content: URIs only)."""

from __future__ import annotations

from wacft.device.adb import Phone
from wacft.errors import WacftError
from wacft.facts import language_name

BASE_PACKAGE = "org.futo.inputmethod.latin"
# builds add a suffix to the package name; their classes keep the base prefix
PACKAGES = (BASE_PACKAGE, f"{BASE_PACKAGE}.playstore", f"{BASE_PACKAGE}.unstable")
SETTINGS_ACTIVITY = f"{BASE_PACKAGE}.uix.settings.SettingsActivity"
DOWNLOAD_PAGE = "https://keyboard.futo.org"


class FutoNotInstalled(WacftError):
    pass


class FutoPageFailed(WacftError):
    pass


def futo_packages(phone: Phone) -> tuple[str, ...]:
    """The FUTO Keyboard builds installed, the usual ones first in PACKAGES order."""
    out = phone.shell("pm", "list", "packages", BASE_PACKAGE).out
    listed = {line.removeprefix("package:").strip() for line in out.splitlines()}
    found = {p for p in listed if p == BASE_PACKAGE or p.startswith(BASE_PACKAGE + ".")}
    return tuple(p for p in PACKAGES if p in found) + tuple(sorted(found - set(PACKAGES)))


def not_installed(serial: str, remote_path: str | None = None) -> FutoNotInstalled:
    then = f", then import {remote_path} from its Settings → Languages → Import resource file" \
        if remote_path else ""
    return FutoNotInstalled(f"FUTO Keyboard is not installed on {serial}; install it from {DOWNLOAD_PAGE} (or"
                            f" F-Droid, or Google Play){then}.")


def open_languages_page(phone: Phone, package: str) -> None:
    """Start FUTO Keyboard's settings on its Languages page (`am start ... --es navDest languages`)."""
    r = phone.shell("am", "start", "-n", f"{package}/{SETTINGS_ACTIVITY}", "--es", "navDest", "languages")
    # am reports a missing activity in its output, with exit code 0
    errors = [line for line in (r.out + r.err).splitlines() if line.startswith(("Error", "Exception"))]
    if r.code or errors:
        reason = errors[-1] if errors else f"exit code {r.code}"
        raise FutoPageFailed(f"FUTO Keyboard's Languages page did not open on {phone.serial} ({reason}); open"
                             " FUTO Keyboard's Settings → Languages on the phone yourself.")


def import_steps(file_name: str, page_open: bool, language: str | None = None) -> list[str]:
    """What the person still does on the phone to import the model; `language` (a code) is the one to choose,
    which FUTO Keyboard forces when it is the only one enabled."""
    return [
        "Unlock the phone: FUTO Keyboard's Languages page is open." if page_open
        else "Open FUTO Keyboard's Settings → Languages (or run this again with --open-futo).",
        "Tap “Import resource file”.",
        f"Pick {file_name} (in Downloads).",
        f"Choose {language_name(language)}: FUTO Keyboard keeps a voice model for each language." if language
        else "Choose the language the model is for.",
    ]
