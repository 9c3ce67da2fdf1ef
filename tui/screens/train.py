"""Step 3: training settings, where to run, what it will take, and the launch."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, Checkbox, Input, Select, Static

from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import Form

# as acft.estimate.PRICE_PER_SECOND and modal_jobs.GPUS (neither is imported on the way to the first screen)
GPUS = ("A100-40GB", "A100-80GB", "H100")
WHERE = (("here", "local"), ("Modal", "modal"))
OBJECTIVES = (("two-stage", "two-stage"), ("joint", "joint"))
NUMBERS = "Epochs, stage-1 epochs, learning rate, batch and length must be numbers."


def train_config(s):
    """The run the session describes."""
    from wacft.acft.config import TrainConfig

    return TrainConfig(
        model=s.model, dataset=s.dataset, out=s.out, dataset_config=s.dataset_config or None, split=s.split,
        language=s.language or None, epochs=s.epochs, lr=s.lr, batch_size=s.batch_size,
        max_audio_length=s.max_audio_length, push_to=s.push_to or None, finetune_epochs=s.finetune_epochs,
        objective=s.objective, freeze_encoder=s.freeze_encoder,
    )


class TrainScreen(StepScreen):
    TITLE = "3 · Training"
    HELP = ("ACFT as published: 8 epochs, lr 1e-6 a clip, clips up to 29 s. Stage-1 epochs first teach the model "
            "your words (0: ACFT only). A Modal run goes on if you close this. [b]ctrl+l[/b] launches.")
    BINDINGS = [("ctrl+l", "launch", "Launch"), ("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        s = self.session
        yield Static(f"[b]{s.model}[/b] on [b]{s.dataset}[/b]", id="what")
        yield Static("", id="estimate")
        yield Form(
            ("ACFT epochs", Input(str(s.epochs), id="epochs", type="integer", compact=True)),
            ("stage-1 epochs", Input(str(s.finetune_epochs), id="finetune", type="integer", compact=True)),
            ("learning rate", Input(str(s.lr), id="lr", type="number", compact=True)),
            ("batch", Input(str(s.batch_size), id="batch", type="integer", compact=True)),
            ("max clip (s)", Input(str(s.max_audio_length), id="maxlen", type="number", compact=True)),
            ("stage 1", Select(OBJECTIVES, value=s.objective, allow_blank=False, id="objective", compact=True)),
            ("where", Select(WHERE, value=s.where, allow_blank=False, id="where", compact=True)),
            ("freeze encoder", Checkbox("in stage 1", value=s.freeze_encoder, id="freeze", compact=True)),
            ("Modal GPU", Select([(g, g) for g in GPUS], value=s.gpu if s.gpu in GPUS else GPUS[0],
                                 allow_blank=False, id="gpu", compact=True)),
            ("push to hub", Input(s.push_to, placeholder="optional, private", id="push", compact=True)),
            pairs=True,
        )
        yield Form(("output folder", Input(s.out or str(Path("runs") / Path(s.model).name), id="out",
                                           compact=True)))
        yield Button("Launch", id="launch", variant="primary", compact=True)
        yield Static("", id="status")

    def on_screen_resume(self) -> None:
        """Each time the step shows: the model and data chosen since, and an estimate that knows of any run
        finished since."""
        s = self.session
        self.query_one("#what", Static).update(f"[b]{s.model}[/b] on [b]{s.dataset}[/b]")
        self.refresh_estimate()

    def read(self) -> bool:
        """The fields into the session; False (and a sentence in the status line) when a number is not one."""
        s = self.session
        try:
            s.epochs, s.finetune_epochs = int(self.value("epochs")), int(self.value("finetune"))
            s.lr, s.batch_size = float(self.value("lr")), int(self.value("batch"))
            s.max_audio_length = float(self.value("maxlen"))
        except ValueError:
            self.put("status", f"[red]{NUMBERS}[/red]")
            return False
        s.objective = str(self.query_one("#objective", Select).value)
        s.where = str(self.query_one("#where", Select).value)
        s.gpu = str(self.query_one("#gpu", Select).value)
        s.freeze_encoder = self.query_one("#freeze", Checkbox).value
        s.push_to, s.out = self.value("push"), self.value("out")
        self.query_one("#gpu", Select).disabled = s.where != "modal"
        return True

    # the estimate follows every setting it depends on
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in ("epochs", "finetune", "batch"):
            self.refresh_estimate()

    def on_select_changed(self) -> None:
        self.refresh_estimate()

    def on_checkbox_changed(self) -> None:
        self.refresh_estimate()

    def refresh_estimate(self) -> None:
        if not self.is_mounted or not self.read():
            return
        self.query_one("#status", Static).update("")
        s = self.session
        if not s.dataset_clips:
            self.query_one("#estimate", Static).update("Check the dataset (step 1) to see what this run will take.")
            return
        self.estimate(train_config(s), s.dataset_clips, s.dataset_seconds, s.gpu if s.where == "modal" else None,
                      s.dataset_partial)

    @work(thread=True, exclusive=True, group="estimate")
    def estimate(self, config, clips: int, seconds: float, gpu: str | None, partial: bool) -> None:
        from textual.worker import get_current_worker

        from wacft.acft.estimate import estimate
        from wacft.errors import WacftError

        try:
            text = estimate(config, clips, seconds, gpu).describe()
        except WacftError as e:
            text = f"[red]{e}[/red]"
        if partial:
            text += f" Counted on the {clips} clips the check read; the dataset may hold more."
        if not get_current_worker().is_cancelled:  # a newer setting has its own estimate coming
            self.app.call_from_thread(self.query_one("#estimate", Static).update, text)

    def on_button_pressed(self) -> None:
        self.action_launch()

    def action_launch(self) -> None:
        if not self.read():
            return
        self.session.save()
        self.put("status", "launching…")
        self.launch(train_config(self.session))

    @work(thread=True, exclusive=True)
    def launch(self, config) -> None:
        from wacft.errors import WacftError

        s = self.session
        try:
            if s.where == "modal":
                from wacft.acft.modal_backend import ModalBackend
                from wacft.tui.screens.convert import DEFAULT_TYPES

                # the job converts the usual types beside the weights: the convert step then fetches only those
                record = ModalBackend(s.gpu).launch(config, convert_types=list(DEFAULT_TYPES),
                                                    say=lambda message: self.say("status", message))
            else:
                record = self.app.local_backend.launch(config)
        except WacftError as e:
            self.say("status", f"[red]✗ {e}[/red]")
            return
        s.run_id = record.id
        self.app.call_from_thread(self.go, "monitor")

    def action_back(self) -> None:
        self.go("model")
