"""The run, live: progress with ETA, the loss as it falls, the log, checkpoints. Cancel, detach, or resume a
stopped run from its last checkpoint."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import ProgressBar, RichLog, Sparkline, Static

from wacft.services.runs import ACTIVE, STOPPED, kept_checkpoint

if TYPE_CHECKING:
    from wacft.services.runs import Event, RunRecord, StepEvent
from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import ConfirmScreen

# what the loss chart is labelled with in each stage: their losses differ in kind and scale (stage 1's
# cross-entropy, about 0.1-0.8, ACFT's hidden-state MSE, about 5), so each stage is charted on its own
STAGES = {"finetune": "stage 1, your words (cross-entropy)", "joint": "stage 1, joint (cross-entropy + ACFT)",
          "acft": "ACFT (hidden-state distance)"}
RATE_WINDOW = 100  # the ETA's rate: over the stage's last this many steps (after its first, which starts things up)
STOP_WAIT = 3.0  # seconds quitting waits for a watch to end: a look at a Modal run takes well under one
WATCH_THREAD = "watch "  # the start of a watch thread's name


def wait_for_watches(timeout: float = STOP_WAIT) -> None:
    """After the app has closed, and so told its watches to stop: let them end between two looks at their run
    rather than be cut off inside one as Python exits (a Modal call cut off that way prints a traceback over the
    terminal), but not wait past `timeout` for a look that hangs on a slow network."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name.startswith(WATCH_THREAD):
            thread.join(max(0.0, deadline - time.monotonic()))


class MonitorScreen(StepScreen):
    TITLE = "Training"
    HELP = ("[b]x[/b] cancels the run, [b]d[/b] detaches (it keeps going; the start screen reattaches), "
            "[b]r[/b] resumes a stopped run from its last checkpoint.")
    BINDINGS = [("x", "cancel", "Cancel run"), ("d", "detach", "Detach"), ("r", "resume", "Resume"),
                ("ctrl+n", "next", "Convert"), ("escape", "back", "Back")]
    record = None  # the run shown
    watching: threading.Event | None = None  # set: the watch of the run shown stops at its next look

    def body(self) -> ComposeResult:
        yield Static("", id="stats")
        # the bar's own ETA would time the replay of a finished run's events; the trainer's is shown instead
        yield ProgressBar(id="progress", show_eta=False)
        yield Static("loss", classes="label", id="loss-label")
        yield Sparkline([], id="loss")
        yield RichLog(id="log", max_lines=500, wrap=True)

    def needs(self) -> str:
        if self.session.run_id:
            return ""
        return "No run yet: launch one on the training step (3), or pick an earlier one on the start screen."

    def on_screen_resume(self) -> None:
        """Each time the step shows: the session's run (another may have been picked on the start screen)."""
        from wacft.errors import WacftError
        from wacft.services.runs import load_run

        if not self.session.run_id or self.record is not None and self.record.id == self.session.run_id:
            return
        try:
            self.watch_run(load_run(self.session.run_id))
        except WacftError as e:
            self.record = None
            self.note(f"[red]✗ {e}[/red]")

    def watch_run(self, record) -> None:
        self.record = record
        self.losses: list[float] = []
        self.stage: str | None = None
        self.timed: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)  # (time, step) of the stage's steps
        self.query_one("#log", RichLog).clear()
        self.query_one("#loss", Sparkline).data = []
        self.query_one("#loss-label", Static).update("loss")
        self.query_one("#progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#stats", Static).update(f"run {record.id}: waiting for its first step…")
        self.follow(record)

    def note(self, markup: str) -> None:
        """A line of our own in the log (the run's own lines are written as they are, never as markup)."""
        self.query_one("#log", RichLog).write(Text.from_markup(markup))

    def follow(self, record) -> None:
        """Replays the run's events, then follows them until it ends, in a daemon thread rather than a Textual
        worker: a watch lasts as long as the run, and quitting the app waits for it only briefly
        (`wait_for_watches`). An earlier run's watch is told to stop; until it does, whatever it reports is
        dropped (see `current`)."""
        self.stop_watching()
        self.watching = threading.Event()
        threading.Thread(target=self._follow, args=(self.app, record, self.watching), daemon=True,
                         name=f"{WATCH_THREAD}{record.id}").start()

    def stop_watching(self) -> None:
        if self.watching is not None:
            self.watching.set()

    def on_unmount(self) -> None:
        """On quitting, the watch is told to stop; `wait_for_watches` waits for it once the app has closed."""
        self.stop_watching()

    def _follow(self, app, record, stop: threading.Event) -> None:
        """(`app` is passed in: a plain thread has no Textual context to find it by.)"""
        from wacft.errors import WacftError
        from wacft.services.runs import CallbackSink, watch

        def tell(callback, *args) -> None:
            if app.is_running:  # once the app has closed while the run went on, there is nothing to show it in
                app.call_from_thread(callback, *args)

        try:
            tell(self.finished, watch(record, CallbackSink(lambda e: tell(self.show, record.id, e)), stop))
        except WacftError as e:
            tell(self.note, f"[red]✗ {e}[/red]")
        except Exception:
            if app.is_running:
                raise

    def current(self, run_id: str) -> bool:
        return self.record is not None and self.record.id == run_id

    def show(self, run_id: str, event: Event) -> None:
        from wacft.audio import audio_length

        if not self.current(run_id):
            return
        log = self.query_one("#log", RichLog)
        if event["type"] == "step":
            self.query_one("#progress", ProgressBar).update(total=event["total_steps"], progress=event["step"])
            stage = event.get("stage", "acft")
            if stage != self.stage:  # a chart of its own: ACFT's loss after stage 1's is no blow-up
                if self.stage is not None:
                    self.note(f"[b]{STAGES.get(stage, stage)}[/b] begins: a chart of its own")
                self.stage, self.losses = stage, []
                self.timed.clear()
                self.query_one("#loss-label", Static).update(f"loss · {STAGES.get(stage, stage)}")
            self.losses.append(event["loss"])
            self.query_one("#loss", Sparkline).data = self.losses[-200:]
            self.timed.append((event.get("time", time.time()), event["step"]))
            self.query_one("#stats", Static).update(
                f"{'ACFT' if stage == 'acft' else 'stage 1'} epoch {event['epoch']}/{event['epochs']} · "
                f"loss {event['loss']:.4g} · "
                f"{event['clips_per_second']:.1f} clips/s · {audio_length(event['audio_seconds'])} of audio seen · "
                f"ETA {self.eta(event)}"
            )
        elif event["type"] == "checkpoint":
            log.write(f"checkpoint at step {event['step']}")
        # retrying: a Modal job resumes after a lost container; an `eval` is a log line of the trainer's too
        elif event["type"] in ("log", "error", "retrying"):
            log.write(event["message"])

    def eta(self, event: StepEvent) -> str:
        """From the rate of the steps measured since the stage's first (whose time holds the loading and the first
        kernels), as soon as there are two; the rest of the run taken at that rate."""
        if len(self.timed) < 2:
            return "after the next step"
        (t0, s0), (t1, s1) = self.timed[0], self.timed[-1]
        per_step = (t1 - t0) / max(1, s1 - s0)
        return str(timedelta(seconds=round(per_step * (event["total_steps"] - event["step"]))))

    def finished(self, record: RunRecord) -> None:
        if not self.current(record.id):
            return
        self.record = record
        if record.status == "done":
            self.session.trained = record.artifacts.get("model", record.config["out"])
            self.session.save()
            self.note("[green]✓ done[/green]: ctrl+n converts it for whisper.cpp")
            return
        self.note(f"[red]✗ {record.status}[/red] " + (record.error or "").replace("[", r"\["))
        if record.status in STOPPED:
            if kept_checkpoint(record):
                self.note("[b]r[/b] resumes it from its last checkpoint")
            else:
                self.note("It stopped before its first checkpoint: [b]esc[/b] goes back to the training step to"
                          " launch it again")

    def action_cancel(self) -> None:
        record = self.record
        if record is None or record.status not in ACTIVE:
            return

        def confirmed(yes: bool | None) -> None:
            from wacft.services.runs import cancel

            if yes and self.current(record.id):
                cancel(record)

        kept = ("Its last checkpoint is kept." if kept_checkpoint(record)
                else "It has no checkpoint yet: launched again, it starts over.")
        self.app.push_screen(ConfirmScreen(f"Cancel this run? {kept}"), confirmed)

    def action_resume(self) -> None:
        if self.record is not None:
            self.resume(self.record)

    @work(thread=True, exclusive=True, group="resume")
    def resume(self, stopped) -> None:
        from wacft.errors import WacftError
        from wacft.services.runs import resume

        try:
            # a Modal run goes on with the budget the training step holds, else the one it had
            record = resume(stopped, self.session.max_hours, say=lambda message: self.tell(self.note, message))
        except WacftError as e:
            self.tell(self.note, f"[red]✗ {e}[/red]")
            return
        self.tell(self.resumed, record)

    def resumed(self, record) -> None:
        self.wizard.started.append(record.id)
        self.session.run_id = record.id
        self.session.save()
        self.watch_run(record)

    def action_detach(self) -> None:
        self.go("start")

    def action_back(self) -> None:  # to the settings, to launch again (a run still going goes on, as detached)
        self.go("train")

    def action_next(self) -> None:
        if self.session.trained:
            self.go("convert")
