"""What every step screen shares: the header (with the step's title), its help text, what the step needs
first, the footer, and moving on."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

if TYPE_CHECKING:
    from wacft.tui.app import WacftApp
    from wacft.tui.session import Session

# the fields a step can focus when it shows (the scrolling body itself takes focus otherwise, and then
# typed keys go nowhere)
FIELDS = "#body .form > *, #body RadioSet, #body SelectionList, #body DataTable, #body Button"


class StepScreen(Screen):
    TITLE = ""
    HELP = ""
    AUTO_FOCUS = FIELDS

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="body"):
            yield Static(self.HELP, classes="help")
            yield Static("", id="needs")
            yield from self.body()
        yield Footer()

    def on_screen_suspend(self) -> None:
        """The Keys panel lists this step's keys: it goes when the step does."""
        self.query("HelpPanel").remove()

    def body(self) -> ComposeResult:
        yield from ()

    def needs(self) -> str:
        """What this step needs from an earlier one that the session does not have yet ("" when nothing)."""
        return ""

    def on_screen_resume(self) -> None:
        """Each time the step shows (reached in order or with ctrl+p): what it still needs, said first."""
        needs = self.query_one("#needs", Static)
        needs.update(f"[yellow]{self.needs()}[/yellow]")
        needs.display = bool(self.needs())

    @property
    def wizard(self) -> WacftApp:
        """The app, as the wizard it is (Textual types `app` as any App)."""
        return cast("WacftApp", self.app)

    @property
    def session(self) -> Session:
        return self.wizard.session

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def put(self, widget_id: str, text) -> None:
        """Show `text` in a Static, scrolled into view (a result below the fold at 80x24 is still seen)."""
        widget = self.query_one(f"#{widget_id}", Static)
        widget.update(text)
        widget.scroll_visible()

    def say(self, widget_id: str, text) -> None:
        """Show `text` in a Static, from a worker thread."""
        self.tell(self.put, widget_id, text)

    def tell(self, callback, *args, **kwargs) -> None:
        """From a worker thread: `callback(*args, **kwargs)` on the app's thread, unless the step has closed meanwhile
        (the app quit while the worker ran: its widgets are gone)."""

        def if_open() -> None:
            if self.is_running and self.is_attached:
                callback(*args, **kwargs)

        if self.app.is_running:
            self.app.call_from_thread(if_open)

    def go(self, step: str) -> None:
        """Save where the person is, then show the next step."""
        self.session.step = step
        problem = self.session.save()
        if problem:
            self.notify(problem, severity="warning", timeout=10)
        self.app.switch_screen(step)
