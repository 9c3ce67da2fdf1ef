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
Targets: fast >= 3x the exact loop's clips/s on CPU (>= 10x on an A100/H100), dynamic loss no worse. On 2 CPU
cores the default ran 3.4x at the user's scale (docs/speed.md); on an H200 it ran 1.3x (tiny.en) to 1.9x
(small.en) the published loop's clips/s, 4 epochs of 72 clips, before Adam was fused.

At the user's scale (--user-scale): random-weight models of each real size (speed does not depend on the weights)
on a cached espeak-ng dataset of about 1,000 clips of 1-15 s (1.5 h; tests/fixtures/user_scale.py) or --dataset,
the published loop and the default side by side, steady state only (steady.py says how, and how FLOPs are
counted):

    .venv/bin/python bench/bench_acft.py --user-scale [--sizes tiny.en,base.en,small.en] [--clips 1000]
        [--epochs 2] [--modes exact-reference,default] [--peak-tflops T]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import torch
import transformers
from steady import Timeline

from wacft.acft.batch_inputs import tokenize
from wacft.acft.config import TrainConfig
from wacft.acft.context import base_context, clamp
from wacft.acft.estimate import BF16_PEAK, model_dims
from wacft.acft.events import CallbackSink
from wacft.acft.model import decoder_states, encode, masked_mse, reference_states
from wacft.acft.trainer import train
from wacft.dataset.clips import load_clips
from wacft.facts import FULL_CONTEXT, MODEL_SIZES, SAMPLE_RATE, is_multilingual

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


SCALE_MODES = {"exact-reference": {"exact_reference": True}, "default": {},
               # what the default's two costs buy is measured by bench_quality.py; here, what they cost
               "no-full-context": {"full_context_share": 0}, "no-phone-silence": {"phone_silence_share": 0}}
PEAK_BY_NAME = {"H100": BF16_PEAK["H100"], "H200": BF16_PEAK["H100"], "A100": BF16_PEAK["A100-80GB"]}  # dense bf16


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    else:  # Linux: "5" resets the process's peak resident set (VmHWM) to what it holds now
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory(device: str) -> float:
    """Bytes: the GPU's allocated peak, or this process's peak resident set."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated()
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


def peak_flops(args: argparse.Namespace, device: str) -> float | None:
    """The peak the MFU is taken against: --peak-tflops, else a datasheet's dense bf16 for a GPU it knows."""
    if args.peak_tflops:
        return args.peak_tflops * 1e12
    if device != "cuda":
        return None  # a shared CPU's peak is no datasheet figure: give --peak-tflops to have one
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in PEAK_BY_NAME.items() if key in name), None)


def random_model(size: str) -> Path:
    from fixtures.random_whisper import random_whisper

    width, encoder, decoder = MODEL_SIZES[size.removesuffix(".en")]
    assert encoder == decoder  # random_whisper builds equal stacks: true of tiny, base and small
    return random_whisper(d_model=width, layers=encoder, heads=width // 64)


class Profiled:
    """Passes events on, and runs torch's profiler over the steady state (from the first step of epoch 2)."""

    def __init__(self, sink: Timeline):
        self.sink, self.profiler = sink, torch.profiler.profile()
        self.on = False

    def __call__(self, event: dict) -> None:
        self.sink(event)
        if event["type"] == "step" and event["epoch"] == 2 and not self.on:
            self.profiler.start()
            self.on = True
        elif event["type"] == "done" and self.on:
            self.profiler.stop()
            print(self.profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15), flush=True)


def user_scale(args: argparse.Namespace) -> None:
    """The published loop against the default at the user's scale: steady state, per size and mode."""
    if args.dataset:
        data = args.dataset
    else:
        from fixtures.user_scale import user_scale_dataset
        data = str(user_scale_dataset(args.clips))
    clips = load_clips(TrainConfig(model="", dataset=data, out="").dataset_spec).clips
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    peak = peak_flops(args, device)
    print(f"{len(clips)} clips, {sum(c.seconds for c in clips) / 3600:.2f} h of audio"
          f" ({min(c.seconds for c in clips):.1f}-{max(c.seconds for c in clips):.1f} s), {args.epochs} epochs, steady"
          f" state = epochs 2-{args.epochs}; device {device}"
          f" ({torch.cuda.get_device_name() if device == 'cuda' else f'{torch.get_num_threads()} torch threads'});"
          f" MFU against {f'{peak / 1e12:.0f} TFLOP/s' if peak else 'no peak (CPU: give --peak-tflops)'};"
          f" load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'size':9} {'mode':16} {'clips/s':>8} {'clips/cpu-s':>11} {'audio h/h':>9} {'TFLOP/s':>8} {'MFU':>6}"
          f" {'peak GB':>8} {'ckpt':>6} {'data':>6} {'eval':>6} {'wall s':>7} {'load':>5}")
    rates: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            model = random_model(size)
            for mode in args.modes.split(","):
                config = TrainConfig(model=str(model), dataset=data, out=f"{tmp}/{size}-{mode}", epochs=args.epochs,
                                     device=device, language="en", **SCALE_MODES[mode])
                timeline = Timeline()
                reset_peak_memory(device)
                start = time.perf_counter()
                train(config, CallbackSink(Profiled(timeline) if args.profile else timeline))
                wall, memory = time.perf_counter() - start, peak_memory(device)
                s = timeline.steady(model_dims(str(model)), vars(config))
                rates[size, mode] = s.clips / s.seconds
                mfu = f"{s.flops / s.seconds / peak:6.1%}" if peak else f"{'-':>6}"
                print(f"{size:9} {mode:16} {rates[size, mode]:8.2f} {s.clips / s.cpu_seconds:11.2f}"
                      f" {s.audio_seconds / s.seconds:9.1f}"
                      f" {s.flops / s.seconds / 1e12:8.3f} {mfu} {memory / 1e9:8.2f} {s.share('checkpoint'):6.1%}"
                      f" {s.share('data'):6.1%} {s.share('eval'):6.1%} {wall:7.0f} {os.getloadavg()[0]:5.1f}",
                      flush=True)
            if (size, "default") in rates and (size, "exact-reference") in rates:
                ratio = rates[size, "default"] / rates[size, "exact-reference"]
                print(f"{size}: default / published loop = {ratio:.2f}x clips/s")
    print(f"process CPU time {resource.getrusage(resource.RUSAGE_SELF).ru_utime / 60:.1f} min; load"
          f" {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8, help="8: the published setting")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", help="default: OpenAI's tiny.en, rebuilt offline")
    parser.add_argument("--voices", type=int, default=2, help="clips = 12 sentences x this many voices")
    parser.add_argument("--dataset", help="an audiofolder to train on instead of espeak-ng clips made here")
    parser.add_argument("--speed-only", action="store_true",
                        help="skip the losses (they run on the CPU): for random weights or a short GPU lease")
    scale = parser.add_argument_group("--user-scale: the speed of each size and mode at a person's scale")
    scale.add_argument("--user-scale", action="store_true")
    scale.add_argument("--sizes", default="tiny.en,base.en,small.en", help="random weights of these sizes")
    scale.add_argument("--modes", default="exact-reference,default", help=", ".join(SCALE_MODES))
    scale.add_argument("--clips", type=int, default=1000, help="of espeak-ng speech (cached); --dataset instead")
    scale.add_argument("--profile", action="store_true", help="print where the steady state's CPU time goes")
    scale.add_argument("--peak-tflops", type=float, help="the device's peak for the MFU (default: a GPU's dense"
                                                         " bf16 datasheet figure; none on a CPU)")
    args = parser.parse_args()
    transformers.utils.logging.disable_progress_bar()
    if args.user_scale:
        return user_scale(args)
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
