"""Whether a take will do: too quiet, clipped, or silent (its levels and where its speech is: wacft.audio)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wacft.audio import db, speech_bounds

QUIET_PEAK_DB = -30.0  # speech peaking below this is too quiet to train on
FULL_SCALE = 0.999  # a sample this close to full scale was clipped by the input
CLIPPED_SAMPLES = 3  # a few touches of full scale are clipping, one may be a click


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
