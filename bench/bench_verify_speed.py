"""How long `wacft verify` takes against the whisper.cpp work it cannot avoid: the whole command (`wacft verify
MODEL.bin --run RUN`, a process of its own, as a person runs it) on 20 clips, the base model's results cached,
beside bare whisper.cpp 1.5.4 decodes of the same clips at the same two contexts (FUTO's and the full one, FUTO
Keyboard's decoding: one process, the model loaded once, nothing but whisper_full), in one run. The base's first,
uncached verify is timed apart. Goal (issue 33): within 1.3x of the bare decodes, under 90 s on 2 cores.

The run is tiny.en's (converted to q5_0), with all 20 clips held out, and the file verified is tiny.en itself: it
loops at FUTO's context where a trained model would not, so this is the slow case.

    .venv/bin/python bench/bench_verify_speed.py [--threads 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixtures.speech import make_speech_dataset
from fixtures.tiny_en import tiny_en_dir
from test_verify_run import SENTENCES, VOICES

from wacft.acft import held_out
from wacft.acft.config import TrainConfig
from wacft.convert.convert import convert, plan_outputs
from wacft.dataset.clips import as_the_phone_records, load_clips
from wacft.verify.check import token_cap
from wacft.verify.phone_engine import phone_engine
from wacft.verify.whispercpp import CHILD, FULL_CONTEXT, FUTO_TIMESTAMPS_FROM, futo_audio_ctx

CLIPS = 20
# whisper_full alone, with the child's own FUTO settings (whispercpp_child._params), in the phone's engine
BARE = """
import json, sys, time
sys.path.insert(0, {child_dir!r})
import whispercpp_child as child
import _pywhispercpp as pw
import numpy as np
child._LEGACY = not hasattr(pw, "whisper_init_from_file_with_params")
request = json.load(open({request!r}))
ctx = child._load(pw, request["model"], False)
for clip in request["clips"]:
    audio = np.load(clip["audio"])
    pw.whisper_full(ctx, child._params(pw, request, clip, len(audio)), audio, audio.size)
"""


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2, help="whisper.cpp threads")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each cached timing (the fastest kept)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-verify-speed-"))
    dataset = make_speech_dataset(tmp / "clips", SENTENCES[: CLIPS // len(VOICES)], voices=VOICES)
    run = tmp / "run"
    run.mkdir()
    config = TrainConfig(model=str(tiny_en_dir()), dataset=str(dataset), out=str(run))
    (run / "training_config.json").write_text(config.to_json())
    clips = load_clips(config.dataset_spec).clips
    held_out.write(run, {"of": len(clips), "clips": [{"index": i, "file": c.source.name, "text": c.text}
                                                     for i, c in enumerate(clips)]})
    [model] = convert(config.model, plan_outputs(run / "tiny_en_q5_0.bin", ["q5_0"]))
    engine = phone_engine()
    env = {**os.environ, "WACFT_HOME": str(tmp / "home")}
    verify = [sys.executable, "-m", "wacft.cli", "verify", str(model.path), "--run", str(run), "--threads",
              str(args.threads), "--json", str(tmp / "report.json")]
    uncached = timed(verify, env)
    cached = min(timed(verify, env) for _ in range(args.repeats))
    report = json.loads((tmp / "report.json").read_text())

    samples = as_the_phone_records(clips, 1.0, 0, config.max_audio_length)
    request_clips = []
    for context in ("futo", "full"):
        for i, sample in enumerate(samples):
            audio = sample.audio
            path = tmp / f"{i}.npy"
            np.save(path, audio)
            n = len(audio)
            request_clips.append({"audio": str(path), "audio_ctx": futo_audio_ctx(n) if context == "futo" else
                                  FULL_CONTEXT, "max_tokens": token_cap(n)})
    request = {"model": str(model.path), "language": "en", "threads": args.threads, "flash_attn": False,
               "decoding": {"beam_size": 5, "prompt": "", "timestamps_from": FUTO_TIMESTAMPS_FROM},
               "clips": request_clips}
    (tmp / "request.json").write_text(json.dumps(request))
    script = BARE.format(child_dir=str(CHILD.parent), request=str(tmp / "request.json"))
    bare = min(timed([engine.python, "-I", "-c", script], env) for _ in range(args.repeats))

    print(f"{len(samples)} clips ({sum(s.seconds for s in samples):.0f} s of audio), FUTO's context and the full one,"
          f" beam 5, {args.threads} threads, {os.cpu_count()} cores; verdict: {report['state']}")
    print(f"bare whisper.cpp 1.5.4 decodes (one process, model loaded once): {bare:6.1f} s")
    print(f"wacft verify --run, base cached:                                  {cached:6.1f} s"
          f"  ({cached / bare:.2f}x the bare decodes; goal 1.3x, under 90 s)")
    print(f"wacft verify --run, the base's first run (converted, decoded, cached): {uncached:6.1f} s")


if __name__ == "__main__":
    main()
