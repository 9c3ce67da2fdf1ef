"""Where a run's wall time goes beside the steps themselves: seconds spent writing checkpoints, waiting for the next
batch's audio, and scoring stage 1, on a monotonic clock, summed over this process (a resumed run counts from its
resume). The checkpoint and done events carry the sums, so a bench can take the share of any span between two."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar, cast

PHASES = ("checkpoint", "data", "eval")
T = TypeVar("T")


class Phases:
    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)

    @contextmanager
    def timing(self, phase: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[phase] += time.monotonic() - start

    def waited(self, items: Iterable[T], phase: str) -> Iterator[T]:
        """`items`, counting the time each next() blocks as `phase`."""
        it, end = iter(items), object()
        while True:
            with self.timing(phase):
                item = next(it, end)
            if item is end:
                return
            yield cast(T, item)

    def sums(self) -> dict[str, float]:
        return dict(self.seconds)
