"""Small widgets the screens share."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Label, Select


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismisses with the answer."""

    BINDINGS = [("y", "answer(True)", "Yes"), ("n,escape", "answer(False)", "No")]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Grid(id="confirm"):
            yield Label(self.question, id="question")
            yield Button("Yes", id="yes", variant="error")
            yield Button("No", id="no", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class Form(Grid):
    """Labelled one-line fields: a label, then its widget (two pairs a row with the `pairs` class). Labels
    matter because a filled-in Input no longer shows its placeholder."""

    def __init__(self, *fields: tuple[str, Widget], pairs: bool = False, id: str | None = None):
        super().__init__(id=id, classes="form pairs" if pairs else "form")
        self.fields = fields

    def compose(self) -> ComposeResult:
        for label, widget in self.fields:
            yield Label(label, classes="label")
            yield widget


class BinSelect(Select):
    """The converted .bin files of this session, the first one chosen."""

    def __init__(self, bins: dict[str, str]):
        super().__init__(self.options(bins), allow_blank=True, value=next(iter(bins.values()), Select.BLANK),
                         id="bin", compact=True)

    @staticmethod
    def options(bins: dict[str, str]) -> list[tuple[str, str]]:
        return [(f"{kind}  {path}", path) for kind, path in bins.items()]

    def show(self, bins: dict[str, str]) -> None:
        """The session's files now; the one chosen stays chosen while it is there."""
        chosen = self.value
        self.set_options(self.options(bins))
        if bins:
            self.value = chosen if chosen in bins.values() else next(iter(bins.values()))
