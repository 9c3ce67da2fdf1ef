"""What every step screen shares: the header (with the step's title), its help text, the footer, and moving
on."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static


class StepScreen(Screen):
    TITLE = ""
    HELP = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="body"):
            yield Static(self.HELP, classes="help")
            yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    @property
    def session(self):
        return self.app.session

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def put(self, widget_id: str, text) -> None:
        """Show `text` in a Static, scrolled into view (a result below the fold at 80x24 is still seen)."""
        widget = self.query_one(f"#{widget_id}", Static)
        widget.update(text)
        widget.scroll_visible()

    def say(self, widget_id: str, text) -> None:
        """Show `text` in a Static, from a worker thread."""
        self.app.call_from_thread(self.put, widget_id, text)

    def go(self, step: str) -> None:
        """Save where the person is, then show the next step."""
        self.session.step = step
        self.session.save()
        self.app.switch_screen(step)
