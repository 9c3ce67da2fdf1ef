"""Decoding audio to what Whisper takes: float32 mono at 16 kHz. soundfile (libsndfile) reads wav, flac,
ogg and mp3, and soxr resamples, so no FFmpeg is needed anywhere. And what audio holds, in numbers: its level,
and where the speech in it starts and ends (energy against its own noise floor, in 30 ms frames)."""

from __future__ import annotations

import os
from typing import Any, overload

import numpy as np

from wacft.errors import WacftError
from wacft.extras import needs_extra
from wacft.facts import SAMPLE_RATE

FRAME = SAMPLE_RATE * 30 // 1000
SILENCE_DB = -50.0  # never speech below this, however quiet the room
ABOVE_FLOOR_DB = 15.0  # speech is at least this much louder than the take's quietest frames
PAD = 0.2  # seconds of silence kept on each side of the speech


def to_whisper_audio(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mix down to mono and resample to 16 kHz."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        with needs_extra("data"):
            import soxr

        samples = soxr.resample(samples, sample_rate, SAMPLE_RATE).astype(np.float32, copy=False)
    return samples


def load_audio(path: str | os.PathLike[str]) -> np.ndarray:
    with needs_extra("data"):
        import soundfile

    try:
        samples, sample_rate = soundfile.read(os.fspath(path), dtype="float32", always_2d=False)
    except (soundfile.LibsndfileError, RuntimeError) as e:
        raise WacftError(f"{path} cannot be decoded as audio ({e}); use wav, flac, ogg or mp3.") from e
    return to_whisper_audio(samples, sample_rate)


def audio_length(seconds: float) -> str:
    """Minutes under an hour ("1.8 min", not "0.03 h"), hours from there."""
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


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
