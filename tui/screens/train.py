"""Step 3: training settings, where to run, and the launch."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from wacft.tui.screens.base import StepScreen


class TrainScreen(StepScreen):
    TITLE = "3 · ACFT training"
    HELP = ("Published settings: 8 epochs, learning rate 1e-6 per clip, clips up to 29 s. Local runs use this "
            "machine (a GPU if it has one); Modal runs on a cloud A100 and goes on if you close this window. "
            "[b]ctrl+l[/b] launches.")
    BINDINGS = [("ctrl+l", "launch", "Launch"), ("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        s = self.session
        yield Static(f"model [b]{s.model}[/b] on [b]{s.dataset}[/b]")
        yield Input(str(s.epochs), placeholder="epochs", id="epochs", type="integer")
        yield Input(str(s.lr), placeholder="learning rate", id="lr", type="number")
        yield Input(str(s.batch_size), placeholder="batch size", id="batch", type="integer")
        yield Input(str(s.max_audio_length), placeholder="max clip length (s)", id="maxlen", type="number")
        with RadioSet(id="where"):
            yield RadioButton("here (local process)", value=s.where == "local", name="local")
            yield RadioButton("Modal (cloud GPU)", value=s.where == "modal", name="modal")
        yield Input(s.gpu, placeholder="Modal GPU: A100-40GB, A100-80GB, H100", id="gpu")
        yield Input(s.push_to, placeholder="push to hub repo (optional, private)", id="push")
        yield Input(s.out or str(Path("runs") / Path(s.model).name), placeholder="output folder", id="out")
        yield Button("Launch", id="launch", variant="primary")
        yield Static("", id="status")

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def on_button_pressed(self) -> None:
        self.action_launch()

    def action_launch(self) -> None:
        s = self.session
        try:
            s.epochs, s.lr = int(self.value("epochs")), float(self.value("lr"))
            s.batch_size, s.max_audio_length = int(self.value("batch")), float(self.value("maxlen"))
        except ValueError:
            message = "[red]Epochs, learning rate, batch and length must be numbers.[/red]"
            self.query_one("#status", Static).update(message)
            return
        pressed = self.query_one("#where", RadioSet).pressed_button
        s.where = pressed.name if pressed else "local"
        s.gpu, s.push_to, s.out = self.value("gpu"), self.value("push"), self.value("out")
        s.save()
        self.query_one("#status", Static).update("launching…")
        self.launch()

    @work(thread=True, exclusive=True)
    def launch(self) -> None:
        from wacft.acft.config import TrainConfig
        from wacft.errors import WacftError

        s = self.session
        config = TrainConfig(
            model=s.model, dataset=s.dataset, out=s.out, dataset_config=s.dataset_config or None, split=s.split,
            language=s.language or None, epochs=s.epochs, lr=s.lr, batch_size=s.batch_size,
            max_audio_length=s.max_audio_length, push_to=s.push_to or None,
        )
        try:
            if s.where == "modal":
                from wacft.acft.modal_backend import ModalBackend

                record = ModalBackend(s.gpu).launch(config)
            else:
                record = self.app.local_backend.launch(config)
        except WacftError as e:
            self.say("status", f"[red]{e}[/red]")
            return
        s.run_id = record.id
        self.app.call_from_thread(self.go, "monitor")

    def action_back(self) -> None:
        self.go("model")
