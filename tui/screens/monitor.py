"""The run, live: progress with ETA, the loss as it falls, the log, checkpoints. Cancel or detach."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.widgets import ProgressBar, RichLog, Sparkline, Static

from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import ConfirmScreen


class MonitorScreen(StepScreen):
    TITLE = "Training"
    HELP = "[b]x[/b] cancels the run; [b]d[/b] detaches (it keeps going; the start screen reattaches)."
    BINDINGS = [("x", "cancel", "Cancel run"), ("d", "detach", "Detach"), ("ctrl+n", "next", "Convert")]

    def body(self) -> ComposeResult:
        yield Static("", id="stats")
        yield ProgressBar(id="progress", show_eta=True)
        yield Static("loss")
        yield Sparkline([], id="loss")
        yield RichLog(id="log", max_lines=500, wrap=True)

    def on_mount(self) -> None:
        from wacft.acft.runs import load_run

        self.record = load_run(self.session.run_id)
        self.losses: list[float] = []
        self.follow()

    @work(thread=True, exclusive=True)
    def follow(self) -> None:
        from wacft.acft.backends import backend_for
        from wacft.acft.events import CallbackSink

        backend = self.app.local_backend if self.record.backend == "local" else backend_for(self.record)
        record = backend.watch(self.record, CallbackSink(lambda e: self.app.call_from_thread(self.show, e)))
        self.app.call_from_thread(self.finished, record)

    def show(self, event: dict) -> None:
        log = self.query_one("#log", RichLog)
        if event["type"] == "step":
            self.query_one("#progress", ProgressBar).update(total=event["total_steps"], progress=event["step"])
            self.losses.append(event["loss"])
            self.query_one("#loss", Sparkline).data = self.losses[-200:]
            hours = event["audio_seconds"] / 3600
            self.query_one("#stats", Static).update(
                f"epoch {event['epoch']}/{event['epochs']} · loss {event['loss']:.4g} · "
                f"{event['clips_per_second']:.1f} clips/s · {hours:.2f} h of audio seen"
            )
        elif event["type"] == "checkpoint":
            log.write(f"checkpoint at step {event['step']}")
        elif event["type"] in ("log", "error"):
            log.write(event["message"])

    def finished(self, record) -> None:
        self.record = record
        log = self.query_one("#log", RichLog)
        if record.status == "done":
            self.session.trained = record.artifacts.get("model", record.config["out"])
            self.session.save()
            log.write("[green]done[/green]: ctrl+n converts it for whisper.cpp")
        else:
            log.write(f"[red]{record.status}[/red] {record.error or ''}")

    def action_cancel(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                from wacft.acft.backends import backend_for

                backend = self.app.local_backend if self.record.backend == "local" else backend_for(self.record)
                backend.cancel(self.record)

        self.app.push_screen(ConfirmScreen("Cancel this run? Its last checkpoint is kept."), confirmed)

    def action_detach(self) -> None:
        self.go("start")

    def action_next(self) -> None:
        if self.session.trained:
            self.go("convert")
