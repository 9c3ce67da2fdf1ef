"""A clip laid out as a dictation might reach the model: cut close to the speech as datasets have it, or with the
phone's lead and tail (0.6 s before the speech, 1.98 s after) as digital silence, as white noise or as recorded
room noise at a level, or with its own silence topped up to the phone's (what training does); or with the lead
alone (a person who stops the phone at once) or the tail alone (speech from the first sample) as zeros. The phone's
silence is not one thing: a model must hold under each of these, not only under the one it was trained on."""

from __future__ import annotations

import random

import numpy as np

from wacft.audio import level_db, speech_bounds
from wacft.facts import FUTO_LEAD_SECONDS, FUTO_TAIL_SECONDS, SAMPLE_RATE

# name -> what fills the lead and tail; a noise's level (dBFS RMS) follows its kind in the name
LAYOUTS = ("cut-close", "zeros", "white-60", "room-60", "room-45", "room-35", "own", "lead-only", "tail-only")
LEAD, TAIL = round(FUTO_LEAD_SECONDS * SAMPLE_RATE), round(FUTO_TAIL_SECONDS * SAMPLE_RATE)
# the silence varied in training (TrainConfig.varied_silence): a person starts talking late, stops the phone early,
# or the app hears the room as speech and listens on; the room hums, hisses or is a studio's digital silence
VARIED_LEAD, VARIED_TAIL = (0.2, 1.2), (0.6, 3.0)  # seconds of silence around the speech, drawn uniformly
VARIED_NOISE_DB = (-75.0, -35.0)  # white noise over the whole clip, its RMS level drawn uniformly in this range
VARIED_ZEROS = 0.25  # share of the clips left in digital silence


def missing_silence(audio: np.ndarray, lead: float = FUTO_LEAD_SECONDS, tail: float = FUTO_TAIL_SECONDS
                    ) -> tuple[float, float]:
    """Seconds of silence a clip lacks before and after its speech to be laid out as FUTO Keyboard records a
    dictation: 0.6 s before the speech and the ~2 s it waits after (or `lead` and `tail`), less what the clip
    already holds (measured from its levels; a clip without speech lacks all of it)."""
    start, end = speech_bounds(audio, pad=0.0) or (0, len(audio))
    return max(0.0, lead - start / SAMPLE_RATE), max(0.0, tail - (len(audio) - end) / SAMPLE_RATE)


def varied_silence(audio: np.ndarray, rng: random.Random) -> tuple[tuple[float, float], tuple[float, int] | None]:
    """The silence a clip lacks for a lead and tail drawn from VARIED_LEAD and VARIED_TAIL, and the white noise
    mixed over it (its level and its draw's seed), or None for digital silence."""
    silence = missing_silence(audio, rng.uniform(*VARIED_LEAD), rng.uniform(*VARIED_TAIL))
    return silence, None if rng.random() < VARIED_ZEROS else (rng.uniform(*VARIED_NOISE_DB), rng.randrange(2**32))


def short_tail(audio: np.ndarray, rng: random.Random) -> tuple[float, float]:
    """The silence a clip lacks for the phone's lead and a tail drawn from none to the phone's: speech that ends the
    audio, as a clip cut close has it (the `lead-only` layout loops where `tail-only` does not). A clip's own tail
    is kept whole: this only tops it up."""
    return missing_silence(audio, tail=rng.uniform(0.0, FUTO_TAIL_SECONDS))


def cut_close(audio: np.ndarray) -> np.ndarray:
    """The speech with the little margin datasets keep (`speech_bounds`); a clip without speech as it is."""
    bounds = speech_bounds(audio)
    return audio[bounds[0]:bounds[1]] if bounds else audio


def at_level(noise: np.ndarray, level: float) -> np.ndarray:
    """`noise` scaled to `level` dBFS RMS."""
    scaled: np.ndarray = noise * np.float32(10 ** ((level - level_db(noise)) / 20))
    return scaled


def noise_of(kind: str, n: int, rng: np.random.Generator, room: np.ndarray | None) -> np.ndarray:
    """`n` samples of white noise, or of the recorded `room` noise from a random start, looped as needed."""
    if kind == "white":
        return rng.standard_normal(n).astype(np.float32)
    if kind == "room" and room is not None and len(room):
        return np.resize(np.roll(room, -int(rng.integers(len(room)))), n)
    raise ValueError(f"no noise {kind!r}" + (" (pass the recorded room noise)" if kind == "room" else ""))


def lay_out(audio: np.ndarray, layout: str, seed: int = 0, room: np.ndarray | None = None) -> np.ndarray:
    """`audio` (16 kHz float32) laid out as `layout` (one of LAYOUTS) says. A noise is mixed under the speech
    too, as a room's is, its draw fixed by `seed`; `room`: the recorded noise the room layouts take."""
    if layout == "own":
        before, after = (round(s * SAMPLE_RATE) for s in missing_silence(audio))
        return np.pad(audio, (before, after))
    speech = cut_close(audio)
    if layout == "cut-close":
        return speech
    if layout in ("lead-only", "tail-only"):  # which half of the phone's silence a clip cut close misses
        return np.pad(speech, (LEAD, 0) if layout == "lead-only" else (0, TAIL))
    laid = np.pad(speech, (LEAD, TAIL))
    if layout == "zeros":
        return laid
    kind, _, level = layout.partition("-")
    if not level.isdigit():
        raise ValueError(f"no layout {layout!r}; the layouts are {', '.join(LAYOUTS)}")
    noise = noise_of(kind, len(laid), np.random.default_rng(seed), room)
    return np.asarray(laid + at_level(noise, -float(level)), dtype=np.float32)
