"""Small widgets the screens share."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Label, RadioButton, Select, SelectionList
from textual.widgets._toggle_button import ToggleButton

# ticked and unticked, chosen and not, told apart by their glyph, not only by colour (a monochrome terminal,
# colour-blind eyes): Textual draws the same one for both
TICKED, UNTICKED = "X", " "
CHOSEN, UNCHOSEN = "●", "○"


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismisses with the answer."""

    BINDINGS = [("y", "answer(True)", "Yes"), ("n,escape", "answer(False)", "No")]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Label(self.question, id="question")
            with Grid(id="answers"):
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
    """The converted .bin files of this session, the first one chosen. Its value is a path, or not a str while
    nothing is chosen (Textual calls that Select.BLANK before 8.0 and Select.NULL since; Select.BLANK is then
    Widget's False): `chosen` hides the difference."""

    def __init__(self, bins: dict[str, str], preferred: str | None = None):
        """`preferred`: the file chosen first when it is among `bins` (else the first one)."""
        self.preferred = preferred
        first: dict[str, Any] = {"value": self.pick(bins)} if bins else {}  # no value: nothing chosen, in any version
        super().__init__(self.options(bins), allow_blank=True, id="bin", compact=True, **first)

    @staticmethod
    def options(bins: dict[str, str]) -> list[tuple[str, str]]:
        return [(f"{kind}  {path}", path) for kind, path in bins.items()]

    def pick(self, bins: dict[str, str], chosen: str | None = None) -> str:
        for path in (chosen, self.preferred):
            if path is not None and path in bins.values():
                return path
        return next(iter(bins.values()))

    @property
    def chosen(self) -> str | None:
        return self.value if isinstance(self.value, str) else None

    def show(self, bins: dict[str, str]) -> None:
        """The session's files now; the one chosen stays chosen while it is there."""
        chosen = self.chosen
        self.set_options(self.options(bins))
        if bins:
            self.value = self.pick(bins, chosen)


class Setting(Validator):
    """A field checked by the one check of training settings, its sentence worded for the field's label."""

    def __init__(self, setting: str, label: str):
        super().__init__()
        self.setting, self.label = setting, label

    def validate(self, value: str) -> ValidationResult:
        from wacft.services.settings import label, problem

        sentence = problem(self.setting, value if value.strip() else None)  # blank: not given
        if sentence is None:
            return self.success()
        return self.failure(sentence.replace(label(self.setting), self.label, 1))

    def sentence(self, value: str) -> str | None:
        """What is wrong with `value`, or None."""
        result = self.validate(value)
        return None if result.is_valid else result.failure_descriptions[0]


class Tick(Checkbox):
    """A checkbox whose box is empty when unticked."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # Textual reads it as an attribute
        return TICKED if self.value else UNTICKED


class Choice(RadioButton):
    """A radio button drawn hollow when not chosen."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # as Tick's
        return CHOSEN if self.value else UNCHOSEN


class Ticks(SelectionList):
    """A selection list whose boxes are empty when unticked."""

    def render_line(self, y: int) -> Strip:
        segments = list(super().render_line(y))
        if len(segments) > 1 and segments[1].text == ToggleButton.BUTTON_INNER and segments[1].style:
            index = (segments[1].style.meta or {}).get("option")
            if index is not None:
                ticked = self.get_option_at_index(index).value in self.selected
                segments[1] = segments[1]._replace(text=TICKED if ticked else UNTICKED)
        return Strip(segments)
