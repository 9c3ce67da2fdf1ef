"""The clips a run sets aside for `wacft verify`: training never sees them, so the verdict is measured on speech
the model did not learn. The slice is fixed by the run's seed, kept in the run record (and beside the trained
model, as held_out.json), and found again by its place in the dataset, checked against its transcripts."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from wacft.atomic import write_bytes_atomic
from wacft.dataset.clips import Clip
from wacft.errors import WacftError
from wacft.run_folder import HELD_OUT

HeldOut = dict[str, Any]  # {"of": the usable clips, "clips": [{"index", "file", "text"}, ...]}: JSON

FEWEST = 15  # below this, every clip trains: verify then says its figures are measured on training clips
SHARE = 0.2  # of the clips, from 3 of 15 ...
MOST = 50  # ... to 50 of 250 and more: enough to tell a verdict, minutes to verify on a laptop CPU
FILE = HELD_OUT


def held_out_count(clips: int) -> int:
    return 0 if clips < FEWEST else min(MOST, round(SHARE * clips))


def set_aside(clips: list[Clip], seed: int) -> tuple[list[Clip], HeldOut]:
    """The clips to train on, and the held-out slice as the run keeps it: each held clip's place among the
    dataset's usable clips, its file (a folder's) and its transcript."""
    count = held_out_count(len(clips))
    held = sorted(random.Random(f"{seed}:verify").sample(range(len(clips)), count))
    kept = set(held)
    slice_ = {"of": len(clips), "clips": [
        {"index": i, "file": source.name if isinstance(source := clips[i].source, Path) else None,
         "text": clips[i].text} for i in held]}
    return [c for i, c in enumerate(clips) if i not in kept], slice_


def write(folder: Path, slice_: HeldOut) -> None:
    write_bytes_atomic(folder / FILE, json.dumps(slice_, indent=2).encode())


def read(folder: Path) -> HeldOut | None:
    try:
        slice_: HeldOut = json.loads((folder / FILE).read_text())
        return slice_
    except (OSError, ValueError):
        return None


def pick(clips: list[Clip], slice_: HeldOut, dataset: str) -> list[Clip]:
    """The held-out clips among the dataset's usable clips, as the run set them aside."""
    if len(clips) != slice_["of"] or any(clips[c["index"]].text != c["text"] for c in slice_["clips"]):
        raise WacftError(f"{dataset} has changed since the run set its held-out clips aside; verify with --dataset"
                         " and clips the model did not train on.")
    return [clips[c["index"]] for c in slice_["clips"]]
