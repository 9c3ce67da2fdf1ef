"""A run's events shown in a terminal: a progress bar with the loss, log lines above it, a closing line. Used by
`wacft train`/`watch` and by the Modal app's own entrypoints, so it lives outside the command line's module."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wacft.services.runs import Backend, Event, RunRecord


class TerminalSink:
    """Events as a progress bar with the loss, log lines above it, a closing line."""

    def __init__(self):
        self.bar = None

    def emit(self, event: Event) -> None:
        from tqdm import tqdm

        if event["type"] == "step":
            if self.bar is None:
                total, done = event["total_steps"], event["step"] - 1
                self.bar = tqdm(total=total, initial=done, unit="step")
            self.bar.set_description(event["stage"])
            self.bar.update(event["step"] - self.bar.n)
            self.bar.set_postfix(epoch=f"{event['epoch']}/{event['epochs']}", loss=f"{event['loss']:.4g}",
                                 clips_s=f"{event['clips_per_second']:.1f}")
        elif event["type"] in ("log", "checkpoint", "retrying"):  # errors: `wacft` prints the one it raises
            message = f"checkpoint at step {event['step']}" if event["type"] == "checkpoint" else event["message"]
            (self.bar.write if self.bar else print)(message)
        elif event["type"] == "done":
            if self.bar:
                self.bar.close()
            loss = "n/a" if event["final_loss"] is None else f"{event['final_loss']:.4g}"
            print(f"trained model in {event['out']} (final loss {loss});"
                  f" next: wacft convert {event['out']} --out model.bin --type q5_0")


def watch_in_terminal(backend: Backend, record: RunRecord) -> None:
    from wacft.services.runs import STOPPED

    record = backend.watch(record, TerminalSink())
    if record.status in STOPPED:
        from wacft.errors import WacftError

        raise WacftError(f"Run {record.id} failed: {record.error}" if record.status == "failed"
                         else f"Run {record.id} was cancelled.")
