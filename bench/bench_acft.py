"""ACFT speed and quality: the published loop (--exact-reference) against the default fast mode (a quarter of
its batches at full context) and the fast mode without full-context batches; same clips, same model, same
epochs, in one run.

    .venv/bin/python bench/bench_acft.py [--epochs 8] [--device auto] [--model DIR_OR_HUB_ID] [--dataset DIR]

The model defaults to OpenAI's tiny.en (rebuilt offline by the test fixtures); the clips default to espeak-ng
speech made here (--dataset takes any audiofolder instead, for a machine without espeak-ng).
Speed is clips (and audio seconds) per second of training, from the end of each run's first step, so model
loading counts in neither; and clips per CPU-second of this process (both threads), which holds steadier
than the wall clock on a machine shared with other work. Quality is measured the same way for every
result, afterwards: the distillation loss against the untouched base model on every clip at its own
context (round(50 L), no jitter: what ACFT trains) and at the full 1500 (how far full-context behaviour
drifted; 0 before training).
Targets: fast >= 3x the exact loop's clips/s on CPU (>= 10x on an A100/H100), dynamic loss no worse. Not met
by the default since it trains a quarter at full context: on an H200 it ran 1.3x (tiny.en) to 1.9x (small.en)
the published loop's clips/s, 4 epochs of 72 clips (docs/speed.md's table).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import torch
import transformers

from wacft.acft.batch_inputs import tokenize
from wacft.acft.config import TrainConfig
from wacft.acft.context import base_context, clamp
from wacft.acft.events import CallbackSink
from wacft.acft.model import decoder_states, encode, masked_mse, reference_states
from wacft.acft.trainer import train
from wacft.dataset.clips import load_clips
from wacft.facts import FULL_CONTEXT, SAMPLE_RATE, is_multilingual

SENTENCES = [
    "Hello world.", "Please call me back later.", "The meeting starts at noon.", "Open the window, please.",
    "I am going home now.", "What time is it?", "Send the file to Anna before lunch.",
    "Turn left at the next corner and keep going until you see the bridge.",
    "Remind me to buy milk, eggs and bread on the way home tonight.",
    "The quarterly report is due on Friday, so please review the numbers carefully.",
    "Can you book a table for four people at seven?", "Thanks, that works for me.",
]
MODES = {  # name -> settings beside the common ones
    "exact-reference": {"exact_reference": True},
    "fast (default)": {},  # a quarter of the batches at full context
    "fast, short only": {"full_context_share": 0},
}


def timed_train(config: TrainConfig) -> dict:
    steps = []
    start = time.perf_counter()
    def record(event: dict) -> None:
        if event["type"] == "step":
            steps.append((time.perf_counter(), time.process_time(), event))

    train(config, CallbackSink(record))
    (t0, cpu0, first), (t1, cpu1, last) = steps[0], steps[-1]
    clips, audio = last["clips"] - first["clips"], last["audio_seconds"] - first["audio_seconds"]
    return {"clips_s": clips / (t1 - t0), "audio_s": audio / (t1 - t0), "clips_cpu_s": clips / (cpu1 - cpu0),
            "wall": time.perf_counter() - start}


@torch.no_grad()
def losses(trained: str, config: TrainConfig) -> tuple[float, float]:
    """Mean distillation loss of `trained` against the base over every clip: at its own context, at 1500."""
    from transformers import WhisperModel, WhisperProcessor

    processor = WhisperProcessor.from_pretrained(config.model)
    base = WhisperModel.from_pretrained(config.model, dtype=torch.float32).eval()
    student = WhisperModel.from_pretrained(trained, dtype=torch.float32).eval()
    clips = load_clips(config.dataset_spec).clips
    multilingual = is_multilingual(base.config.vocab_size)
    dynamic, full = [], []
    for clip, ids in zip(clips, tokenize(processor, clips, config, multilingual), strict=True):
        features = processor(clip.audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        tokens = torch.tensor([ids])
        mask = torch.ones_like(tokens, dtype=torch.bool)
        reference = reference_states(base, features, tokens)
        for n, out in ((clamp(base_context(clip.seconds)), dynamic), (FULL_CONTEXT, full)):
            states = decoder_states(student, tokens, encode(student.encoder, features, n))
            out.append(masked_mse(states, reference, mask).item())
    return sum(dynamic) / len(dynamic), sum(full) / len(full)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8, help="8: the published setting")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", help="default: OpenAI's tiny.en, rebuilt offline")
    parser.add_argument("--voices", type=int, default=2, help="clips = 12 sentences x this many voices")
    parser.add_argument("--dataset", help="an audiofolder to train on instead of espeak-ng clips made here")
    parser.add_argument("--speed-only", action="store_true",
                        help="skip the losses (they run on the CPU): for random weights or a short GPU lease")
    args = parser.parse_args()
    transformers.utils.logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        model, data = args.model, args.dataset
        if not model:  # the fixtures need packages and tools a bare GPU machine may lack: only when asked
            from fixtures.tiny_en import tiny_en_dir
            model = str(tiny_en_dir())
        if not data:
            from fixtures.speech import VOICES, make_speech_dataset
            data = make_speech_dataset(Path(tmp) / "data", SENTENCES, voices=VOICES[: args.voices])
        common = dict(model=model, dataset=str(data), epochs=args.epochs, device=args.device, language="en")
        base = TrainConfig(out=model, **common)
        clips = load_clips(base.dataset_spec).clips
        print(f"{Path(model).name}: {len(clips)} clips ({sum(c.seconds for c in clips):.0f} s of audio),"
              f" {args.epochs} epochs, device {args.device}, {torch.get_num_threads()} torch threads")
        print(f"{'mode':16} {'clips/s':>8} {'audio s/s':>10} {'clips/cpu-s':>12} {'wall s':>7}"
              + ("" if args.speed_only else f" {'loss@own ctx':>13} {'loss@1500':>10}"))
        if not args.speed_only:
            print(f"{'base (untrained)':16} {'':41} {losses(model, base)[0]:13.4f} {0:10.4f}")
        results = {}
        for mode, settings in MODES.items():
            config = TrainConfig(out=f"{tmp}/{len(results)}", **common, **settings)
            results[mode] = timed_train(config)
            r = results[mode]
            quality = "" if args.speed_only else " {:13.4f} {:10.4f}".format(*losses(config.out, config))
            print(f"{mode:16} {r['clips_s']:8.2f} {r['audio_s']:10.2f} {r['clips_cpu_s']:12.2f}"
                  f" {r['wall']:7.1f}{quality}", flush=True)
    fast, exact = results["fast (default)"], results["exact-reference"]
    print(f"fast / exact-reference: {fast['clips_s'] / exact['clips_s']:.1f}x clips/s,"
          f" {fast['clips_cpu_s'] / exact['clips_cpu_s']:.1f}x clips per CPU-second")


if __name__ == "__main__":
    main()
