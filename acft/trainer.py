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
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wacft.acft.config import TrainConfig
from wacft.acft.context import Batch, bucket, draw_context, jitter_band
from wacft.acft.data import Clip, load_clips
from wacft.acft.events import STAGE, EventSink, log
from wacft.acft.model import decoder_states, encode, fit_frames, masked_mse, reference_states
from wacft.acft.publish import check_push_access, copy_files, processor_files, push, write_model_card
from wacft.atomic import write_bytes_atomic
from wacft.audio import SAMPLE_RATE
from wacft.errors import WacftError
from wacft.pipeline import ordered_map

CHECKPOINT = "checkpoint"
# a checkpoint is written under NEW and swapped in; the one it replaces waits under OLD until it is in place
NEW, OLD = f".{CHECKPOINT}.new", f".{CHECKPOINT}.old"
MULTILINGUAL_VOCAB = 51865  # as openai/whisper decides it: a vocabulary this large has language tokens
FUTO_WIDEST = 768  # FUTO Keyboard runs tiny, base and small (d_model 384, 512, 768)
PREFETCH = 2  # batches decoded and featurised ahead of the training step
# settings a resumed run may change: where and how it runs, not what it learns
RUN_SETTINGS = {"out", "device", "cache_mb", "checkpoint_every", "push_to", "private"}


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or not available.get(device.type):
        raise WacftError(f"The device {name!r} is not available here; use --device auto, cuda, mps or cpu.")
    return device


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
        raise WacftError(f"{config.model} is multilingual; name the language of the data with --language.")
    tokenizer = processor.tokenizer
    tokenizer.set_prefix_tokens(
        language=config.language if multilingual else None,
        task=config.task if multilingual else None,
        predict_timestamps=False,
    )
    return [tokenizer(c.text.lower() if config.lowercase else c.text).input_ids for c in clips]


@dataclass
class Cached:
    states: torch.Tensor  # the reference's decoder states, (layers + 1, tokens, width)
    features: torch.Tensor  # the clip's first mel frames: as many as its widest context needs

    @property
    def bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.states, self.features))


class ClipCache:
    """What a clip gives the loss that never changes: the frozen reference's hidden states and the mel
    frames. Each is computed once and reused every epoch while the budget holds; entries are never evicted,
    so a clip seen as cached stays cached."""

    def __init__(self, budget_bytes: int):
        self.budget, self.used, self.entries = budget_bytes, 0, {}

    def get(self, i: int) -> Cached | None:
        return self.entries.get(i)

    def put(self, i: int, entry: Cached) -> None:
        if self.used + entry.bytes <= self.budget:
            self.entries[i] = entry
            self.used += entry.bytes


@dataclass
class Prepared:
    """A batch made ready on the helper thread."""

    batch: Batch
    tokens: torch.Tensor  # (B, T), padded with <|endoftext|>
    mask: torch.Tensor  # (B, T), True on real tokens
    extracted: list[int]  # rows whose 30 s mel features were computed (all rows not in the cache)
    features: torch.Tensor | None  # (len(extracted), mels, 3000)


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
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # the run's own events report progress
        self.config, self.sink = config, sink
        self.out = Path(config.out)
        self.device = pick_device(config.device)
        try:
            self.processor = WhisperProcessor.from_pretrained(config.model)
            # float32 whatever the checkpoint holds: lr 1e-6 steps vanish in half precision
            model = WhisperForConditionalGeneration.from_pretrained(config.model, dtype=torch.float32)
            self.processor_files = processor_files(config.model)  # found now: the run may end offline
        except (OSError, ValueError) as e:  # not found, not a Whisper folder, a malformed id
            raise WacftError(
                f"{config.model} is neither a Whisper model folder nor a model on the Hugging Face hub ({e})."
            ) from e
        self.student = model.to(self.device)
        self.student.model.train()
        self.reference = copy.deepcopy(self.student.model).eval().requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.student.model.parameters(), lr=step_lr(config))
        # the exact loop runs in float32 as published; the fast one in bfloat16 where the GPU has it
        bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.autocast = bf16 and not config.exact_reference
        self.features_on = "cuda" if self.device.type == "cuda" else "cpu"  # where the STFT runs
        self.cache = None if config.exact_reference else ClipCache(config.cache_mb << 20)
        self.clips: list[Clip] = []
        self.tokens: list[list[int]] = []

    # --- data -----------------------------------------------------------------------------------------
    def load_data(self) -> None:
        if self.student.config.d_model > FUTO_WIDEST:
            log(self.sink, "warning: FUTO Keyboard runs tiny, base and small; larger models may be too slow")
        clips = load_clips(self.config)
        log(self.sink, f"dataset: {clips.summary()}")
        self.clips = clips.clips
        multilingual = self.student.config.vocab_size >= MULTILINGUAL_VOCAB
        self.tokens = tokenize(self.processor, self.clips, self.config, multilingual)

    def cached_frames(self, i: int) -> int:
        """Mel frames kept for clip i: two per position of the widest context its jitter band allows."""
        return 2 * (jitter_band(self.clips[i].seconds)[1] - 1)

    def cached(self, i: int) -> Cached | None:
        return self.cache.get(i) if self.cache is not None else None

    def prepare(self, batch: Batch) -> Prepared:
        """Decode and featurise what the cache lacks, pad the tokens (on the helper thread, ahead of the
        step). A full-context batch needs more frames than are cached, so it featurises afresh."""
        entries = [self.cached(i) for i in batch.indices]
        needed = 2 * batch.context
        extracted = [r for r, e in enumerate(entries) if e is None or e.features.shape[-1] < needed]
        features = None
        if extracted:
            audio = [self.clips[batch.indices[r]].audio for r in extracted]
            features = self.processor.feature_extractor(
                audio, sampling_rate=SAMPLE_RATE, return_tensors="pt", device=self.features_on
            ).input_features
        lengths = [len(self.tokens[i]) for i in batch.indices]
        tokens = np.full((len(lengths), max(lengths)), self.processor.tokenizer.eos_token_id, dtype=np.int64)
        for row, i in enumerate(batch.indices):
            tokens[row, : lengths[row]] = self.tokens[i]
        mask = np.arange(tokens.shape[1])[None, :] < np.array(lengths)[:, None]
        return Prepared(batch, torch.from_numpy(tokens), torch.from_numpy(mask), extracted, features)

    # --- one step -------------------------------------------------------------------------------------
    def inputs(self, p: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
        """The student's mel input and the reference's states for a batch: from the cache where it has them,
        computed (and cached) where not. A clip missing from the cache now was missing when it was prepared,
        so its features were extracted."""
        indices = p.batch.indices
        extracted = dict(zip(p.extracted, p.features.to(self.device), strict=True)) if p.extracted else {}
        entries = [self.cached(i) for i in indices]
        fresh = [r for r, entry in enumerate(entries) if entry is None]
        if fresh:
            features = torch.stack([extracted[r] for r in fresh])
            states = reference_states(self.reference, features, p.tokens[fresh].to(self.device))
            for k, r in enumerate(fresh):
                i = indices[r]
                frames = extracted[r][:, : self.cached_frames(i)]
                entries[r] = Cached(states[:, k, : len(self.tokens[i])], frames)
                if self.cache is not None:  # copies, so the cache does not hold on to the whole batch
                    self.cache.put(i, Cached(entries[r].states.clone(), entries[r].features.clone()))
        frames = [extracted.get(r, entry.features) for r, entry in enumerate(entries)]
        student = torch.stack([fit_frames(f, p.batch.context) for f in frames])
        longest = p.tokens.shape[1]
        padded = [F.pad(entry.states, (0, 0, 0, longest - entry.states.shape[1])) for entry in entries]
        return student, torch.stack(padded, dim=1)

    def step(self, p: Prepared) -> float:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            features, reference = self.inputs(p)
            tokens, mask = p.tokens.to(self.device), p.mask.to(self.device)
            encoded = encode(self.student.model.encoder, features, p.batch.context)
            student = decoder_states(self.student.model, tokens, encoded)
            loss = masked_mse(student, reference, mask)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    # --- checkpoints ----------------------------------------------------------------------------------
    def save_checkpoint(self, progress: Progress) -> None:
        """Written aside and swapped in, so a kill mid-save keeps the previous checkpoint."""
        from safetensors.torch import save_file

        final, new, old = self.out / CHECKPOINT, self.out / NEW, self.out / OLD
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir(parents=True)
        state = {k: v.contiguous() for k, v in self.student.model.state_dict().items()}
        save_file(state, new / "student.safetensors")
        torch.save(self.optimizer.state_dict(), new / "optimizer.pt")
        torch.save(rng_state(), new / "rng.pt")
        write_bytes_atomic(new / "progress.json", json.dumps(asdict(progress)).encode())
        write_bytes_atomic(new / "config.json", self.config.to_json().encode())
        if final.exists():
            os.replace(final, old)
        os.replace(new, final)
        shutil.rmtree(old, ignore_errors=True)
        self.sink.emit({"type": "checkpoint", "stage": STAGE, "path": str(final), "step": progress.step})

    def load_checkpoint(self) -> Progress:
        from safetensors.torch import load_file

        folder = self.out / CHECKPOINT
        if not folder.is_dir() and (self.out / OLD).is_dir():
            folder = self.out / OLD  # killed between the two renames
        if not folder.is_dir():
            raise WacftError(f"{self.out} has no checkpoint to resume from; start the run without --resume.")
        require_same_settings(TrainConfig.load(folder / "config.json"), self.config)
        self.student.model.load_state_dict(load_file(folder / "student.safetensors", device=str(self.device)))
        self.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location=self.device))
        set_rng_state(torch.load(folder / "rng.pt"))
        progress = Progress(**json.loads((folder / "progress.json").read_text()))
        log(self.sink, f"resuming at epoch {progress.epoch + 1}, step {progress.step}")
        return progress

    # --- the run --------------------------------------------------------------------------------------
    def run(self, resume: bool = False) -> Path:
        if not resume and (self.out / CHECKPOINT).exists():
            raise WacftError(
                f"{self.out} holds an unfinished run; pass --resume to continue it, or pick another --out."
            )
        if self.config.push_to:
            check_push_access(self.config.push_to, self.config.private)
        progress = self.load_checkpoint() if resume else Progress()
        self.load_data()
        seconds = [c.seconds for c in self.clips]
        plan = [epoch_batches(self.config, seconds, e) for e in range(self.config.epochs)]
        total = sum(len(p) for p in plan)
        log(self.sink, f"{total} steps over {self.config.epochs} epochs on {self.device.type}")
        started, steps_here, clips_here = time.monotonic(), 0, 0
        with ThreadPoolExecutor(1) as pool:
            for epoch in range(progress.epoch, self.config.epochs):
                batches = plan[epoch][progress.batch :]
                for prepared in ordered_map(pool, self.prepare, batches, ahead=PREFETCH):
                    batch = prepared.batch
                    progress.loss = self.step(prepared)
                    progress.step += 1
                    progress.batch += 1
                    if progress.batch == len(plan[epoch]):
                        progress.epoch, progress.batch = epoch + 1, 0
                    progress.clips += len(batch.indices)
                    progress.audio_seconds += sum(seconds[i] for i in batch.indices)
                    steps_here += 1
                    clips_here += len(batch.indices)
                    elapsed = time.monotonic() - started
                    self.sink.emit({
                        "type": "step", "stage": STAGE, "step": progress.step, "total_steps": total,
                        "epoch": epoch + 1, "epochs": self.config.epochs, "loss": progress.loss,
                        "lr": step_lr(self.config), "context": batch.context, "clips": progress.clips,
                        "audio_seconds": progress.audio_seconds, "clips_per_second": clips_here / elapsed,
                        "eta_seconds": elapsed / steps_here * (total - progress.step),
                    })
                    epoch_end = progress.batch == 0
                    if progress.step % self.config.checkpoint_every == 0 or epoch_end:
                        self.save_checkpoint(progress)
        files = self.save_output(progress)
        if self.config.push_to:
            push(self.out, self.config.push_to, files, self.sink)
        self.sink.emit({"type": "done", "stage": STAGE, "out": str(self.out), "final_loss": progress.loss})
        return self.out

    def save_output(self, progress: Progress) -> list[str]:
        """The trained model as a Hugging Face folder that transformers and `wacft convert` load; returns the
        names of its files. Written aside and moved in, then the checkpoint goes."""
        tmp = self.out / ".output.new"
        shutil.rmtree(tmp, ignore_errors=True)
        self.student.save_pretrained(tmp, safe_serialization=True)
        copy_files(self.processor_files, tmp)
        write_bytes_atomic(tmp / "training_config.json", self.config.to_json().encode())
        write_model_card(tmp, self.config, progress.loss, len(self.clips))
        files = sorted(path.name for path in tmp.iterdir())
        for name in files:
            os.replace(tmp / name, self.out / name)
        tmp.rmdir()
        shutil.rmtree(self.out / CHECKPOINT)
        return files


def rng_state() -> dict:
    """Every random source a step can draw from (dropout, where a model has it)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():  # a run begun on a GPU may go on without one
        torch.cuda.set_rng_state_all(state["cuda"])


def require_same_settings(saved: TrainConfig, given: TrainConfig) -> None:
    changed = [f.name for f in fields(TrainConfig)
               if f.name not in RUN_SETTINGS and getattr(saved, f.name) != getattr(given, f.name)]
    if changed:
        raise WacftError(
            f"The run in {given.out} was started with other settings ({', '.join(changed)}); resume it with"
            " the same ones, or start a new run in another --out."
        )


def describe(error: BaseException) -> str:
    if isinstance(error, WacftError):
        return str(error)
    if isinstance(error, KeyboardInterrupt):
        return "Training was interrupted; run it again with --resume to continue from the last checkpoint."
    return f"Training stopped on an unexpected {type(error).__name__}: {error}"


def train(config: TrainConfig, sink: EventSink, resume: bool = False) -> Path:
    """Run ACFT as `config` says; events go to `sink` (an error event too, before the error is raised).
    Returns the output folder."""
    try:
        Path(config.out).mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed)
        return Trainer(config, sink).run(resume=resume)
    except (Exception, KeyboardInterrupt) as e:
        sink.emit({"type": "error", "stage": STAGE, "message": describe(e)})
        raise
