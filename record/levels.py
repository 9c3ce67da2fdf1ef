"""What a take sounds like, in numbers: its level, whether it is too quiet or clipped, and where the speech
in it starts and ends (energy against the take's own noise floor, in 30 ms frames)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from wacft.facts import SAMPLE_RATE

FRAME = SAMPLE_RATE * 30 // 1000
SILENCE_DB = -50.0  # never speech below this, however quiet the room
ABOVE_FLOOR_DB = 15.0  # speech is at least this much louder than the take's quietest frames
QUIET_PEAK_DB = -30.0  # speech peaking below this is too quiet to train on
FULL_SCALE = 0.999  # a sample this close to full scale was clipped by the input
CLIPPED_SAMPLES = 3  # a few touches of full scale are clipping, one may be a click
PAD = 0.2  # seconds of silence kept on each side of the speech


@overload
def db(value: np.ndarray) -> np.ndarray: ...
@overload
def db(value: float | np.floating[Any]) -> float: ...
def db(value: float | np.floating[Any] | np.ndarray) -> float | np.ndarray:
    return 20 * np.log10(np.maximum(value, 1e-10))


def level_db(block: np.ndarray) -> float:
    """RMS level of a block in dBFS (what the meter shows)."""
    return float(db(np.sqrt(np.mean(np.square(block, dtype=np.float64))))) if len(block) else float(db(0))


def frame_levels(audio: np.ndarray) -> np.ndarray:
    frames = audio[: len(audio) // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    return db(np.sqrt(np.mean(np.square(frames), axis=1)))


def speech_threshold(levels: np.ndarray) -> float:
    floor = float(np.percentile(levels, 10)) if len(levels) else SILENCE_DB
    return max(SILENCE_DB, floor + ABOVE_FLOOR_DB)


def speech_bounds(audio: np.ndarray, pad: float = PAD) -> tuple[int, int] | None:
    """Sample range of the speech with `pad` seconds either side, or None when nothing was said."""
    levels = frame_levels(audio)
    loud = np.flatnonzero(levels > speech_threshold(levels))
    if not len(loud):
        return None
    margin = int(pad * SAMPLE_RATE)
    return max(0, loud[0] * FRAME - margin), min(len(audio), (loud[-1] + 1) * FRAME + margin)


@dataclass
class Verdict:
    peak_db: float
    clipped: bool
    too_quiet: bool
    silent: bool  # no speech at all

    @property
    def problem(self) -> str:
        """One sentence for the person, or "" when the take is fine."""
        if self.silent:
            return "Nothing was heard: check the microphone is the one in use and not muted, then redo."
        if self.clipped:
            return "The take is clipped (too loud): move back from the microphone or lower its gain, then redo."
        if self.too_quiet:
            return (f"The take is too quiet (peak {self.peak_db:.0f} dBFS): move closer or raise the microphone's"
                    " gain, then redo.")
        return ""


def judge(audio: np.ndarray) -> Verdict:
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    silent = speech_bounds(audio) is None
    return Verdict(float(db(peak)), int(np.sum(np.abs(audio) >= FULL_SCALE)) >= CLIPPED_SAMPLES,
                   not silent and db(peak) < QUIET_PEAK_DB, silent)
