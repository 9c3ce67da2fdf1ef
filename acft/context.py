"""How much audio context the student's encoder sees, and batches that share one context.

One encoder position is 20 ms, so a clip of L seconds fills round(50 L) positions. The published method
jitters that by up to a third (at most 64 positions) either way, so the model learns to cope with
whisper.cpp giving it a little more or less context than the audio needs. With `phone` (a candidate, off by
default) the jitter is around the context FUTO Keyboard gives whisper.cpp instead: 32 positions past the clip, and
at least 160, so short clips train with the padding past their end that the phone's whisper.cpp sees.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from wacft.facts import FULL_CONTEXT, POSITIONS_PER_SECOND, SAMPLE_RATE
from wacft.verify.whispercpp import futo_audio_ctx

MAX_JITTER = 64


def base_context(seconds: float) -> int:
    return int(round(POSITIONS_PER_SECOND * seconds))


def spread(n: int) -> int:
    """The published jitter is uniform in [-spread, spread)."""
    return min(MAX_JITTER, n // 3)


def clamp(n: int) -> int:
    """The published loop can draw past 1500 for clips near 29 s, which crashes the encoder."""
    return min(max(n, 1), FULL_CONTEXT)


def draw_context(seconds: float, rng: random.Random) -> int:
    """The published rule, clamped: round(50 L) + jitter. Clips under 60 ms have no jitter to draw."""
    n = base_context(seconds)
    s = spread(n)
    return clamp(n + rng.randrange(-s, s) if s else n)


def jitter_band(seconds: float, phone: bool = False) -> tuple[int, int]:
    """Every context draw_context can give a clip, as a half-open range [low, high); `phone`: around the phone's."""
    n = futo_audio_ctx(round(seconds * SAMPLE_RATE)) if phone else base_context(seconds)
    s = spread(n)
    return clamp(n - s), clamp(n + max(s - 1, 0)) + 1


@dataclass(frozen=True)
class Batch:
    indices: tuple[int, ...]  # into the clip list
    context: int


def bucket(
    seconds: Sequence[float], batch_size: int, rng: random.Random, full_context_share: float = 0.0,
    phone: bool = False,
) -> list[Batch]:
    """Group clips of similar length so each batch shares one context inside every member's jitter band.

    Clips are sorted by length and cut into runs whose bands overlap; each run's context is drawn uniformly
    from the overlap. Batch order is shuffled, so an epoch does not sweep from short to long.
    """
    order = sorted(range(len(seconds)), key=lambda i: seconds[i])
    batches: list[Batch] = []
    members: list[int] = []
    low, high = 0, FULL_CONTEXT + 1
    for i in order:
        band_low, band_high = jitter_band(seconds[i], phone)
        if members and (len(members) == batch_size or max(low, band_low) >= min(high, band_high)):
            batches.append(Batch(tuple(members), rng.randrange(low, high)))
            members, low, high = [], 0, FULL_CONTEXT + 1
        members.append(i)
        low, high = max(low, band_low), min(high, band_high)
    if members:
        batches.append(Batch(tuple(members), rng.randrange(low, high)))
    rng.shuffle(batches)
    if full_context_share > 0:
        full = [rng.random() < full_context_share for _ in batches]
        batches = [Batch(b.indices, FULL_CONTEXT) if f else b for b, f in zip(batches, full, strict=True)]
    return batches
