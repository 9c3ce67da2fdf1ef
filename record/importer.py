"""Recordings people already have, into a recording folder: a folder of clips with a text file each, or one
long recording with its text, cut at its pauses. A transcript is never guessed: a clip without its text is
left out, and a piece of a long recording is kept only when the cuts around it are clear."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wacft.audio import FRAME, frame_levels, load_audio, speech_threshold
from wacft.errors import WacftError
from wacft.facts import SAMPLE_RATE
from wacft.record.capture import MAX_SECONDS, trimmed
from wacft.record.folder import RecordingFolder

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
MIN_PAUSE = 0.25  # seconds of quiet that can separate two sentences
CLEAR_MARGIN = 2.0  # a cut is clear when its pause is this many times the longest pause not cut at
RATE_SPREAD = 2.0  # ... and its pieces are spoken within this factor of the recording's usual pace


@dataclass
class Imported:
    kept: list[str] = field(default_factory=list)  # one line per clip kept
    left_out: list[str] = field(default_factory=list)  # one line per clip left out, saying why

    def text(self) -> str:
        lines = [f"kept {len(self.kept)}, left out {len(self.left_out)}"]
        return "\n".join(lines + [f"  ✓ {k}" for k in self.kept] + [f"  ✗ {x}" for x in self.left_out])


def import_clips(source: str | Path, folder: RecordingFolder) -> Imported:
    """Each audio file with a text file of the same name beside it (clip7.wav + clip7.txt)."""
    source = Path(source).expanduser()
    if not source.is_dir():
        raise WacftError(f"There is no folder {source}; give the folder holding your recordings.")
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise WacftError(f"{source} holds no wav, flac, ogg or mp3 files.")
    done = {r.text for r in folder.rows}
    result = Imported()
    for audio_file in files:
        transcript = audio_file.with_suffix(".txt")
        if not transcript.is_file():
            result.left_out.append(f"{audio_file.name}: no {transcript.name} beside it (its words are never guessed)")
            continue
        try:
            text = " ".join(transcript.read_text(encoding="utf-8").split())
        except (OSError, UnicodeDecodeError) as e:  # one bad file: said, and the others still imported
            why = "is not UTF-8 text; save it as UTF-8" if isinstance(e, UnicodeDecodeError) else \
                f"cannot be read ({e.strerror})"
            result.left_out.append(f"{audio_file.name}: {transcript.name} {why}")
            continue
        if not text:
            result.left_out.append(f"{audio_file.name}: {transcript.name} is empty")
            continue
        if text in done:
            result.left_out.append(f"{audio_file.name}: already in the folder")
            continue
        try:
            audio = load_audio(audio_file)
        except WacftError as e:
            result.left_out.append(f"{audio_file.name}: {e}")
            continue
        if len(audio) > MAX_SECONDS * SAMPLE_RATE:
            result.left_out.append(f"{audio_file.name}: over {MAX_SECONDS:g} s; import it as a long recording")
            continue
        result.kept.append(f"{folder.keep(audio, text)} ← {audio_file.name}: {text}")
    return result


def text_sentences(text: str) -> list[str]:
    """The sentences of a transcript, as spoken one after another."""
    return [" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text) if s.strip()]


def pauses(audio: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) in samples of each quiet stretch of at least MIN_PAUSE between speech."""
    levels = frame_levels(audio)
    loud = levels > speech_threshold(levels)
    runs, start = [], None
    for i, is_loud in enumerate(loud):
        if not is_loud and start is None:
            start = i
        elif is_loud and start is not None:
            if start > 0 and (i - start) * FRAME >= MIN_PAUSE * SAMPLE_RATE:  # between speech, not before it
                runs.append((start * FRAME, i * FRAME))
            start = None
    return runs


def import_long(audio_path: str | Path, text: str, folder: RecordingFolder) -> Imported:
    """One recording read from `text`: cut at the longest pauses, one sentence a piece, in order."""
    sentences = text_sentences(text)
    if not sentences:
        raise WacftError("The transcript is empty; give the text that was read in the recording.")
    audio = load_audio(audio_path)
    found = pauses(audio)
    if len(found) < len(sentences) - 1:
        raise WacftError(f"The recording has {len(found)} clear pauses for {len(sentences)} sentences; pause"
                         " briefly between sentences, or split the text where the speaker paused.")
    by_length = sorted(found, key=lambda p: p[1] - p[0], reverse=True)
    cuts = sorted(by_length[: len(sentences) - 1])
    longest_other = max((e - s for s, e in by_length[len(sentences) - 1:]), default=0)
    margins = [(e - s) / max(longest_other, FRAME) for s, e in cuts]
    bounds = [0, *((s + e) // 2 for s, e in cuts), len(audio)]
    pieces = [audio[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    pace = [len(p) / len(s) for p, s in zip(pieces, sentences, strict=True)]  # samples a character
    usual = float(np.median(pace))
    result = Imported()
    for i, (piece, sentence) in enumerate(zip(pieces, sentences, strict=True)):
        around = [m for m in (margins[i - 1] if i else None, margins[i] if i < len(cuts) else None) if m is not None]
        clarity = min(around, default=float("inf"))
        odd_pace = not 1 / RATE_SPREAD <= pace[i] / usual <= RATE_SPREAD
        label = f"{len(piece) / SAMPLE_RATE:.1f} s, cut clarity {clarity:.1f}x: {sentence}"
        if clarity < CLEAR_MARGIN or odd_pace:
            why = "its pace does not fit its text" if odd_pace else "a pause inside a sentence is nearly as long"
            result.left_out.append(f"{label} (cut uncertain: {why})")
        elif len(piece) > MAX_SECONDS * SAMPLE_RATE:
            result.left_out.append(f"{label} (over {MAX_SECONDS:g} s)")
        else:
            result.kept.append(f"{folder.keep(trimmed(piece)[0], sentence)}: {label}")
    return result
