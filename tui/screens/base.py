"""What every step screen shares: the header, a title with its help text, the footer, and moving on."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class StepScreen(Screen):
    TITLE = ""
    HELP = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="body"):
            yield Static(f"[b]{self.TITLE}[/b]", classes="title")
            yield Static(self.HELP, classes="help")
            yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    @property
    def session(self):
        return self.app.session

    def say(self, widget_id: str, text: str) -> None:
        """Show `text` in a Static, from a worker thread."""
        self.app.call_from_thread(self.query_one(f"#{widget_id}", Static).update, text)

    def go(self, step: str) -> None:
        """Save where the person is, then show the next step."""
        self.session.step = step
        self.session.save()
        self.app.switch_screen(step)
