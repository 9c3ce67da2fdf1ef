"""One stream of training events for every consumer: the CLI's progress bar, the TUI, a Modal queue, the run
record. An event is a small JSON-ready dict with a `type`, typed below; written out (JSON lines, a Modal job's
Dict), each carries its `time`. A stage is `finetune` or `joint` (stage 1, when the run has one), then `acft`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol, TextIO, TypedDict

STAGE = "acft"  # the ACFT stage's name in events


class Stamped(TypedDict, total=False):
    time: float  # when it was written out (time.time())


class StepEvent(Stamped):
    type: Literal["step"]
    stage: str
    step: int
    total_steps: int
    epoch: int
    epochs: int
    loss: float  # this step's, before its update
    lr: float
    context: int  # the student's encoder positions
    clips: int  # seen so far
    audio_seconds: float  # seen so far
    clips_per_second: float
    eta_seconds: float


class EvalEvent(Stamped):  # stage 1, each epoch, on the clips it holds out
    type: Literal["eval"]
    stage: str
    epoch: int
    loss: float
    wer: float
    best: bool  # the best epoch yet


class LogEvent(Stamped):
    type: Literal["log"]
    message: str


class CheckpointEvent(Stamped):
    type: Literal["checkpoint"]
    stage: str
    path: str
    step: int
    phases: dict[str, float]  # seconds in checkpoints, waiting for data and scoring so far (acft/phases.py)


class HeldOutEvent(Stamped):  # the clips set aside for `wacft verify` (acft/held_out.py)
    type: Literal["held_out"]
    of: int
    clips: list[dict[str, Any]]


class _DoneEvent(Stamped):
    type: Literal["done"]
    stage: str
    out: str
    final_loss: float | None


class DoneEvent(_DoneEvent, total=False):
    contexts: list[int] | None  # [lowest, highest] student context; None: no stage distilled
    best: dict[str, Any] | None  # stage 1's kept epoch
    artifacts: dict[str, str]  # from a Modal job: type -> path on its volume
    phases: dict[str, float]  # as in CheckpointEvent, for the whole run


class ErrorEvent(Stamped):
    type: Literal["error"]
    stage: str
    message: str  # one sentence


class RetryingEvent(Stamped):  # a Modal job in a container started again
    type: Literal["retrying"]
    attempt: int  # the container's start: 2, 3, ...
    resume_step: int
    message: str


Event = StepEvent | EvalEvent | LogEvent | CheckpointEvent | HeldOutEvent | DoneEvent | ErrorEvent | RetryingEvent


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class CallbackSink:
    def __init__(self, callback: Callable[[Event], None]):
        self.callback = callback

    def emit(self, event: Event) -> None:
        self.callback(event)


class JsonLinesSink:
    """Events as JSON lines on a stream (stdout for `python -m wacft.acft`), each stamped with its time."""

    def __init__(self, stream: TextIO = sys.stdout):
        self.stream = stream

    def emit(self, event: Event) -> None:
        self.stream.write(json.dumps({"time": time.time(), **event}) + "\n")
        self.stream.flush()


class FanOut:
    def __init__(self, *sinks: EventSink):
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


def log(sink: EventSink, message: str) -> None:
    sink.emit({"type": "log", "message": message})


class BufferedPublisher:
    """Events handed to a slow or failing channel without the trainer waiting: `emit` only appends to a list,
    a background thread sends what has gathered every `interval` seconds as one batch (at most `batch_size`
    events), and a batch the channel refused is sent again on the next round. `flush` sends everything now
    (the run's final events). Each event is stamped with its time, as JsonLinesSink does."""

    def __init__(self, send: Callable[[list[Event]], None], interval: float = 1.0, batch_size: int = 500):
        self.send, self.interval, self.batch_size = send, interval, batch_size
        self.pending: list[Event] = []
        self.lock = threading.Lock()  # guards `pending`; `sending` keeps batches in order
        self.sending = threading.Lock()
        self.stopped = threading.Event()
        self.failure: BaseException | None = None  # the channel's latest error, for the run's log
        self.thread = threading.Thread(target=self._loop, name="event-publisher", daemon=True)
        self.thread.start()

    def emit(self, event: Event) -> None:
        if "time" not in event:
            event = event.copy()  # (the caller's own is left as it was)
            event["time"] = time.time()
        with self.lock:
            self.pending.append(event)

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            self._send_pending()

    def _send_pending(self) -> bool:
        """Send what is pending, batch by batch; False when the channel failed (the rest stays pending)."""
        with self.sending:
            while True:
                with self.lock:
                    batch = self.pending[: self.batch_size]
                if not batch:
                    return True
                try:
                    self.send(batch)
                except Exception as e:  # a channel hiccup must not stop training; the batch is kept
                    self.failure = e
                    return False
                with self.lock:
                    del self.pending[: len(batch)]

    def flush(self, timeout: float = 60.0) -> bool:
        """Send everything pending, retrying a failing channel until `timeout`; True when all went out."""
        deadline = time.monotonic() + timeout
        while not self._send_pending():
            if time.monotonic() > deadline:
                return False
            time.sleep(min(self.interval, 1.0))
        return True

    def close(self, timeout: float = 60.0) -> bool:
        self.stopped.set()
        self.thread.join()
        return self.flush(timeout)
