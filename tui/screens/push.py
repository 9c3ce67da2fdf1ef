"""Step 6: onto the phone. The push itself comes with the device step (`wacft push` once it lands)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from wacft.tui.screens.base import StepScreen


class PushScreen(StepScreen):
    TITLE = "6 · Phone"
    HELP = "Copy the .bin to the phone, then in FUTO Keyboard: Settings → Languages → Import resource file."
    BINDINGS = [("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        lines = [f"{t}: {p}" for t, p in self.session.bins.items()] or ["convert a model first"]
        yield Static("\n".join(lines), id="files")

    def action_back(self) -> None:
        self.go("verify")
