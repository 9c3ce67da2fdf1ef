"""The ACFT loop: a frozen reference at full context teaches a student that sees only the audio's own
context, by matching every decoder hidden state. Checkpointed, resumable, and reporting as it goes."""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from wacft.acft.config import TrainConfig
from wacft.acft.context import Batch, bucket, draw_context
from wacft.acft.data import Clip, load_clips
from wacft.acft.events import EventSink, log
from wacft.acft.model import decoder_states, encode, masked_mse, reference_states
from wacft.acft.publish import check_push_access, push, write_model_card
from wacft.errors import WacftError
from wacft.pipeline import ordered_map

CHECKPOINT = "checkpoint"
STAGE = "acft"


def pick_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def epoch_batches(config: TrainConfig, seconds: list[float], epoch: int) -> list[Batch]:
    """The batches of one epoch, a pure function of (seed, epoch): what makes resume exact."""
    rng = random.Random(f"{config.seed}:{epoch}")
    if config.exact_reference:  # the published loop: one clip a step, shuffled, its own jittered context
        order = list(range(len(seconds)))
        rng.shuffle(order)
        return [Batch((i,), draw_context(seconds[i], rng)) for i in order]
    return bucket(seconds, config.batch_size, rng, config.full_context_share)


def step_lr(config: TrainConfig) -> float:
    """`lr` is per clip, as published. Adam's step barely depends on the batch, so a batch of B clips takes
    B times the step: at equal epochs the student then travels as far as in the one-clip loop."""
    return config.lr * (1 if config.exact_reference else config.batch_size)


def tokenize(processor, clips: list[Clip], config: TrainConfig, multilingual: bool) -> list[list[int]]:
    """The model's own prefix (with language and task when multilingual), the text, <|endoftext|>."""
    if multilingual and not config.language:
        raise WacftError(f"{config.model} is multilingual; say which language the data is in with --language.")
    tokenizer = processor.tokenizer
    tokenizer.set_prefix_tokens(
        language=config.language if multilingual else None,
        task=config.task if multilingual else None,
        predict_timestamps=False,
    )
    return [tokenizer(c.text.lower() if config.lowercase else c.text).input_ids for c in clips]


class ReferenceCache:
    """The frozen reference's hidden states per clip. They never change, so each is computed once and
    reused every epoch, as long as the memory budget holds."""

    def __init__(self, budget_bytes: int):
        self.budget, self.used, self.states = budget_bytes, 0, {}

    def get(self, i: int) -> torch.Tensor | None:
        return self.states.get(i)

    def put(self, i: int, states: torch.Tensor) -> None:
        size = states.numel() * states.element_size()
        if self.used + size <= self.budget:
            self.states[i] = states
            self.used += size


@dataclass
class Progress:
    """Where a run stands: saved with every checkpoint, so a resumed run continues exactly."""

    epoch: int = 0
    batch: int = 0  # the next batch within the epoch
    step: int = 0
    clips: int = 0
    audio_seconds: float = 0.0
    loss: float | None = None


class Trainer:
    def __init__(self, config: TrainConfig, sink: EventSink):
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.config, self.sink = config, sink
        self.out = Path(config.out)
        self.device = pick_device(config.device)
        self.processor = WhisperProcessor.from_pretrained(config.model)
        self.student = WhisperForConditionalGeneration.from_pretrained(config.model).to(self.device)
        self.student.model.train()
        self.reference = copy.deepcopy(self.student.model).eval().requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.student.model.parameters(), lr=step_lr(config))
        self.autocast = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.cache = None if config.exact_reference else ReferenceCache(config.reference_cache_mb << 20)
        self.clips: list[Clip] = []
        self.tokens: list[list[int]] = []

    # --- data -----------------------------------------------------------------------------------------
    def load_data(self) -> None:
        clips = load_clips(self.config)
        log(self.sink, f"dataset: {clips.summary()}")
        self.clips = clips.clips
        multilingual = self.student.config.vocab_size >= 51865
        self.tokens = tokenize(self.processor, self.clips, self.config, multilingual)

    def prepare(self, batch: Batch) -> tuple[Batch, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features and padded tokens for a batch (runs on a helper thread, ahead of the training step)."""
        audio = [self.clips[i].audio for i in batch.indices]
        features = self.processor.feature_extractor(audio, sampling_rate=16000, return_tensors="np").input_features
        longest = max(len(self.tokens[i]) for i in batch.indices)
        tokens = np.full((len(audio), longest), self.processor.tokenizer.eos_token_id, dtype=np.int64)
        mask = np.zeros((len(audio), longest), dtype=bool)
        for row, i in enumerate(batch.indices):
            tokens[row, : len(self.tokens[i])] = self.tokens[i]
            mask[row, : len(self.tokens[i])] = True
        return batch, torch.from_numpy(features), torch.from_numpy(tokens), torch.from_numpy(mask)

    # --- one step -------------------------------------------------------------------------------------
    def reference_batch(self, batch: Batch, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        if self.cache is None:
            return reference_states(self.reference, features, tokens)
        missing = [row for row, i in enumerate(batch.indices) if self.cache.get(i) is None]
        if missing:
            fresh = reference_states(self.reference, features[missing], tokens[missing])
            for k, row in enumerate(missing):
                i = batch.indices[row]
                self.cache.put(i, fresh[:, k, : len(self.tokens[i])].clone())
        states = []
        for row, i in enumerate(batch.indices):
            cached = self.cache.get(i)
            if cached is None:  # over budget: this clip's states came from `fresh` and were not kept
                cached = fresh[:, missing.index(row), : len(self.tokens[i])]
            states.append(torch.nn.functional.pad(cached, (0, 0, 0, tokens.shape[1] - cached.shape[1])))
        return torch.stack(states, dim=1)

    def step(self, batch: Batch, features: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> float:
        features, tokens, mask = features.to(self.device), tokens.to(self.device), mask.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            reference = self.reference_batch(batch, features, tokens)
            encoded = encode(self.student.model.encoder, features, batch.context)
            student = decoder_states(self.student.model, tokens, encoded)
            loss = masked_mse(student, reference, mask)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    # --- checkpoints ----------------------------------------------------------------------------------
    def save_checkpoint(self, progress: Progress) -> None:
        """Written beside the old one and swapped in, so a kill mid-save keeps the previous checkpoint."""
        from safetensors.torch import save_file

        final, new, old = self.out / CHECKPOINT, self.out / f".{CHECKPOINT}.new", self.out / f".{CHECKPOINT}.old"
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir(parents=True)
        state = {k: v.contiguous() for k, v in self.student.model.state_dict().items()}
        save_file(state, new / "student.safetensors")
        torch.save(self.optimizer.state_dict(), new / "optimizer.pt")
        (new / "progress.json").write_text(json.dumps(progress.__dict__))
        (new / "config.json").write_text(self.config.to_json())
        if final.exists():
            os.replace(final, old)
        os.replace(new, final)
        shutil.rmtree(old, ignore_errors=True)
        self.sink.emit({"type": "checkpoint", "path": str(final), "step": progress.step, "stage": STAGE})

    def load_checkpoint(self) -> Progress:
        from safetensors.torch import load_file

        folder = self.out / CHECKPOINT
        if not folder.is_dir() and (self.out / f".{CHECKPOINT}.old").is_dir():
            folder = self.out / f".{CHECKPOINT}.old"  # killed between the two renames
        if not folder.is_dir():
            raise WacftError(f"{self.out} has no checkpoint to resume from; start the run without --resume.")
        self.student.model.load_state_dict(load_file(folder / "student.safetensors", device=str(self.device)))
        self.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location=self.device))
        progress = Progress(**json.loads((folder / "progress.json").read_text()))
        log(self.sink, f"resuming at epoch {progress.epoch + 1}, step {progress.step}")
        return progress

    # --- the run --------------------------------------------------------------------------------------
    def run(self, resume: bool = False) -> Path:
        if not resume and (self.out / CHECKPOINT).exists():
            raise WacftError(f"{self.out} holds an unfinished run; pass --resume to continue it or pick another --out.")
        if self.config.push_to:
            check_push_access(self.config.push_to, self.config.private)
        self.load_data()
        progress = self.load_checkpoint() if resume else Progress()
        seconds = [c.seconds for c in self.clips]
        plan = [epoch_batches(self.config, seconds, e) for e in range(self.config.epochs)]
        total = sum(len(p) for p in plan)
        log(self.sink, f"{total} steps over {self.config.epochs} epochs on {self.device.type}")
        started, steps_here, clips_here = time.monotonic(), 0, 0
        with ThreadPoolExecutor(1) as pool:
            for epoch in range(progress.epoch, self.config.epochs):
                batches = plan[epoch][progress.batch :] if epoch == progress.epoch else plan[epoch]
                for prepared in ordered_map(pool, self.prepare, batches, ahead=2):
                    batch = prepared[0]
                    progress.loss = self.step(*prepared)
                    progress.step += 1
                    progress.batch += 1
                    progress.clips += len(batch.indices)
                    progress.audio_seconds += sum(seconds[i] for i in batch.indices)
                    steps_here += 1
                    clips_here += len(batch.indices)
                    elapsed = time.monotonic() - started
                    self.sink.emit({
                        "type": "step", "stage": STAGE, "step": progress.step, "total_steps": total,
                        "epoch": epoch + 1, "epochs": self.config.epochs, "loss": progress.loss,
                        "lr": step_lr(self.config), "context": batch.context, "clips": progress.clips,
                        "audio_seconds": progress.audio_seconds,
                        "clips_per_second": clips_here / elapsed,
                        "eta_seconds": elapsed / steps_here * (total - progress.step),
                    })
                    if progress.step % self.config.checkpoint_every == 0:
                        self.save_checkpoint(progress)
                progress.epoch, progress.batch = epoch + 1, 0
                self.save_checkpoint(progress)
        self.save_output(progress)
        if self.config.push_to:
            push(self.out, self.config.push_to, self.sink)
        self.sink.emit({"type": "done", "stage": STAGE, "out": str(self.out), "final_loss": progress.loss})
        return self.out

    def save_output(self, progress: Progress) -> None:
        """The trained model as a Hugging Face folder that transformers and `wacft convert` load."""
        tmp = self.out / ".output.new"
        shutil.rmtree(tmp, ignore_errors=True)
        self.student.save_pretrained(tmp, safe_serialization=True)
        self.processor.save_pretrained(tmp)
        (tmp / "training_config.json").write_text(self.config.to_json())
        write_model_card(tmp, self.config, progress.loss, len(self.clips))
        for path in tmp.iterdir():
            os.replace(path, self.out / path.name)
        tmp.rmdir()
        shutil.rmtree(self.out / CHECKPOINT)


def train(config: TrainConfig, sink: EventSink, resume: bool = False) -> Path:
    """Run ACFT as `config` says; events go to `sink`. Returns the output folder."""
    Path(config.out).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    return Trainer(config, sink).run(resume=resume)
