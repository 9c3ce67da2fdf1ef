"""The child process that runs whisper.cpp (see whispercpp.py). It imports only the standard library, numpy and
pywhispercpp's native module, so the same file runs in wacft's environment (the current whisper.cpp) and in the
isolated one that holds the phone's generation (pywhispercpp 1.2.0, whisper.cpp 1.5.4): the bindings of the
two generations differ, and this file speaks both.

Request (JSON on stdin): model, language, languages (several: chosen among clip by clip), threads, flash_attn,
decoding (null: plain greedy; else beam_size, prompt, timestamps_from (samples) and FUTO Keyboard's other settings),
clips (audio: a float32 .npy at 16 kHz, audio_ctx, max_tokens).
Answer: one JSON line per clip on stdout.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import sys
import tempfile
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy as np

FUTO_DROPPED_SEGMENT = " you"  # Whisper's favourite hallucination: FUTO drops it as a last segment
# whisper_full_params begins with 5 ints, then bool translate, no_context, no_timestamps, single_segment
# (whisper.h, unchanged from 1.4 to 1.8); pywhispercpp 1.2.0 binds all but no_timestamps
BOOLS_AT = 20
PYBIND_VALUE_AT = 16  # a pybind11 instance holds its C++ value's address right after the PyObject header
SCANNED_BYTES = 128  # initial_prompt lies well within the struct's first bytes

_kept: list[ctypes.Array[ctypes.c_char]] = []  # the strings whisper.cpp points to, alive as long as the process
_LEGACY = False  # pywhispercpp 1.2.0's bindings
# pywhispercpp's native objects (it has no types): a whisper_context, a whisper_full_params
Context: TypeAlias = Any
Params: TypeAlias = Any
Request = dict[str, Any]  # a request, or one of its clips (JSON)


def _struct(params: Params) -> int:
    address = ctypes.c_void_p.from_address(id(params) + PYBIND_VALUE_AT).value
    assert address, "pywhispercpp's parameters hold no C++ value"
    return address


def _set_no_timestamps(params: Params, value: bool) -> None:
    if hasattr(params, "no_timestamps"):
        params.no_timestamps = value
        return
    flags = (ctypes.c_bool * 4).from_address(_struct(params) + BOOLS_AT)
    for no_context, single_segment in ((True, False), (False, True)):  # the layout checked before the write
        params.no_context, params.single_segment = no_context, single_segment
        if (flags[1], flags[3]) != (no_context, single_segment):
            raise RuntimeError("whisper_full_params is not laid out as expected: no_timestamps cannot be set")
    params.no_context, params.single_segment = True, False
    flags[2] = value


def _set_prompt(params: Params, prompt: str) -> None:
    """pywhispercpp 1.2.0 binds `initial_prompt` (a `const char *`) to a copy that is freed when the setter
    returns: find the field's slot by what two settings change, and point it at a copy that stays alive."""
    words = (ctypes.c_void_p * (SCANNED_BYTES // 8)).from_address(_struct(params))
    params.initial_prompt = "x" * 100
    before = list(words)
    params.initial_prompt = "y" * 1000
    changed = [i for i, (a, b) in enumerate(zip(before, words, strict=True)) if a != b]
    if len(changed) != 1:
        raise RuntimeError("whisper_full_params.initial_prompt cannot be located")
    kept = ctypes.create_string_buffer(prompt.encode())
    _kept.append(kept)
    words[changed[0]] = ctypes.addressof(kept)


def _params(pw: ModuleType, request: Request, clip: Request, n_samples: int) -> Params:
    params = pw.whisper_full_default_params(pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY)
    params.print_progress = params.print_realtime = params.print_timestamps = False
    params.n_threads = request["threads"]
    params.temperature_inc = 0.0  # no fallback: deterministic, and a loop shows instead of being re-decoded
    params.audio_ctx = clip["audio_ctx"]
    params.max_tokens = clip["max_tokens"]
    params.language = request["language"]
    decoding = request["decoding"]
    if decoding is None:
        return params
    # FUTO Keyboard's (native/jni/org_futo_voiceinput_WhisperGGML.cpp, MultiModelRunner.kt)
    params.suppress_blank = False
    setattr(params, "suppress_nst" if hasattr(params, "suppress_nst") else "suppress_non_speech_tokens", True)
    _set_no_timestamps(params, n_samples < decoding["timestamps_from"])
    beams = decoding["beam_size"]
    if beams > 1:
        params.strategy = pw.whisper_sampling_strategy.WHISPER_SAMPLING_BEAM_SEARCH
        params.beam_search = {"beam_size": beams, "patience": -1.0}
    params.greedy = {"best_of": beams}
    if decoding["prompt"] and _LEGACY:
        _set_prompt(params, decoding["prompt"])
    elif decoding["prompt"]:
        params.initial_prompt = decoding["prompt"]
    return params


def _choose_language(pw: ModuleType, ctx: Context, request: Request, clip: Request, audio: np.ndarray,
                     audio_ctx: int) -> str:
    """FUTO Keyboard with several languages enabled (its allowed_langs patch of whisper.cpp): Whisper's language
    detection on the clip at its audio_ctx, and the most likely of the allowed languages. whisper.cpp detects on
    the mel and at the audio_ctx of the last whisper_full (`audio_ctx`): where that is not the clip's, a one-token
    pass over the clip sets both."""
    import numpy as np

    allowed = request["languages"]
    if clip["audio_ctx"] == audio_ctx:
        pw.whisper_pcm_to_mel(ctx, audio, audio.size, request["threads"])
    else:
        params = pw.whisper_full_default_params(pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY)
        params.print_progress = params.print_realtime = params.print_timestamps = False
        params.n_threads, params.audio_ctx, params.max_tokens = request["threads"], clip["audio_ctx"], 1
        params.language, params.temperature_inc = allowed[0], 0.0
        pw.whisper_full(ctx, params, audio, audio.size)
    probs = np.zeros(pw.whisper_lang_max_id() + 1, dtype=np.float32)
    if pw.whisper_lang_auto_detect(ctx, 0, request["threads"], probs) < 0:
        raise RuntimeError("whisper.cpp could not detect the language")
    chosen: str = max(allowed, key=lambda code: probs[pw.whisper_lang_id(code)])
    return chosen


def _load(pw: ModuleType, model: str, flash_attn: bool) -> Context:
    if _LEGACY:  # whisper.cpp 1.5.4 has no flash-attention path
        return pw.whisper_init_from_file(model)
    context = pw.whisper_context_default_params()
    # whisper.cpp's flash-attention path pads the cross-attention to 256 positions and reads stale entries there
    # when audio_ctx is cut: the previous clip's words leak into the next transcript. FUTO's build has none.
    context.flash_attn = flash_attn
    return pw.whisper_init_from_file_with_params(model, context)


def _encoder_seconds(pw: ModuleType, ctx: Context) -> float:
    """whisper.cpp times its stages but only prints them (to stderr): read the encoder's time back."""
    sys.stderr.flush()
    with tempfile.TemporaryFile("w+") as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            pw.whisper_print_timings(ctx)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        found = re.search(r"encode time =\s*([\d.]+) ms", log.read())
    return float(found[1]) / 1000 if found else 0.0


def _segments(pw: ModuleType, ctx: Context) -> list[str]:
    texts = (pw.whisper_full_get_segment_text(ctx, i) for i in range(pw.whisper_full_n_segments(ctx)))
    return [t.decode("utf-8", errors="replace") if isinstance(t, bytes) else t for t in texts]


def serve(request: Request) -> None:
    global _LEGACY
    import _pywhispercpp as pw
    import numpy as np

    _LEGACY = not hasattr(pw, "whisper_init_from_file_with_params")

    ctx = _load(pw, request["model"], request["flash_attn"])
    audio_ctx = 0  # of the last whisper_full: where whisper.cpp detects languages
    for clip in request["clips"]:
        audio = np.load(clip["audio"])
        language = _choose_language(pw, ctx, request, clip, audio, audio_ctx) if request.get("languages") else None
        params = _params(pw, request, clip, len(audio))
        if language:
            params.language = language
        pw.whisper_reset_timings(ctx)
        start = time.perf_counter()
        pw.whisper_full(ctx, params, audio, audio.size)
        seconds = time.perf_counter() - start
        audio_ctx = clip["audio_ctx"]
        segments = _segments(pw, ctx)
        if request["decoding"] is not None and segments and segments[-1] == FUTO_DROPPED_SEGMENT:
            segments.pop()
        text = "".join(segments).strip()
        print(json.dumps({"text": text, "seconds": seconds, "encoder_seconds": _encoder_seconds(pw, ctx),
                          "language": pw.whisper_lang_str(pw.whisper_full_lang_id(ctx))}), flush=True)


if __name__ == "__main__":
    if hasattr(signal, "pthread_sigmask"):  # the parent held these back while starting us (whispercpp.py)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    serve(json.load(sys.stdin))
