"""A training run's steady state, from its events: the span from the checkpoint that ends its first epoch (start-up,
first-met kernels and, in the default mode, the reference's one pass over every clip lie before it) to the
checkpoint that ends its last. Checkpoints inside that span count, once per epoch as in a real run.

FLOPs are the estimate's compute model (acft/estimate.py step_work), counted per step event: the student's
forward and backward as 3 forward passes (TRAIN_PASSES) of the encoder at the step's context and of the decoder
over each clip's tokens (taken as 4 a second of recorded audio plus the prefix; no vocabulary projection, which
ACFT skips), plus the frozen reference's forward pass at 1500 positions wherever it runs (every step of the
published loop; the default caches it after the first epoch). Attention is counted quadratic in length; padding is
not counted: it is waste, not work."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from wacft.acft.estimate import Dims, step_work
from wacft.acft.phases import PHASES


@dataclass
class Steady:
    seconds: float  # wall time of the span
    cpu_seconds: float  # this process's CPU time in it: steadier than the wall clock on a shared machine
    clips: int
    audio_seconds: float  # recorded audio trained on (the phone's silence added to it not counted)
    flops: float
    phases: dict[str, float]  # seconds of the span in each of acft/phases.py's phases

    def share(self, phase: str) -> float:
        return self.phases[phase] / self.seconds


class Timeline:
    """Every event of a run with when it arrived (time.perf_counter()) and the process's CPU time then: a
    CallbackSink's callback."""

    def __init__(self) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.cpu: list[float] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append((time.perf_counter(), event))
        self.cpu.append(time.process_time())

    def steady(self, dims: Dims, config: dict[str, Any]) -> Steady:
        steps = [e for _, e in self.events if e["type"] == "step"]
        first_end = max(e["step"] for e in steps if e["epoch"] == 1)
        if first_end == steps[-1]["step"]:
            raise ValueError("a steady state needs a second epoch: give --epochs 2 or more")
        saved = {e["step"]: (t, c, e) for (t, e), c in zip(self.events, self.cpu, strict=True)
                 if e["type"] == "checkpoint"}
        (t0, c0, start), (t1, c1, end) = saved[first_end], saved[steps[-1]["step"]]
        window = [e for e in steps if e["step"] > first_end]
        before = steps[first_end - 1]
        flops = sum(step_work(dims, e, p, config) for p, e in zip([before, *window], window, strict=False))
        return Steady(t1 - t0, c1 - c0, window[-1]["clips"] - before["clips"],
                      window[-1]["audio_seconds"] - before["audio_seconds"], flops,
                      {k: end["phases"][k] - start["phases"][k] for k in PHASES})
