"""ACFT speed: the published loop (--exact-reference) against the default fast mode, same clips, same
model (OpenAI's tiny.en, rebuilt offline), same epochs, in one run; with the loss each reaches.

    .venv/bin/python bench/bench_acft.py [--epochs 3] [--device cpu]

Target: fast mode at least 3x the clips/s of the exact loop on CPU (10x on an A100/H100), final loss no worse.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixtures.speech import VOICES, make_speech_dataset  # noqa: E402
from fixtures.tiny_en import tiny_en_dir  # noqa: E402

from wacft.acft.config import TrainConfig  # noqa: E402
from wacft.acft.events import CallbackSink  # noqa: E402
from wacft.acft.trainer import train  # noqa: E402

SENTENCES = [
    "Hello world.", "Please call me back later.", "The meeting starts at noon.", "Open the window, please.",
    "I am going home now.", "What time is it?", "Send the file to Anna before lunch.",
    "Turn left at the next corner and keep going until you see the bridge.",
    "Remind me to buy milk, eggs and bread on the way home tonight.",
    "The quarterly report is due on Friday, so please review the numbers carefully.",
    "Can you book a table for four people at seven?", "Thanks, that works for me.",
]


def run(mode: str, config: TrainConfig) -> dict:
    steps = []
    start = time.perf_counter()
    train(config, CallbackSink(lambda e: steps.append((time.perf_counter(), e)) if e["type"] == "step" else None))
    # timed from the end of the first step, so model loading and the first decode count in neither mode
    (t0, first), (t1, last) = steps[0], steps[-1]
    last_epoch = [e["loss"] for _, e in steps if e["epoch"] == config.epochs]
    return {"mode": mode, "clips_s": (last["clips"] - first["clips"]) / (t1 - t0),
            "audio_s": (last["audio_seconds"] - first["audio_seconds"]) / (t1 - t0),
            "loss": sum(last_epoch) / len(last_epoch), "wall": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_speech_dataset(Path(tmp) / "data", SENTENCES, voices=VOICES[:3])
        common = dict(model=str(tiny_en_dir()), dataset=str(data), epochs=args.epochs, device=args.device)
        results = [
            run("exact-reference", TrainConfig(out=f"{tmp}/exact", exact_reference=True, **common)),
            run("fast (default)", TrainConfig(out=f"{tmp}/fast", **common)),
        ]
    print(f"tiny.en, {len(SENTENCES) * 3} espeak-ng clips, {args.epochs} epochs, device {args.device}")
    print(f"{'mode':16} {'clips/s':>8} {'audio s/s':>10} {'last-epoch loss':>16} {'wall s':>7}")
    for r in results:
        print(f"{r['mode']:16} {r['clips_s']:8.2f} {r['audio_s']:10.2f} {r['loss']:16.4f} {r['wall']:7.1f}")
    print(f"speed-up: {results[1]['clips_s'] / results[0]['clips_s']:.1f}x")


if __name__ == "__main__":
    main()
