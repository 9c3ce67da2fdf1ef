"""Decoding audio to what Whisper takes: float32 mono at 16 kHz. soundfile (libsndfile) reads wav, flac,
ogg and mp3, and soxr resamples, so no FFmpeg is needed anywhere."""

from __future__ import annotations

import os

import numpy as np

from wacft.errors import WacftError
from wacft.extras import needs_extra
from wacft.facts import SAMPLE_RATE


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
