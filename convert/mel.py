"""Whisper's mel filterbank, computed here rather than taken from a clone of openai/whisper.

openai/whisper's `mel_filters.npz` holds librosa's `filters.mel(sr=16000, n_fft=400, n_mels=80|128)`:
Slaney's mel scale (linear below 1 kHz, logarithmic above) with Slaney area normalisation. This follows
the same arithmetic, including where it rounds to float32, so the values match to the last bit.
"""

from __future__ import annotations

import numpy as np

from wacft.facts import SAMPLE_RATE

N_FFT = 400

# Slaney's mel scale
F_SP = 200.0 / 3  # Hz per mel in the linear part
MIN_LOG_HZ = 1000.0
MIN_LOG_MEL = MIN_LOG_HZ / F_SP
LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: float | np.ndarray) -> np.ndarray:
    hz = np.asanyarray(hz, dtype=np.float64)
    linear = hz / F_SP
    log = MIN_LOG_MEL + np.log(np.maximum(hz, MIN_LOG_HZ) / MIN_LOG_HZ) / LOG_STEP
    return np.where(hz >= MIN_LOG_HZ, log, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asanyarray(mel, dtype=np.float64)
    linear = F_SP * mel
    log = MIN_LOG_HZ * np.exp(LOG_STEP * (np.maximum(mel, MIN_LOG_MEL) - MIN_LOG_MEL))
    return np.where(mel >= MIN_LOG_MEL, log, linear)


def mel_filters(n_mels: int, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """Triangular filters, shape (n_mels, 1 + n_fft // 2), float32."""
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_points = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), n_mels + 2))
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    # librosa stores each triangle in float32, then scales it in float64 and rounds again
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    area_norm = 2.0 / (mel_points[2:] - mel_points[:-2])
    filters: np.ndarray = (weights * area_norm[:, None]).astype(np.float32)
    return filters
