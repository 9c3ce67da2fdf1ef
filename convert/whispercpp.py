"""Running a .bin in whisper.cpp itself (the pywhispercpp wheel), the way FUTO Keyboard runs it.

whisper.cpp runs in a child process: it aborts the whole process on some inputs (a corrupt tensor, an f32
file on CPU), and a bad model must not take the caller down with it. The header is validated first.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wacft.audio import SAMPLE_RATE
from wacft.convert.ggml import read_ggml
from wacft.errors import WacftError
from wacft.extras import require_extra

FULL_CONTEXT = 1500
SAMPLES_PER_POSITION = 320  # one encoder position is 20 ms of audio
POSITIONS_PER_SECOND = SAMPLE_RATE // SAMPLES_PER_POSITION
# FUTO Keyboard's decoding (native/jni/org_futo_voiceinput_WhisperGGML.cpp): greedy without fallback, blank
# first tokens allowed, timestamps only from 25 s on, and a last segment of just " you" (Whisper's favourite
# hallucination) dropped
FUTO_TIMESTAMPS_FROM = 25 * SAMPLE_RATE
FUTO_DROPPED_SEGMENT = " you"


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
    max_tokens: int | None = None  # this clip's own cap, instead of the call's


@dataclass(frozen=True)
class Transcript:
    text: str
    seconds: float  # whisper_full wall time: encoder and decoder
    encoder_seconds: float = 0.0  # of which the encoder, as whisper.cpp timed it


def transcribe(
    model: str | os.PathLike,
    clips: Sequence[Clip],
    *,
    language: str = "en",
    threads: int | None = None,
    max_tokens: int = 0,
    futo: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[Transcript]:
    """Transcribe each clip with one greedy pass (no temperature fallback: deterministic, and a looping model
    shows its loop instead of being re-decoded for minutes), loading the model once; `max_tokens` > 0 caps
    each segment; `futo` runs as FUTO Keyboard does (its decoding settings, no flash attention: the only way
    clips at a cut audio_ctx stay independent); `progress(done, total)` follows the clips."""
    read_ggml(model)  # a clear sentence for a bad file, before the native library sees it
    require_extra("verify")  # the child imports pywhispercpp: refuse here, in a sentence
    request = {
        "model": os.fspath(model),
        "language": language,
        "threads": threads or min(4, os.cpu_count() or 1),
        "futo": futo,
        "clips": [
            {"audio": os.fspath(c.audio), "audio_ctx": c.audio_ctx,
             "max_tokens": max_tokens if c.max_tokens is None else c.max_tokens}
            for c in clips
        ],
    }
    with tempfile.TemporaryFile("w+") as stdin, tempfile.TemporaryFile("w+") as stderr:
        json.dump(request, stdin)
        stdin.seek(0)
        proc = subprocess.Popen(
            [sys.executable, "-m", "wacft.convert.whispercpp"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "GGML_NO_BACKTRACE": "1"},  # else ggml runs gdb on an abort
        )
        results = []
        for line in proc.stdout:
            results.append(Transcript(**json.loads(line)))
            if progress:
                progress(len(results), len(clips))
        if proc.wait() != 0:
            stderr.seek(0)
            raise WacftError(f"whisper.cpp stopped on {model} ({_reason(stderr.read())}); the file cannot be used.")
    return results


def _reason(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if "error" in line.lower() or "ASSERT" in line]
    return (errors or lines or ["no message"])[-1].strip()


def _encoder_seconds(ctx) -> float:
    """whisper.cpp times its stages but only prints them (to stderr): read the encoder's time back."""
    import _pywhispercpp

    sys.stderr.flush()
    with tempfile.TemporaryFile("w+") as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            _pywhispercpp.whisper_print_timings(ctx)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        found = re.search(r"encode time =\s*([\d.]+) ms", log.read())
    return float(found[1]) / 1000 if found else 0.0


def _serve(request: dict) -> None:
    """The child's side: load once, transcribe every clip, one JSON line each."""
    import time

    import _pywhispercpp
    from pywhispercpp.model import Model

    from wacft.audio import load_audio

    model = Model(
        request["model"],
        print_progress=False,
        print_realtime=False,
        n_threads=request["threads"],
        language=request["language"],
        temperature_inc=0.0,
        # FUTO's build has no flash attention, and whisper.cpp's flash-attention path pads the cross-attention
        # to 256 positions, reading stale entries there when audio_ctx is cut: the previous clip's words leak
        # into the next transcript
        context_params={"flash_attn": not request["futo"]},
    )
    for clip in request["clips"]:
        audio = load_audio(clip["audio"])
        options = {"audio_ctx": clip["audio_ctx"], "max_tokens": clip["max_tokens"]}
        if request["futo"]:
            options |= {"suppress_blank": False, "no_timestamps": len(audio) < FUTO_TIMESTAMPS_FROM}
        _pywhispercpp.whisper_reset_timings(model._ctx)  # pywhispercpp wraps printing the timings, not this
        start = time.perf_counter()
        segments = model.transcribe(audio, **options)
        seconds = time.perf_counter() - start
        if request["futo"] and segments and segments[-1].text == FUTO_DROPPED_SEGMENT:
            segments.pop()
        text = "".join(s.text for s in segments).strip()
        print(json.dumps({"text": text, "seconds": seconds, "encoder_seconds": _encoder_seconds(model._ctx)}),
              flush=True)


if __name__ == "__main__":
    try:
        _serve(json.load(sys.stdin))
    except WacftError as e:
        sys.exit(str(e))
