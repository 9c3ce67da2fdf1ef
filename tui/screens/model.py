"""Step 2: the Whisper model to start from, checked in the background, with what FUTO Keyboard can run."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Input, RadioSet, Static

from wacft.facts import FUTO_WIDEST, MODEL_SIZES, WIZARD_SIZES
from wacft.services.models import ModelFacts, hub_id, model_facts
from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import Choice, Form, Tick


class ModelScreen(StepScreen):
    TITLE = "2 · Model"
    HELP = ("FUTO Keyboard runs tiny, base and small; larger models train and convert but will not run on the "
            "phone. Or type any hub id or local folder (your own fine-tune). [b]ctrl+n[/b] goes on.")
    BINDINGS = [("ctrl+n", "next", "Next"), ("escape", "back", "Back")]
    facts: ModelFacts | None = None  # of the model chosen, once checked
    checked = ""  # the model those facts (or that failure) are about

    def body(self) -> ComposeResult:
        current = self.session.model
        with RadioSet(id="size", compact=True):
            for size in WIZARD_SIZES:
                note = "" if MODEL_SIZES[size][0] <= FUTO_WIDEST else "  (not run by FUTO)"
                yield Choice(f"{size}{note}", value=current.startswith(f"openai/whisper-{size}"), name=size,
                                  id=f"size-{size}")
        yield Tick("English-only (.en)", value=current.endswith(".en") or not current, id="english",
                       compact=True)
        custom = "" if current.startswith("openai/whisper-") else current
        yield Form(
            ("or hub id/folder", Input(custom, placeholder="any Whisper model", id="custom", compact=True)),
            ("language", Input(self.session.language, placeholder="multilingual models: the data's, e.g. de or fr",
                               id="language", compact=True)),
        )
        yield Static("", id="check")
        yield Static("", id="warning")

    def chosen(self) -> str:
        custom = self.query_one("#custom", Input).value.strip()
        if custom:
            return custom
        pressed = self.query_one("#size", RadioSet).pressed_button
        size = pressed.name if pressed and pressed.name else "base"
        return hub_id(size, self.query_one("#english", Tick).value)

    # the check follows the choice, whichever field changed it
    def on_screen_resume(self) -> None:
        self.check_choice()

    def on_radio_set_changed(self) -> None:
        self.check_choice()

    def on_checkbox_changed(self) -> None:
        self.check_choice()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "custom":
            self.check_choice()
        elif event.input.id == "language":
            self.put("warning", self.language_warning(final=False))

    def language_warning(self, final: bool) -> str:
        """What is wrong with the language typed, for the model chosen, in red; "" when nothing is. A multilingual
        model without one is said only when going on (`final`): not while the field is still empty."""
        from wacft.services.settings import label, language_problem, problem

        typed = self.query_one("#language", Input).value.strip() or None
        sentence = problem("language", typed)
        if sentence is None and self.facts is not None and (typed or final):
            sentence = language_problem(self.chosen(), self.facts.multilingual, typed, "in the language field")
        return f"[red]{sentence.replace(label('language'), 'The language', 1)}[/red]" if sentence else ""

    def check_choice(self) -> None:
        model = self.chosen()
        if model == self.checked and self.facts:
            return
        self.facts, self.checked = None, ""
        self.put("check", f"checking {model}…")
        self.query_one("#warning", Static).update("")
        self.check(model)

    @work(thread=True, exclusive=True, group="check")
    def check(self, model: str) -> None:
        from textual.worker import get_current_worker

        from wacft.errors import WacftError

        try:
            facts, why = model_facts(model), None
        except WacftError as e:
            facts, why = None, str(e)
        if not get_current_worker().is_cancelled:  # a newer choice has its own check coming
            self.tell(self.checked_model, model, facts, why)

    def checked_model(self, model: str, facts: ModelFacts | None, why: str | None) -> None:
        if model != self.chosen():
            return
        self.facts, self.checked = facts, model
        if facts is None:
            self.put("check", Text(f"✗ {why}", style="red"))
            return
        self.put("check", Text.assemble(("✓ ", "green"), f"{model}: {facts.describe()}; the folder is complete."))
        if self.language_warning(final=False):
            self.put("warning", self.language_warning(final=False))
        elif not facts.runs_on_futo:
            self.put("warning", "[yellow]FUTO Keyboard does not run this size; it will train, convert and verify,"
                                " but not run on the phone.[/yellow]")

    def action_next(self) -> None:
        model = self.chosen()
        if model != self.checked:
            self.put("warning", "[yellow]The model is still being checked; ctrl+n once it is.[/yellow]")
            return
        if self.facts is None:
            self.put("warning", "[red]This model cannot be used (see above); pick another.[/red]")
            return
        wrong = self.language_warning(final=True)
        if wrong:
            self.put("warning", wrong)
            self.query_one("#language", Input).focus()
            return
        self.session.model = model
        self.session.language = self.query_one("#language", Input).value.strip()
        self.go("train")

    def action_back(self) -> None:
        self.go("dataset")
