"""Running a .bin in whisper.cpp itself (the pywhispercpp wheel), the way FUTO Keyboard runs it.

whisper.cpp runs in a child process: it aborts the whole process on some inputs (a corrupt tensor, an f32
file on CPU), and a bad model must not take the caller down with it. The header is validated first.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wacft.audio import SAMPLE_RATE
from wacft.convert.ggml import read_ggml
from wacft.errors import WacftError

FULL_CONTEXT = 1500
SAMPLES_PER_POSITION = 320  # one encoder position is 20 ms of audio
POSITIONS_PER_SECOND = SAMPLE_RATE // SAMPLES_PER_POSITION


def futo_audio_ctx(n_samples: int) -> int:
    """The audio context FUTO Keyboard gives whisper.cpp for a clip."""
    return min(max(math.ceil(n_samples / SAMPLES_PER_POSITION) + 32, 160), FULL_CONTEXT)


def dynamic_audio_ctx(n_samples: int) -> int:
    """The published ACFT evaluation's dynamic context."""
    return min(FULL_CONTEXT, round(POSITIONS_PER_SECOND * n_samples / SAMPLE_RATE) + 8)


@dataclass(frozen=True)
class Clip:
    audio: Path
    audio_ctx: int = 0  # 0: whisper.cpp's full 1500


@dataclass(frozen=True)
class Transcript:
    text: str
    seconds: float  # whisper_full wall time: encoder and decoder


def transcribe(
    model: str | os.PathLike,
    clips: Sequence[Clip],
    *,
    language: str = "en",
    threads: int | None = None,
    max_tokens: int = 0,
) -> list[Transcript]:
    """Transcribe each clip with greedy decoding, loading the model once; `max_tokens` > 0 caps each segment."""
    read_ggml(model)  # a clear sentence for a bad file, before the native library sees it
    request = {
        "model": os.fspath(model),
        "language": language,
        "threads": threads or min(4, os.cpu_count() or 1),
        "max_tokens": max_tokens,
        "clips": [{"audio": os.fspath(c.audio), "audio_ctx": c.audio_ctx} for c in clips],
    }
    proc = subprocess.run(
        [sys.executable, "-m", "wacft.convert.whispercpp"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env={**os.environ, "GGML_NO_BACKTRACE": "1"},  # else ggml runs gdb on an abort
    )
    if proc.returncode != 0:
        raise WacftError(f"whisper.cpp stopped on {model} ({_reason(proc.stderr)}); the file cannot be used.")
    return [Transcript(**json.loads(line)) for line in proc.stdout.splitlines()]


def _reason(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if "error" in line.lower() or "ASSERT" in line]
    return (errors or lines or ["no message"])[-1].strip()


def _serve(request: dict) -> None:
    """The child's side: load once, transcribe every clip, one JSON line each."""
    import time

    from pywhispercpp.model import Model

    from wacft.audio import load_audio

    model = Model(
        request["model"],
        print_progress=False,
        print_realtime=False,
        n_threads=request["threads"],
        language=request["language"],
        max_tokens=request["max_tokens"],
    )
    for clip in request["clips"]:
        audio = load_audio(clip["audio"])
        start = time.perf_counter()
        segments = model.transcribe(audio, audio_ctx=clip["audio_ctx"])
        seconds = time.perf_counter() - start
        text = "".join(s.text for s in segments).strip()
        print(json.dumps({"text": text, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    try:
        _serve(json.load(sys.stdin))
    except WacftError as e:
        sys.exit(str(e))
