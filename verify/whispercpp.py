"""Running a .bin in whisper.cpp itself (a pywhispercpp wheel), the way FUTO Keyboard runs it.

whisper.cpp runs in a child process (whispercpp_child.py): it aborts the whole process on some inputs (a corrupt
tensor, an f32 file on CPU), and a bad model must not take the caller down with it; and the phone's generation
of whisper.cpp lives in an environment of its own (phone_engine.py). The header is validated first.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from wacft.audio import load_audio
from wacft.convert.ggml import read_ggml
from wacft.errors import WacftError
from wacft.extras import require_extra
from wacft.facts import (
    FULL_CONTEXT,
    FUTO_CONTEXT_MARGIN,
    FUTO_MIN_CONTEXT,
    POSITIONS_PER_SECOND,
    SAMPLE_RATE,
    SAMPLES_PER_POSITION,
)

FUTO_BEAM_SIZE = 5  # DecodingMode.BeamSearch5, greedy.best_of the same
FUTO_MAX_TOKENS = 256
FUTO_TIMESTAMPS_FROM = 25 * SAMPLE_RATE  # FUTO asks for timestamps only from 25 s of audio on
CHILD = Path(__file__).with_name("whispercpp_child.py")


def futo_audio_ctx(n_samples: int) -> int:
    """The audio context FUTO Keyboard gives whisper.cpp for a clip."""
    return min(max(math.ceil(n_samples / SAMPLES_PER_POSITION) + FUTO_CONTEXT_MARGIN, FUTO_MIN_CONTEXT), FULL_CONTEXT)


def dynamic_audio_ctx(n_samples: int) -> int:
    """The published ACFT evaluation's dynamic context."""
    return min(FULL_CONTEXT, round(POSITIONS_PER_SECOND * n_samples / SAMPLE_RATE) + 8)


def glossary_prompt(terms: Sequence[str]) -> str:
    """The initial prompt FUTO Keyboard builds from the personal dictionary (MultiModelRunner.kt)."""
    return f"(Glossary: {', '.join(terms)})" if terms else ""


def parse_glossary(text: str) -> tuple[str, ...]:
    """Terms from `a, b` (the command line) or one a line (a file, as the personal dictionary holds them)."""
    return tuple(t.strip() for t in text.replace("\n", ",").split(",") if t.strip())


def read_glossary(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Terms from a file, one a line."""
    try:
        return parse_glossary(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise WacftError(f"The glossary file {path} cannot be read ({e.strerror}).") from e
    except UnicodeDecodeError as e:
        raise WacftError(f"The glossary file {path} is not UTF-8 text; save it as UTF-8.") from e


@dataclass(frozen=True)
class Decoding:
    """FUTO Keyboard's decoding (native/jni/org_futo_voiceinput_WhisperGGML.cpp): beam search with 5 beams,
    no temperature fallback, blank first tokens allowed, non-speech tokens suppressed, timestamps only from
    25 s on, a last segment of just " you" dropped, and the glossary as the initial prompt. beam_size 1 is
    its greedy mode (faster, not what the phone runs)."""

    beam_size: int = FUTO_BEAM_SIZE
    glossary: tuple[str, ...] = field(default=())

    @property
    def prompt(self) -> str:
        return glossary_prompt(self.glossary)


FUTO = Decoding()


# which whisper.cpp decodes: the phone's generation (phone_engine.py) or wacft's own
EngineName = Literal["phone", "current"]


@dataclass(frozen=True)
class Engine:
    """A Python interpreter whose pywhispercpp runs the child."""

    name: EngineName
    python: str
    label: str  # for people: which whisper.cpp it is


def current_engine() -> Engine:
    from importlib.metadata import version

    require_extra("verify")  # its child imports pywhispercpp: refused here, in a sentence

    return Engine("current", sys.executable, f"whisper.cpp of pywhispercpp {version('pywhispercpp')}")


@dataclass(frozen=True)
class Clip:
    audio: Path
    audio_ctx: int = 0  # 0: whisper.cpp's full 1500
    max_tokens: int | None = None  # this clip's own cap, instead of the call's


@dataclass(frozen=True)
class Transcript:
    text: str
    seconds: float  # whisper_full wall time: encoder and decoder
    encoder_seconds: float = 0.0  # of which the encoder, as whisper.cpp timed it
    language: str = ""  # the language it was decoded in


def transcribe(
    model: str | os.PathLike[str],
    clips: Sequence[Clip],
    *,
    language: str = "en",
    languages: Sequence[str] = (),
    threads: int | None = None,
    max_tokens: int = 0,
    decoding: Decoding | None = None,
    engine: Engine | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Transcript]:
    """Transcribe each clip, loading the model once, with no temperature fallback (deterministic, and a looping
    model shows its loop instead of being re-decoded for minutes); `max_tokens` > 0 caps each segment.
    `decoding` runs as FUTO Keyboard does (and without flash attention, which the phone's build lacks: the only
    way clips at a cut audio_ctx stay independent), None is one plain greedy pass. `engine`: the current
    whisper.cpp by default. `progress(done, total)` follows the clips. `language` is forced, as FUTO Keyboard does
    with one language enabled; several `languages` are chosen among clip by clip, as it does with several."""
    read_ggml(model)  # a clear sentence for a bad file, before the native library sees it
    engine = engine or current_engine()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as stdin, \
            tempfile.TemporaryFile("w+") as stderr:
        arrays: dict[Path, str] = {}
        request = {
            "model": os.fspath(model),
            "language": languages[0] if len(languages) == 1 else language,
            "languages": list(languages) if len(languages) > 1 else [],
            "threads": threads or min(4, os.cpu_count() or 1),
            "flash_attn": decoding is None,
            "decoding": None if decoding is None else {"beam_size": decoding.beam_size, "prompt": decoding.prompt,
                                                     "timestamps_from": FUTO_TIMESTAMPS_FROM},
            "clips": [
                {"audio": _as_npy(c.audio, Path(tmp), arrays), "audio_ctx": c.audio_ctx,
                 "max_tokens": _cap(max_tokens if c.max_tokens is None else c.max_tokens, decoding)}
                for c in clips
            ],
        }
        json.dump(request, stdin)
        stdin.seek(0)
        proc, results = None, []
        try:
            with _stops_held():
                proc = subprocess.Popen(
                    [engine.python, "-I", os.fspath(CHILD)],
                    stdin=stdin,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    env={**os.environ, "GGML_NO_BACKTRACE": "1"},  # else ggml runs gdb on an abort
                )
            assert proc.stdout is not None  # a pipe
            for line in proc.stdout:
                results.append(Transcript(**json.loads(line)))
                if progress:
                    progress(len(results), len(clips))
        except BaseException:  # stopped (Ctrl+C, SIGTERM): no whisper.cpp left running
            if proc is not None:
                proc.kill()
                proc.wait()
            raise
        if proc.wait() != 0:
            stderr.seek(0)
            raise WacftError(f"whisper.cpp stopped on {model} ({_reason(stderr.read())}); the file cannot be used.")
    return results


STOPS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _stops_held() -> Iterator[None]:
    """Ctrl+C and SIGTERM held back while whisper.cpp starts, then acted on: landing inside Popen, their handler
    would lose the child's pid and leave it running. Blocking them holds this thread's only, and with another thread
    running (tqdm's monitor) the signal reaches that one while Python still runs its handler here; so in the main
    thread, where handlers run, they are also only noted until the child is known. The child inherits the mask and
    lifts it first thing (whispercpp_child.py)."""
    noted: list[int] = []
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS) if hasattr(signal, "pthread_sigmask") else None
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {s: signal.signal(s, lambda signum, frame: noted.append(signum)) for s in STOPS}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for number in noted:
            signal.raise_signal(number)


def _cap(max_tokens: int, decoding: Decoding | None) -> int:
    """FUTO Keyboard never decodes past 256 tokens a segment; a tighter cap of the caller's still holds."""
    return max_tokens if decoding is None else min(max_tokens or FUTO_MAX_TOKENS, FUTO_MAX_TOKENS)


def _as_npy(audio: str | os.PathLike[str], folder: Path, arrays: dict[Path, str]) -> str:
    """The child reads float32 arrays: it has numpy but not wacft's audio decoders. An .npy is one already; any
    other file is decoded once, however many contexts it is decoded at (`arrays`: those done)."""
    audio = Path(audio)
    if audio.suffix == ".npy":
        return os.fspath(audio)
    if audio not in arrays:
        arrays[audio] = os.fspath(folder / f"{len(arrays)}.npy")
        np.save(arrays[audio], load_audio(audio))
    return arrays[audio]


def _reason(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if "error" in line.lower() or "ASSERT" in line]
    return (errors or lines or ["no message"])[-1].strip()
