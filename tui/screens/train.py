"""Step 3: training settings, where to run, what it will take, and the launch."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, Input, Select, Static

from wacft.facts import GPUS
from wacft.services.settings import OBJECTIVES, default_out
from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import Form, Setting, Tick

WHERE = (("here", "local"), ("Modal", "modal"))
# field id -> (the training setting it sets, its label): acft.validate checks each as it is typed
FIELDS = {
    "epochs": ("epochs", "ACFT epochs"), "finetune": ("finetune_epochs", "stage-1 epochs"),
    "lr": ("lr", "learning rate"), "batch": ("batch_size", "batch"), "maxlen": ("max_audio_length", "max clip (s)"),
    "hours": ("max_hours", "max hours"), "push": ("push_to", "push to hub"), "out": ("out", "output folder"),
}


def field(widget_id: str, value, **options) -> Input:
    """An Input for a training setting; empty, it shows what the setting accepts."""
    from wacft.services.settings import LAUNCH_RULES, RULES

    setting, label = FIELDS[widget_id]
    accepts = (RULES | LAUNCH_RULES)[setting](None)  # what a missing value is told: the values the setting accepts
    return Input(str(value), id=widget_id, placeholder=options.pop("placeholder", accepts or ""),
                 validators=[Setting(setting, label)], compact=True, **options)


def voices_wanted(session) -> bool:
    """Whether the run mixes in other voices: as the person ticked it, else as the dataset asks."""
    from wacft.services.settings import other_voices

    return other_voices(session.settings()) > 0


class TrainScreen(StepScreen):
    TITLE = "3 · Training"
    HELP = ("ACFT as published (8 epochs, lr 1e-6 a clip, clips up to 29 s), a quarter of its batches at full context"
            " to keep it, each clip with the silence the phone records around a dictation. Stage-1 epochs first teach"
            " the model your words (0: ACFT only). A Modal run goes on if you close this. [b]ctrl+l[/b] launches.")
    BINDINGS = [("ctrl+l", "launch", "Launch"), ("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        s = self.session
        yield Static(f"[b]{s.model}[/b] on [b]{s.dataset}[/b]", id="what")
        yield Static("", id="estimate")
        yield Form(
            ("ACFT epochs", field("epochs", s.epochs)),
            ("stage-1 epochs", field("finetune", s.finetune_epochs)),
            ("learning rate", field("lr", s.lr)),
            ("batch", field("batch", s.batch_size)),
            ("max clip (s)", field("maxlen", s.max_audio_length)),
            ("stage 1", Select([(o, o) for o in OBJECTIVES], value=s.objective, allow_blank=False, id="objective",
                               compact=True)),
            ("where", Select(WHERE, value=s.where, allow_blank=False, id="where", compact=True)),
            ("freeze encoder", Tick("in stage 1", value=s.freeze_encoder, id="freeze", compact=True)),
            ("Modal GPU", Select([(g, g) for g in GPUS], value=s.gpu if s.gpu in GPUS else GPUS[0],
                                 allow_blank=False, id="gpu", compact=True)),
            ("max hours", field("hours", s.max_hours or "", placeholder="on Modal: 24 at most")),
            ("push to hub", field("push", s.push_to, placeholder="optional, private")),
            # one person's recordings lose other speakers' words without them; a folder of one voice ticks it
            ("other voices", Tick("if one voice", value=voices_wanted(s), id="voices", compact=True)),
            pairs=True,
        )
        yield Form(("output folder", field("out", s.out or default_out(s.model))))
        yield Button("Launch", id="launch", variant="primary", compact=True)
        yield Static("", id="status")

    def needs(self) -> str:
        return "" if self.session.dataset_clips else "Check a dataset first (step 1): training needs its clips."

    def on_screen_resume(self) -> None:
        """Each time the step shows: the model and data chosen since, an output folder that follows the model
        until the person edits it, and an estimate that knows of any run finished since."""
        s = self.session
        if not s.out:
            self.query_one("#out", Input).value = str(default_out(s.model))
        self.query_one("#voices", Tick).value = voices_wanted(s)  # the dataset may have changed
        self.describe_run()
        self.refresh_estimate()

    def describe_run(self) -> None:
        from wacft.services.settings import one_voice_guessed, other_voices

        s = self.session
        glossary = f", with the glossary {escape(s.glossary)}" if s.glossary else ""
        count = other_voices(s.settings()) if s.dataset else 0
        voices = (f", and {count} clips of other voices (espeak-ng) so that your one voice does not cost other"
                  " speakers words" if count else "")
        if count and s.other_voices is None and one_voice_guessed(s.dataset):
            voices += " (its metadata names no speaker; untick other voices if it holds several)"
        self.query_one("#what", Static).update(
            f"[b]{s.model}[/b] on [b]{s.dataset or '(no dataset yet)'}[/b]{glossary}{voices}")

    def problem(self) -> str | None:
        """The first field whose text its setting does not accept, as a sentence."""
        for widget_id in FIELDS:
            result = self.query_one(f"#{widget_id}", Input).validate(self.value(widget_id))
            if result is not None and not result.is_valid:
                return result.failure_descriptions[0]
        return None

    def read(self) -> bool:
        """The fields into the session; False (and the sentence in the status line) when one is not accepted."""
        from wacft.errors import WacftError
        from wacft.services.settings import check

        s = self.session
        wrong = self.problem()
        if wrong:
            self.put("status", Text(wrong, style="red"))
            return False
        s.epochs, s.finetune_epochs = int(self.value("epochs")), int(self.value("finetune"))
        s.lr, s.batch_size = float(self.value("lr")), int(self.value("batch"))
        s.max_audio_length = float(self.value("maxlen"))
        s.objective = str(self.query_one("#objective", Select).value)
        s.where = str(self.query_one("#where", Select).value)
        s.gpu = str(self.query_one("#gpu", Select).value)
        s.freeze_encoder = self.query_one("#freeze", Tick).value
        ticked, s.other_voices = self.query_one("#voices", Tick).value, None
        s.other_voices = None if ticked == voices_wanted(s) else ticked  # kept only where it differs from the rule
        out = self.value("out")
        s.push_to, s.out = self.value("push"), "" if out == str(default_out(s.model)) else out
        s.max_hours = float(self.value("hours")) if self.value("hours") else None
        for modal_only in ("#gpu", "#hours"):
            self.query_one(modal_only).disabled = s.where != "modal"
        if not self.needs():  # with a dataset: how the settings go together (e.g. no epoch at all)
            try:
                check(s.settings())
            except WacftError as e:
                self.put("status", Text(str(e), style="red"))
                return False
        self.query_one("#status", Static).update("")
        return True

    # each setting is checked as it is typed, and the estimate follows every setting it depends on
    def on_input_changed(self) -> None:
        self.refresh_estimate()

    def on_select_changed(self) -> None:
        self.refresh_estimate()

    def on_checkbox_changed(self) -> None:
        self.refresh_estimate()
        self.describe_run()

    def refresh_estimate(self) -> None:
        if not self.is_mounted or not self.read():
            return
        s = self.session
        if not s.dataset_clips:  # (the step says it needs one)
            return
        self.estimate(s.settings(), s.dataset_clips, s.dataset_seconds, s.gpu if s.where == "modal" else None,
                      s.dataset_partial)

    @work(thread=True, exclusive=True, group="estimate")
    def estimate(self, config, clips: int, seconds: float, gpu: str | None, partial: bool) -> None:
        from textual.worker import get_current_worker

        from wacft.errors import WacftError
        from wacft.services.runs import estimate

        try:
            text = estimate(config, clips, seconds, gpu).describe()
        except WacftError as e:
            text = f"[red]{e}[/red]"
        if partial:
            text += f" Counted on the {clips} clips the check read; the dataset may hold more."
        if not get_current_worker().is_cancelled:  # a newer setting has its own estimate coming
            self.tell(self.query_one("#estimate", Static).update, text)

    def on_button_pressed(self) -> None:
        self.action_launch()

    def action_launch(self) -> None:
        if self.needs():
            self.put("status", f"[yellow]{self.needs()}[/yellow]")
            return
        if not self.read():
            return
        self.session.save()
        self.put("status", "launching…")
        self.launch(self.session.settings())

    @work(thread=True, exclusive=True)
    def launch(self, config) -> None:
        from wacft.errors import WacftError
        from wacft.services.outputs import DEFAULT_TYPES
        from wacft.services.runs import backend

        s = self.session
        try:
            # on Modal the job converts the usual types beside the weights: the convert step then fetches only those
            on = backend(s.where, s.gpu, DEFAULT_TYPES, s.max_hours)
            ask = (lambda: self.ask_to_spend(config)) if s.where == "modal" else None
            record = on.launch(config, say=lambda message: self.say("status", message), confirm=ask)
        except WacftError as e:
            self.say("status", f"[red]✗ {e}[/red]")
            return
        s.run_id = record.id
        self.wizard.started.append(record.id)
        self.tell(self.go, "monitor")

    def ask_to_spend(self, config) -> None:
        """From the launch's thread, once Modal is ready: what the run will take and cost, and the question; a
        WacftError (nothing launched) unless the answer is yes."""
        import threading

        from wacft.errors import WacftError
        from wacft.services.runs import spend
        from wacft.tui.widgets import ConfirmScreen

        s = self.session
        question = spend(config, s.gpu, s.max_hours, s.dataset_clips, s.dataset_seconds) + "\nLaunch it?"
        answered, answers = threading.Event(), []

        def answer(yes: bool | None) -> None:
            answers.append(bool(yes))
            answered.set()

        self.tell(self.app.push_screen, ConfirmScreen(question), answer)
        while not answered.wait(0.2):
            if not self.app.is_running:  # closed while asking
                break
        if not any(answers):
            raise WacftError("Not launched.")

    def action_back(self) -> None:
        self.go("model")
