"""`wacft train`: ACFT training from the command line, with a progress bar fed by the event stream."""

from __future__ import annotations

import argparse
from dataclasses import fields

from wacft.acft.config import TrainConfig


def register(steps: argparse._SubParsersAction) -> None:
    p = steps.add_parser("train", help="ACFT-train a Whisper model so it copes with dynamic audio context")
    p.add_argument("--model", required=True, help="base model: hub id (openai/whisper-base.en) or local folder")
    p.add_argument("--dataset", required=True, help="hub dataset id or local audiofolder (audio + metadata.csv)")
    p.add_argument("--out", required=True, help="output folder (checkpoints, then the trained model)")
    p.add_argument("--dataset-config")
    p.add_argument("--split", default="train")
    p.add_argument("--audio-column")
    p.add_argument("--text-column")
    p.add_argument("--language", help="language of the data, for multilingual models (e.g. en)")
    p.add_argument("--task", default="transcribe", choices=["transcribe", "translate"])
    p.add_argument("--keep-case", dest="lowercase", action="store_false", help="do not lower-case transcripts")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-6)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-audio-length", type=float, default=29.0, help="skip clips longer than this (seconds)")
    p.add_argument("--max-clips", type=int, help="use at most this many clips")
    p.add_argument("--exact-reference", action="store_true", help="the published loop exactly: batch 1, no cache")
    p.add_argument("--full-context-share", type=float, default=0.0)
    p.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--push-to", metavar="REPO", help="Hugging Face repo to push the trained model to")
    p.add_argument("--public", dest="private", action="store_false", help="make the pushed repo public")
    p.add_argument("--resume", action="store_true", help="continue the unfinished run in --out")
    p.set_defaults(func=run_train)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})


def run_train(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from wacft.acft.events import CallbackSink
    from wacft.acft.trainer import train

    bar = None

    def show(event: dict) -> None:
        nonlocal bar
        if event["type"] == "step":
            if bar is None:
                bar = tqdm(total=event["total_steps"], initial=event["step"] - 1, unit="step", desc="ACFT")
            bar.update(1)
            bar.set_postfix(epoch=f"{event['epoch']}/{event['epochs']}", loss=f"{event['loss']:.4g}",
                            clips_s=f"{event['clips_per_second']:.1f}")
        elif event["type"] in ("log", "checkpoint"):
            (bar.write if bar else print)(event.get("message") or f"checkpoint at step {event['step']}")
        elif event["type"] == "done":
            if bar:
                bar.close()
            print(f"trained model in {event['out']} (final loss {event['final_loss']:.4g});"
                  f" next: wacft convert {event['out']} --out model.bin --type q5_0")

    train(config_from_args(args), CallbackSink(show), resume=args.resume)
