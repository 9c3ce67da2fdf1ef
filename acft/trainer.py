"""The training run: an optional stage 1 that teaches the model the data's words (cross-entropy, or the
joint objective), then the ACFT loop: a frozen reference at full context teaches a student that sees only
the audio's own context, by matching every decoder hidden state. One run, one event stream, checkpoints and
resume across the stages."""

from __future__ import annotations

import copy
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F

from wacft.acft import finetune, held_out, other_voices
from wacft.acft.batch_inputs import (
    Cached,
    ClipCache,
    Prepared,
    check_language,
    glossary_prompt_ids,
    load_processor,
    pad_tokens,
    tokenize,
)
from wacft.acft.config import TrainConfig
from wacft.acft.context import Batch, jitter_band
from wacft.acft.events import STAGE, EventSink, log
from wacft.acft.finetune import Score
from wacft.acft.model import decoder_states, encode, fit_frames, masked_mse, reference_states
from wacft.acft.outdir import claim_out, training_into
from wacft.acft.phases import Phases
from wacft.acft.plan import Stage, epoch_batches, phone_silence_share, plan_stages, prompted_clips, step_lr
from wacft.acft.publish import check_push_access, processor_files, push
from wacft.acft.run_files import Progress, RunFiles, data_fingerprint, save_weights
from wacft.convert.source import check_trainable
from wacft.dataset.clips import Clip, as_the_phone_records, load_clips
from wacft.errors import WacftError
from wacft.extras import needs_extra
from wacft.facts import (
    FUTO_GLOSSARY_TOKENS,
    FUTO_WIDEST,
    POSITIONS_PER_SECOND,
    SAMPLE_RATE,
    is_multilingual,
    language_code,
    language_name,
)
from wacft.pipeline import ordered_map
from wacft.run_folder import BEST, holds_checkpoint

PREFETCH = 2  # batches decoded and featurised ahead of the training step


class TimeUp(WacftError):
    """The run reached its deadline (a Modal run's budget) and stopped there, its checkpoint kept."""

    def __init__(self, step: int, total: int):
        self.step, self.total = step, total
        super().__init__(f"Training reached its time limit at step {step} of {total} and stopped there; its"
                         " checkpoint is kept, so it can be resumed.")


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


def refuse_non_finite(model: torch.nn.Module, what: str, then: str) -> None:
    """Weights with a NaN or an infinity make every output garbage: named, never trained from nor saved."""
    bad = {name: int((~torch.isfinite(t)).sum()) for name, t in model.state_dict().items()
           if t.is_floating_point() and not torch.isfinite(t).all()}
    if bad:
        raise WacftError(f"{what} {sum(bad.values()):,} NaN or infinite weights (in {len(bad)} tensors, e.g."
                         f" {next(iter(bad))}); {then}")


DETECT_CLIPS = 5  # clips whose language is checked before training


def language_warning(expected: str, heard: list[str]) -> str | None:
    """What to say when the languages Whisper heard in a few clips are mostly not the one expected, or None."""
    others = [code for code in heard if code != expected]
    if len(others) * 2 <= len(heard):
        return None
    most = max(others, key=others.count)  # the first heard, of those heard most
    return (f"the data does not seem to be in {language_name(expected)}: the model hears"
            f" {language_name(most)} in {others.count(most)} of the first {len(heard)} clips; check --language.")


class Trainer:
    def __init__(self, config: TrainConfig, sink: EventSink):
        with needs_extra("train"):
            from transformers import WhisperForConditionalGeneration
            from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # the run's own events report progress
        self.config, self.sink = config, sink
        self.stages = plan_stages(config)
        self.out = Path(config.out)
        self.files = RunFiles(self.out, config)
        self.device = pick_device(config.device)
        # as conversion finds it: a hub id without a network fails here in seconds, a gap in a folder is named
        folder, model_config = check_trainable(config.model)
        try:
            self.processor = load_processor(folder, model_config)
            # float32 whatever the checkpoint holds: lr 1e-6 steps vanish in half precision
            model = WhisperForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
        except (OSError, ValueError) as e:  # files there, but not what transformers can load
            raise WacftError(f"{config.model} cannot be loaded as a Whisper model ({e}); download or save it"
                             " again.") from e
        refuse_non_finite(model, f"{config.model} holds", "it is damaged: download it, or train it, again.")
        check_language(config, is_multilingual(model.config.vocab_size))  # before minutes of reading data
        self.processor_files = processor_files(str(folder))  # found now: the run may end offline
        self.student = model.to(self.device)  # type: ignore[arg-type]  # transformers' wrapper hides .to()'s signature
        self.student.model.train()
        # the frozen base: the joint objective's and a pure ACFT run's reference
        self.reference = copy.deepcopy(self.student.model).eval().requires_grad_(False)
        self.bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.features_on = "cuda" if self.device.type == "cuda" else "cpu"  # where the STFT runs
        self.stage = self.stages[0]
        self.optimizer: torch.optim.Optimizer  # each stage makes its own (start_stage)
        self.cache: ClipCache | None = None
        self.clips: list[Clip] = []
        self.tokens: list[list[int]] = []  # the stage's: ACFT's may be lower-cased, stage 1's never are
        self.acft_tokens: list[list[int]] = []
        self.word_tokens: list[list[int]] = []
        self.held_out: list[Clip] = []
        self.held_out_tokens: list[list[int]] = []
        self.given: list[int] = []  # each clip's tokens that are not learned: its glossary prompt and the prefix
        self.phases = Phases()

    # --- data -----------------------------------------------------------------------------------------
    def load_data(self) -> None:
        if self.student.config.d_model > FUTO_WIDEST:
            log(self.sink, "warning: FUTO Keyboard runs tiny, base and small; larger models may be too slow")
        clips = load_clips(self.config.dataset_spec)
        log(self.sink, f"dataset: {clips.summary()}")
        self.clips = clips.clips
        if self.config.hold_out:
            self.set_aside_for_verify()
        self.check_data_language()
        if other_voices.wanted(self.config):
            mixed = other_voices.other_voice_clips(other_voices.language_of(self.config))
            self.clips = self.clips + mixed
            why = "" if self.config.other_voices else f" (the dataset is {other_voices.one_voice(self.config.dataset)})"
            log(self.sink, f"{len(mixed)} clips of other voices (espeak-ng) mixed in{why}, so that other speakers"
                           " keep what the base model heard in their speech (--no-other-voices leaves them out)")
        if self.config.finetune_epochs > 0:
            self.hold_out_for_stage_1()
        self.clips = as_the_phone_records(self.clips, phone_silence_share(self.config), self.config.seed,
                                          self.config.max_audio_length, self.config.varied_silence,
                                          self.config.short_tails)
        if not self.clips:
            raise WacftError(f"{self.config.dataset} has no clip to train on; check the dataset and how many clips"
                             " it may use.")
        multilingual = is_multilingual(self.student.config.vocab_size)
        # the phone's glossary prompt (its terms keep their case) before a fixed share of the clips, in both stages
        prompted = prompted_clips(self.config, len(self.clips))
        prompt = glossary_prompt_ids(self.processor.tokenizer, self.config.glossary,
                                     self.student.config.max_target_positions) if prompted else []
        if prompted:
            terms = self.config.glossary
            shown = ", ".join(terms[:5]) + (f" and {len(terms) - 5} more" if len(terms) > 5 else "")
            log(self.sink, f"{len(prompted)} clips train with the glossary prompt ({len(terms)} terms: {shown})")
            sent = len(glossary_prompt_ids(self.processor.tokenizer, terms, 1 << 30)) - 1  # uncut
            if sent > FUTO_GLOSSARY_TOKENS:
                log(self.sink, f"warning: the glossary is {sent} tokens, and FUTO Keyboard sends about"
                               f" {FUTO_GLOSSARY_TOKENS} of them: most terms never reach the model on the phone;"
                               " keep the words that matter most")
        # the published loop lower-cases, which is harmless when distilling; stage 1 learns to write what it
        # is taught, so it keeps the transcripts' case ("GitHub", not "github")
        self.acft_tokens = tokenize(self.processor, self.clips, self.config, multilingual, prompt, prompted)
        if self.config.finetune_epochs > 0:
            self.word_tokens = tokenize(self.processor, self.clips, self.config, multilingual, prompt, prompted,
                                        as_written=True)
            self.held_out_tokens = tokenize(self.processor, self.held_out, self.config, multilingual, as_written=True)
        for listed, rows in ((self.clips, self.acft_tokens), (self.clips, getattr(self, "word_tokens", [])),
                             (self.held_out, self.held_out_tokens)):
            self.refuse_long(listed, rows)
        self.prefix = len(self.processor.tokenizer.prefix_tokens)
        self.given = [self.prefix + len(prompt) * (i in prompted) for i in range(len(self.clips))]

    def hold_out_for_stage_1(self) -> None:
        """Stage 1 is scored on clips it never trains on: the --eval-split's, or a share of the clips."""
        if self.config.eval_split:
            held = replace(self.config.dataset_spec, split=self.config.eval_split,
                           max_clips=finetune.MAX_EVAL_CLIPS)
            self.held_out = load_clips(held).clips
            trained = {c.source for c in self.clips}
            if any(c.source in trained for c in self.held_out):  # a folder has no splits: both read it all
                raise WacftError(f"--eval-split {self.config.eval_split} holds clips that training reads too, so"
                                 " stage 1 would be scored on clips it trains on; give a split of other clips,"
                                 " or drop --eval-split to hold out a share.")
        else:
            self.clips, self.held_out = finetune.hold_out(self.clips, self.config.eval_share, self.config.seed)
        log(self.sink, f"{len(self.held_out)} clips held out to score stage 1, {len(self.clips)} to train on")

    def refuse_long(self, clips: list[Clip], rows: list[list[int]]) -> None:
        """The decoder has a position for each of `max_target_positions` tokens and no more."""
        limit = self.student.config.max_target_positions
        for clip, row in zip(clips, rows, strict=False):  # no rows: a stage that is not run
            if len(row) > limit:
                raise WacftError(f"The transcript of {clip.name} is {len(row)} tokens long (with the model's own"
                                 f" tokens); {self.config.model} reads at most {limit}: shorten it, or leave that"
                                 " clip out.")

    def check_data_language(self) -> None:
        """A multilingual model's own language detection on the first few clips: a warning when most of them do
        not sound like the language given (a wrong --language teaches the model to write one language under
        another's token)."""
        if not is_multilingual(self.student.config.vocab_size) or not self.clips:
            return
        clips = self.clips[:DETECT_CLIPS]
        with torch.no_grad():
            ids = self.student.detect_language(input_features=self.features(clips).to(self.device))
        heard = [token.strip("<|>") for token in self.processor.tokenizer.convert_ids_to_tokens(ids.flatten().tolist())]
        expected = language_code(self.config.language)
        assert expected is not None  # a multilingual run without its language was refused (check_language)
        warning = language_warning(expected, heard)
        if warning:
            log(self.sink, f"warning: {warning}")

    def set_aside_for_verify(self) -> None:
        """The clips `wacft verify --run` judges the model on, which it never trains on (acft/held_out.py)."""
        self.clips, slice_ = held_out.set_aside(self.clips, self.config.seed)
        self.out.mkdir(parents=True, exist_ok=True)
        held_out.write(self.out, slice_)
        self.sink.emit({"type": "held_out", "of": slice_["of"], "clips": slice_["clips"]})
        if slice_["clips"]:
            log(self.sink, f"{len(slice_['clips'])} clips set aside for `wacft verify`; training never sees them")
        else:
            log(self.sink, f"too few clips ({slice_['of']}) to set any aside: `wacft verify` will measure on clips the"
                           " model trained on")

    def cached_frames(self, i: int) -> int:
        """Mel frames kept for clip i: two per position of the widest context its jitter band allows."""
        return 2 * (jitter_band(self.clips[i].seconds, self.config.phone_context)[1] - 1)

    def cached(self, i: int) -> Cached | None:
        return self.cache.get(i) if self.cache is not None else None

    def features(self, clips: list[Clip]) -> torch.Tensor:
        features: torch.Tensor = self.processor.feature_extractor(
            [c.audio for c in clips], sampling_rate=SAMPLE_RATE, return_tensors="pt", device=self.features_on
        ).input_features
        return features

    def prepare(self, batch: Batch) -> Prepared:
        """Decode and featurise what the cache lacks, pad the tokens (on the helper thread, ahead of the
        step). A full-context batch needs more frames than are cached, so it featurises afresh."""
        entries = [self.cached(i) for i in batch.indices]
        needed = 2 * batch.context
        extracted = [r for r, e in enumerate(entries) if e is None or e.features.shape[-1] < needed]
        features = self.features([self.clips[batch.indices[r]] for r in extracted]) if extracted else None
        tokens, mask = pad_tokens([self.tokens[i] for i in batch.indices], self.processor.tokenizer.eos_token_id)
        given = torch.tensor([self.given[i] for i in batch.indices])
        return Prepared(batch, tokens, mask, given, extracted, features)

    # --- one step -------------------------------------------------------------------------------------
    def inputs(self, p: Prepared) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The student's mel input and, when the stage distils, the reference's states for a batch: from the
        cache where it has them, computed (and cached) where not. A clip missing from the cache now was
        missing when it was prepared, so its features were extracted."""
        indices = p.batch.indices
        extracted = dict(zip(p.extracted, p.features.to(self.device), strict=True)) if p.features is not None else {}
        if not self.stage.distil:  # nothing is cached: every row was extracted
            return torch.stack([fit_frames(extracted[r], p.batch.context) for r in range(len(indices))]), None
        entries = [self.cached(i) for i in indices]
        fresh = [r for r, entry in enumerate(entries) if entry is None]
        if fresh:
            features = torch.stack([extracted[r] for r in fresh])
            states = reference_states(self.reference, features, p.tokens[fresh].to(self.device))
            for k, r in enumerate(fresh):
                i = indices[r]
                frames = extracted[r][:, : self.cached_frames(i)]
                entry = entries[r] = Cached(states[:, k, : len(self.tokens[i])], frames)
                if self.cache is not None:  # copies, so the cache does not hold on to the whole batch
                    self.cache.put(i, Cached(entry.states.clone(), entry.features.clone()))
        filled = cast("list[Cached]", entries)  # every row's, now
        frames = [extracted.get(r, entry.features) for r, entry in enumerate(filled)]
        student = torch.stack([fit_frames(f, p.batch.context) for f in frames])
        longest = p.tokens.shape[1]
        padded = [F.pad(entry.states, (0, 0, 0, longest - entry.states.shape[1])) for entry in filled]
        return student, torch.stack(padded, dim=1)

    def step(self, p: Prepared, step: int) -> float:
        stage, context = self.stage, p.batch.context
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            features, reference = self.inputs(p)
            if stage.words and self.config.spec_augment:
                rng = random.Random(f"{self.config.seed}:augment:{step}")
                features = finetune.spec_augment(features, [self.clips[i].seconds for i in p.batch.indices], rng)
            tokens, mask = p.tokens.to(self.device), p.mask.to(self.device)
            with torch.set_grad_enabled(self.encoder_learns):
                encoded = encode(self.student.model.encoder, features, context)
            states = decoder_states(self.student.model, tokens, encoded)
            loss = torch.zeros((), device=self.device)
            if stage.distil:
                assert reference is not None  # inputs() gives it where the stage distils
                loss = loss + stage.distil * masked_mse(states, reference, mask)
            if stage.words:  # the last state is the decoder's output, which proj_out turns into logits
                loss = loss + finetune.words_loss(self.student.proj_out(states[-1]), tokens, mask, p.given)
        if not torch.isfinite(loss):  # stopped before the step: the weights (and the last checkpoint) stay finite
            clips = ", ".join(self.clips[i].name for i in p.batch.indices[:3])
            raise WacftError(f"Training stopped at step {step + 1}: the loss is {loss.item()} on {clips}; lower"
                             f" the learning rate (--lr, --finetune-lr), or leave those clips out.")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if stage.words:
            torch.nn.utils.clip_grad_norm_(self.trainable(), finetune.MAX_GRAD_NORM)
        self.optimizer.step()
        return loss.item()

    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.student.model.parameters() if p.requires_grad]

    # --- stages ---------------------------------------------------------------------------------------
    def start_stage(self, stage: Stage, steps: int) -> None:
        """What a stage trains, with what, towards which reference."""
        self.stage = stage
        self.tokens = self.word_tokens if stage.words else self.acft_tokens
        self.encoder_learns = not (stage.words and self.config.freeze_encoder)
        encoder = self.student.model.encoder
        encoder.requires_grad_(self.encoder_learns)
        # the sinusoidal table stays as transformers loads it (frozen) and FUTO's loop leaves it: whisper.cpp
        # cuts it to audio_ctx, so every row must stay the one the rest of the encoder was trained with
        encoder.embed_positions.requires_grad_(False)
        exact = stage.name == STAGE and self.config.exact_reference
        # one kernel for every parameter: on a CPU a fifth of the time of a step of Adam as the published loop runs
        # it (tiny.en: 30 ms against 147), the same update to rounding
        fused = not exact and self.device.type in ("cpu", "cuda")
        if stage.words:  # AdamW with warm-up and decay, as fine-tuning is usually done
            self.schedule = finetune.warmup_then_decay(steps)
            self.optimizer = torch.optim.AdamW(self.trainable(), lr=self.stage_lr(0),
                                               weight_decay=finetune.WEIGHT_DECAY, fused=fused)
        else:  # ACFT as published: Adam at a constant rate
            self.optimizer = torch.optim.Adam(self.trainable(), lr=step_lr(self.config), fused=fused)
        if stage.name == STAGE and self.config.finetune_epochs > 0:  # ACFT keeps stage 1's words
            self.reference.load_state_dict(self.stage_one_weights())
        self.autocast = self.bf16 and not exact
        self.cache = ClipCache(self.config.cache_mb << 20) if stage.distil and not exact else None

    def stage_lr(self, stage_step: int) -> float:
        if not self.stage.words:
            return step_lr(self.config)
        base = finetune.stage_lr(self.config, self.student.config.d_model)
        return base * self.schedule(stage_step)

    def evaluate(self, epoch: int) -> Score:
        """Stage 1's score for an epoch: held-out loss at full context, and WER by greedy decoding."""
        from wacft.verify.normalize import normalizer, word_error_rate

        clips, size = self.held_out, self.config.batch_size
        self.student.eval()
        losses, counts, heard = [], [], []
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            for start in range(0, len(clips), size):
                batch = clips[start : start + size]
                features = self.features(batch).to(self.device)
                tokens, mask = pad_tokens(self.held_out_tokens[start : start + size],
                                          self.processor.tokenizer.eos_token_id)
                tokens, mask = tokens.to(self.device), mask.to(self.device)
                logits = self.student(input_features=features, decoder_input_ids=tokens).logits
                losses.append(finetune.words_loss(logits, tokens, mask, self.prefix).item())
                counts.append(int(mask[:, self.prefix :].sum()))
                if start < finetune.WER_CLIPS:
                    heard += self.transcribe(features, max(c.seconds for c in batch))
        self.student.model.train()
        norm = normalizer(language_code(self.config.language) or "en")
        references = [norm(c.text) for c in clips[: len(heard)]]  # only the first batches (WER_CLIPS) were decoded
        wer = word_error_rate(references, [norm(h) for h in heard], "train")
        return Score(epoch, sum(x * n for x, n in zip(losses, counts, strict=True)) / max(1, sum(counts)), wer)

    def transcribe(self, features: torch.Tensor, seconds: float) -> list[str]:
        multilingual = is_multilingual(self.student.config.vocab_size)
        options = {"language": language_code(self.config.language), "task": self.config.task} if multilingual else {}
        cap = min(finetune.MAX_NEW_TOKENS, finetune.TOKEN_MARGIN + int(finetune.TOKENS_PER_SECOND * seconds))
        tokens = self.student.generate(features, max_new_tokens=cap, **options)
        texts: list[str] = self.processor.batch_decode(tokens, skip_special_tokens=True)
        return texts

    def end_of_epoch(self, progress: Progress, epoch: int) -> None:
        """Stage 1 scores the epoch on the held-out clips and keeps the best one."""
        if not self.stage.words:
            return
        score = self.evaluate(epoch + 1) if self.held_out else Score(epoch + 1, 0.0, 0.0)
        best = Score(**progress.best) if progress.best else None
        improved = not self.held_out or score.better_than(best)
        if improved:
            save_weights(self.student.model, self.out / BEST)
            progress.best = asdict(score)
        self.sink.emit({"type": "eval", "stage": self.stage.name, "epoch": epoch + 1, "loss": score.loss,
                        "wer": score.wer, "best": improved})
        if self.held_out:
            log(self.sink, f"stage 1 epoch {epoch + 1}: {score.describe()}" + (" (best so far)" if improved else ""))

    def end_of_stage(self, progress: Progress) -> None:
        """After stage 1 the student goes on from its best epoch, blended back toward the base."""
        if self.stage.words:
            self.student.model.load_state_dict(self.stage_one_weights())
            if self.held_out and progress.best:  # (held-out clips: each epoch was scored, the first kept)
                best = Score(**progress.best)
                share = f"; {self.config.finetune_keep:.0%} of its change kept" if self.config.finetune_keep < 1 else ""
                log(self.sink, f"stage 1 keeps epoch {best.epoch}: {best.describe()}{share}")

    def stage_one_weights(self) -> dict[str, torch.Tensor]:
        """Stage 1's best epoch, keeping `finetune_keep` of the change it made to the base (which the reference
        still is when this is asked): what the person's voice needs stays, what every other voice relied on
        moves back."""
        from safetensors.torch import load_file

        best, keep = load_file(self.out / BEST, device=str(self.device)), self.config.finetune_keep
        if keep == 1:
            return best
        base = self.reference.state_dict()
        return {name: torch.lerp(base[name], weights, keep) for name, weights in best.items()}

    def save_checkpoint(self, progress: Progress) -> None:
        with self.phases.timing("checkpoint"):
            final = self.files.save_checkpoint(self.student.model, self.optimizer, progress)
        self.sink.emit({"type": "checkpoint", "stage": self.stage.name, "path": str(final), "step": progress.step,
                        "phases": self.phases.sums()})

    # --- the run --------------------------------------------------------------------------------------
    def run(self, resume: bool = False, deadline: float | None = None) -> Path:
        """Train every stage; past `deadline` (time.monotonic()) it checkpoints at the next step and raises
        TimeUp."""
        if self.config.push_to:
            check_push_access(self.config.push_to, self.config.private)
        folder = self.files.checkpoint_folder() if resume else None
        progress = Progress(**json.loads((folder / "progress.json").read_text())) if folder else Progress()
        self.load_data()
        seconds = [c.seconds for c in self.clips]
        recorded = [c.seconds - sum(c.silence) for c in self.clips]  # the audio seen: not the silence added
        # each epoch planned as it starts (a plan of every epoch up front grows without bound with --epochs); an
        # epoch's batches differ in order and context only, so every epoch of a stage has as many
        per_epoch = [len(epoch_batches(self.config, seconds, 0, s.name)) for s in self.stages]
        steps = [s.epochs * n for s, n in zip(self.stages, per_epoch, strict=True)]
        total = sum(steps)
        data = data_fingerprint(self.clips)
        if folder and progress.data not in (None, data):  # None: a checkpoint from before it was kept
            raise WacftError(f"The clips of {self.config.dataset} changed since the checkpoint in {self.out} was"
                             f" taken ({total} steps planned now); resume with the data as it was, or pass --force"
                             " instead of --resume to start over on the data as it is.")
        progress.data = data
        names = " then ".join(f"{s.name} ({s.epochs} epochs)" for s in self.stages)
        log(self.sink, f"{total} steps: {names}, on {self.device.type}")
        first = [s.name for s in self.stages].index(progress.stage) if progress.stage else 0
        if folder:
            log(self.sink, f"resuming {progress.stage} at epoch {progress.epoch + 1}, step {progress.step}")
        pace = Pace(total)
        before = sum(steps[:first])  # steps of the stages already done
        for k in range(first, len(self.stages)):
            stage = self.stages[k]
            self.start_stage(stage, steps[k])
            if folder:  # the stage the checkpoint was taken in
                self.files.load_checkpoint(folder, self.student.model, self.optimizer, self.device)
                folder = None
            progress.stage = stage.name
            self.train_stage(stage, progress, seconds, recorded, before, pace, deadline)
            self.end_of_stage(progress)  # a run resumed after a stage's last epoch comes straight here
            before += steps[k]
            progress.epoch = progress.batch = 0
        return self.finish(progress)

    def train_stage(self, stage: Stage, progress: Progress, seconds: list[float], recorded: list[float], before: int,
                    pace: Pace, deadline: float | None) -> None:
        """The stage's epochs from where `progress` stands (`before`: the steps of the stages done); past `deadline`
        it checkpoints and raises TimeUp."""
        with ThreadPoolExecutor(1) as pool:
            for epoch in range(progress.epoch, stage.epochs):
                plan = epoch_batches(self.config, seconds, epoch, stage.name)
                batches = ordered_map(pool, self.prepare, plan[progress.batch :], ahead=PREFETCH)
                for prepared in self.phases.waited(batches, "data"):
                    batch = prepared.batch
                    lr = self.stage_lr(progress.step - before)
                    for group in self.optimizer.param_groups:
                        group["lr"] = lr
                    progress.loss = self.step(prepared, progress.step)
                    count_step(progress, batch, len(plan), epoch, recorded, stage.distil)
                    rate, eta = pace.step(len(batch.indices), progress.step)
                    self.sink.emit({
                        "type": "step", "stage": stage.name, "step": progress.step, "total_steps": pace.total,
                        "epoch": epoch + 1, "epochs": stage.epochs, "loss": progress.loss, "lr": lr,
                        "context": batch.context, "clips": progress.clips,
                        "audio_seconds": progress.audio_seconds, "clips_per_second": rate, "eta_seconds": eta,
                    })
                    epoch_end = progress.batch == 0
                    if epoch_end:
                        with self.phases.timing("eval"):
                            self.end_of_epoch(progress, epoch)
                    out_of_time = deadline is not None and time.monotonic() >= deadline
                    if progress.step % self.config.checkpoint_every == 0 or epoch_end or out_of_time:
                        self.save_checkpoint(progress)
                    if out_of_time:
                        raise TimeUp(progress.step, pace.total)

    def finish(self, progress: Progress) -> Path:
        """The trained model checked, saved and pushed where asked; the done event."""
        if progress.contexts:
            low, high = progress.contexts
            seconds = f"{low / POSITIONS_PER_SECOND:.2f}-{high / POSITIONS_PER_SECOND:.2f} s"
            log(self.sink, f"contexts covered: {low}-{high} positions ({seconds} of audio)")
        refuse_non_finite(self.student, "Training diverged: the trained model holds",
                          "lower the learning rate (--lr, --finetune-lr) and train again.")
        files = self.files.save_output(self.student, self.processor, self.processor_files, progress, len(self.clips))
        if self.config.push_to:
            push(self.out, self.config.push_to, files, self.sink)
        self.sink.emit({"type": "done", "stage": self.stage.name, "out": str(self.out),
                        "final_loss": progress.loss, "contexts": progress.contexts, "best": progress.best,
                        "phases": self.phases.sums()})
        return self.out

@dataclass
class Pace:
    """The steps and clips trained in this process (a resumed run counts from where it resumed), for the rate and the
    ETA."""

    total: int  # the run's steps
    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    clips: int = 0

    def step(self, clips: int, done: int) -> tuple[float, float]:
        """Counts a step of `clips` clips; clips a second, and the seconds left with `done` of the run's steps done."""
        self.steps += 1
        self.clips += clips
        elapsed = time.monotonic() - self.started
        return self.clips / elapsed, elapsed / self.steps * (self.total - done)


def count_step(progress: Progress, batch: Batch, batches: int, epoch: int, recorded: list[float],
               distil: float) -> None:
    """`progress` past one step: `batch`, of the epoch's `batches`; `recorded`: each clip's seconds of audio."""
    progress.step += 1
    progress.batch += 1
    if progress.batch == batches:
        progress.epoch, progress.batch = epoch + 1, 0
    progress.clips += len(batch.indices)
    progress.audio_seconds += sum(recorded[i] for i in batch.indices)
    if distil:
        low, high = progress.contexts or (batch.context, batch.context)
        progress.contexts = [min(low, batch.context), max(high, batch.context)]


def describe(error: BaseException, out: Path) -> str:
    if isinstance(error, WacftError):
        return str(error)
    if isinstance(error, KeyboardInterrupt):
        if holds_checkpoint(out):
            return f"Training was stopped; run it again with --resume to continue {out} from its last checkpoint."
        return "Training was stopped before its first checkpoint; nothing was kept, run it again to start over."
    return f"Training stopped on an unexpected {type(error).__name__}: {error}"


def train(config: TrainConfig, sink: EventSink, resume: bool = False, force: bool = False,
          deadline: float | None = None) -> Path:
    """Run ACFT as `config` says; events go to `sink` (an error event too, before the error is raised).
    `force` trains over a model or a finished run in the output folder; past `deadline` (time.monotonic()) the
    run checkpoints and stops (TimeUp). Returns the output folder."""
    trainer = None
    try:
        # here, so the CLI, the wizard's local runs and the Modal job all get the same checks
        claim_out(config, resume, force)
        with training_into(Path(config.out)):
            torch.manual_seed(config.seed)
            trainer = Trainer(config, sink)
            return trainer.run(resume=resume, deadline=deadline)
    except (Exception, KeyboardInterrupt) as e:
        stage = trainer.stage.name if trainer else STAGE
        message = describe(e, Path(config.out))
        sink.emit({"type": "error", "stage": stage, "message": message})
        if isinstance(e, KeyboardInterrupt):  # still an interrupt, now saying what was kept
            raise KeyboardInterrupt(message) from e
        raise
