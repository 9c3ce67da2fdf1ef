"""`wacft-tui`: the wizard's entry point (the guided steps arrive with the wizard issue)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

WELCOME = """\
[b]wacft[/b]: from your speech data to your own Whisper model in FUTO Keyboard's voice input.

Steps: dataset → model → ACFT training → convert → verify → push to phone.
Today the steps run from the command line: [b]wacft convert[/b], [b]wacft inspect[/b].
"""


class WacftApp(App):
    TITLE = "wacft"
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(WELCOME, id="welcome")
        yield Footer()


def main() -> None:
    WacftApp().run()
