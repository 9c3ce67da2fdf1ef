"""What a training run's output folder holds, by name: the trained model, and the run's own files while it runs.
The trainer writes them; the converter, verify, the backends and the Modal job read them."""

from __future__ import annotations

from pathlib import Path

CHECKPOINT = "checkpoint"
# a checkpoint is written under NEW and swapped in; the one it replaces waits under OLD until it is in place
NEW, OLD = f".{CHECKPOINT}.new", f".{CHECKPOINT}.old"
BEST = ".stage1-best.safetensors"  # stage 1's best epoch: ACFT's reference, kept until the run ends
OUTPUT_NEW = ".output.new"  # the trained model, written aside and moved in
LEFTOVERS = (NEW, OUTPUT_NEW)
RUNNING = ".running"  # the host and id of the process training into the folder, while it does
FINISHED = "training_config.json"  # written with the trained model
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
# copied as the base model has them, so that every reader of the base (transformers 4 and 5, whisper.cpp's
# own converter, `wacft convert`) reads the output too
PROCESSOR_FILES = (
    "preprocessor_config.json", "processor_config.json", "tokenizer.json", "tokenizer_config.json",
    "vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json", "normalizer.json",
)
# what a run writes into its folder: the trained model (with its card), and its own files while it runs
MODEL_FILES = ("config.json", "generation_config.json", "README.md", FINISHED, *WEIGHTS, *PROCESSOR_FILES,
               "model-*-of-*.safetensors", "pytorch_model-*-of-*.bin")
# a Modal job's own, beside the run: the GPU seconds it used, the trainer's `done`, the mark that the folder is whole
SPENT, TRAINED, COMPLETE = ".spent.json", ".trained.json", ".complete.json"
HELD_OUT = "held_out.json"  # the clips set aside for `wacft verify` (acft/held_out.py), written before training
RUN_FILES = (CHECKPOINT, NEW, OLD, BEST, OUTPUT_NEW, RUNNING, "run_config.json", "train.log", "events*.jsonl",
             "model_*.bin", SPENT, TRAINED, COMPLETE, HELD_OUT)  # from events*: a Modal job's log, its .bin, ...


def holds_checkpoint(out: Path) -> bool:
    return (out / CHECKPOINT).is_dir() or (out / OLD).is_dir()


def holds_model(out: Path) -> bool:
    return any((out / name).is_file() for name in WEIGHTS)
