"""A run's files in its output folder: the checkpoint (written aside and swapped in, with the random state and
where the run stands, so a resumed run continues exactly), and the trained model it leaves at the end."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from wacft.acft.config import TrainConfig
from wacft.acft.publish import copy_files, write_model_card
from wacft.atomic import DiskFull, no_room, write_bytes_atomic
from wacft.convert.source import PROCESSOR_CONFIG
from wacft.errors import WacftError
from wacft.run_folder import BEST, CHECKPOINT, NEW, OLD, OUTPUT_NEW, WEIGHTS

if TYPE_CHECKING:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from wacft.dataset.clips import Clip

# settings a resumed run may change: where and how it runs, not what it learns
RUN_SETTINGS = {"out", "device", "cache_mb", "checkpoint_every", "push_to", "private"}


@dataclass
class Progress:
    """Where a run stands: saved with every checkpoint, so a resumed run continues exactly."""

    epoch: int = 0
    batch: int = 0  # the next batch within the epoch
    step: int = 0
    clips: int = 0
    audio_seconds: float = 0.0
    loss: float | None = None
    stage: str = ""  # the stage under way ("" before the first)
    best: dict[str, Any] | None = None  # stage 1's best epoch so far (a Score)
    contexts: list[int] | None = None  # the lowest and highest context the student has seen
    data: str | None = None  # what the run trains on (data_fingerprint): a resume on other data is refused


def save_weights(module: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, tmp)
    os.replace(tmp, path)


def save_torch(value: object, path: Path) -> None:
    with open(path, "wb") as f:  # a Python file: a full disk stays an OSError inside torch's RuntimeError
        torch.save(value, f)


def rng_state() -> dict[str, Any]:
    """Every random source a step can draw from (dropout, where a model has it)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():  # a run begun on a GPU may go on without one
        torch.cuda.set_rng_state_all(state["cuda"])


def data_fingerprint(clips: list[Clip]) -> str:
    """The clips a run trains on, in order: their files (or sizes), transcripts and lengths."""
    import hashlib

    rows = [(str(c.source) if isinstance(c.source, Path) else len(c.source), c.text, round(c.seconds, 3))
            for c in clips]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def require_same_settings(saved: TrainConfig, given: TrainConfig) -> None:
    changed = [f"{f.name} {getattr(saved, f.name)!r}, not {getattr(given, f.name)!r}" for f in fields(TrainConfig)
               if f.name not in RUN_SETTINGS and getattr(saved, f.name) != getattr(given, f.name)]
    if changed:
        raise WacftError(
            f"The run in {given.out} was started with other settings ({'; '.join(changed)}); resume it with"
            " the same ones, or start a new run in another --out."
        )


class RunFiles:
    """The checkpoint and output files of the run training into `out`."""

    def __init__(self, out: Path, config: TrainConfig):
        self.out, self.config = out, config

    def save_checkpoint(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, progress: Progress) -> Path:
        """Written aside and swapped in, so a kill mid-save keeps the previous checkpoint."""
        final, new, old = self.out / CHECKPOINT, self.out / NEW, self.out / OLD
        shutil.rmtree(new, ignore_errors=True)
        try:
            new.mkdir(parents=True)
            save_weights(model, new / "student.safetensors")
            save_torch(optimizer.state_dict(), new / "optimizer.pt")
            save_torch(rng_state(), new / "rng.pt")
            write_bytes_atomic(new / "progress.json", json.dumps(asdict(progress)).encode())
            write_bytes_atomic(new / "config.json", self.config.to_json().encode())
        except Exception as e:  # torch and safetensors wrap the OSError of a full disk in their own errors
            shutil.rmtree(new, ignore_errors=True)
            if no_room(e):
                raise self.disk_full(model, "a checkpoint", e) from e
            raise
        if final.exists():
            os.replace(final, old)
        os.replace(new, final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    def disk_full(self, model: torch.nn.Module, what: str, error: BaseException) -> DiskFull:
        """The sentence for a full disk: the room `what` needs (the weights and Adam's two moments), and what
        is kept."""
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        folder = self.out / CHECKPOINT if (self.out / CHECKPOINT).is_dir() else self.out / OLD
        if folder.is_dir():
            step = json.loads((folder / "progress.json").read_text())["step"]
            kept = f"The checkpoint of step {step} is kept: free some space and run again with --resume."
        else:
            kept = "There is no earlier checkpoint: free some space and run again."
        return DiskFull(self.out, 3 * weights, f"Writing {what} failed. {kept}", error)

    def checkpoint_folder(self) -> Path:
        folder = self.out / CHECKPOINT
        if not folder.is_dir() and (self.out / OLD).is_dir():
            folder = self.out / OLD  # killed between the two renames
        if not folder.is_dir():
            raise WacftError(f"{self.out} has no checkpoint to resume from; start the run without --resume.")
        require_same_settings(TrainConfig.load(folder / "config.json", saved=True), self.config)
        return folder

    def load_checkpoint(self, folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        device: torch.device) -> None:
        """The student, optimizer and random state; the stage must have been started first."""
        from safetensors.torch import load_file

        model.load_state_dict(load_file(folder / "student.safetensors", device=str(device)))
        optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location=device))
        set_rng_state(torch.load(folder / "rng.pt"))

    def save_output(self, student: WhisperForConditionalGeneration, processor: WhisperProcessor,
                    processor_files: list[Path], progress: Progress, clips: int) -> list[str]:
        """The trained model as a Hugging Face folder that transformers and `wacft convert` load; returns the
        names of its files. Written aside and moved in, then the checkpoint goes."""
        tmp = self.out / OUTPUT_NEW
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            student.save_pretrained(tmp, safe_serialization=True)
            copy_files(processor_files, tmp)
            if not (tmp / PROCESSOR_CONFIG).is_file():  # derived from config.json: written, so the folder is complete
                processor.feature_extractor.save_pretrained(tmp)
            # as the run trained: the published loop's one clip a step, whatever --batch-size said
            used = replace(self.config, batch_size=1) if self.config.exact_reference else self.config
            write_bytes_atomic(tmp / "training_config.json", used.to_json().encode())
            write_model_card(tmp, self.config, progress, clips)
        except Exception as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if no_room(e):
                raise self.disk_full(student.model, "the trained model", e) from e
            raise
        files = sorted(path.name for path in tmp.iterdir())
        for name in files:
            os.replace(tmp / name, self.out / name)
        tmp.rmdir()
        for stale in self.out.glob("*"):  # a model trained over (--force) may have had other weight files
            if stale.name not in files and (stale.name in WEIGHTS or stale.name.startswith("model-0")):
                stale.unlink()
        shutil.rmtree(self.out / CHECKPOINT, ignore_errors=True)  # a run of one stage-1 epoch may have none
        (self.out / BEST).unlink(missing_ok=True)
        return files
