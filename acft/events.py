"""One stream of training events for every consumer: the CLI's progress bar, the TUI, a Modal queue.

An event is a small JSON-ready dict with a `type`; all but `log` name the `stage` too:
- `step`: step, total_steps, epoch, epochs, loss (this step's, before its update), lr, context (the
  student's encoder positions), clips and audio_seconds (seen so far), clips_per_second, eta_seconds
- `eval` (stage 1, each epoch): epoch, loss and wer on the held-out clips, best (this epoch is the best yet)
- `log`: message; `checkpoint`: path, step; `done`: out, final_loss, contexts ([lowest, highest] student
  context), best (stage 1's kept epoch); `error`: message (one sentence)
A stage is `finetune` or `joint` (stage 1, when the run has one), then `acft`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

STAGE = "acft"  # the ACFT stage's name in events


class EventSink(Protocol):
    def emit(self, event: dict) -> None: ...


class CallbackSink:
    def __init__(self, callback: Callable[[dict], None]):
        self.callback = callback

    def emit(self, event: dict) -> None:
        self.callback(event)


class JsonLinesSink:
    """Events as JSON lines on a stream (stdout for `python -m wacft.acft`), each stamped with its time."""

    def __init__(self, stream: TextIO = sys.stdout):
        self.stream = stream

    def emit(self, event: dict) -> None:
        self.stream.write(json.dumps({"time": time.time(), **event}) + "\n")
        self.stream.flush()


class FanOut:
    def __init__(self, *sinks: EventSink):
        self.sinks = sinks

    def emit(self, event: dict) -> None:
        for sink in self.sinks:
            sink.emit(event)


def log(sink: EventSink, message: str) -> None:
    sink.emit({"type": "log", "message": message})
