"""Stage 1: teaching the model the data's words with cross-entropy, as Whisper fine-tuning is usually done
(AdamW, warm-up then linear decay, clipped gradients, a held-out slice scored every epoch, the best epoch
kept). ACFT then distils from the result, so the words survive it."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used, so the estimate can read this module's settings
    import torch

    from wacft.acft.config import TrainConfig
    from wacft.dataset.clips import Clip

# the learning rates commonly used to fine-tune each Whisper size (about 1/40 of its pre-training rate),
# by d_model: tiny, base, small, medium, large
SIZE_LR = {384: 3.75e-5, 512: 2.5e-5, 768: 1.25e-5, 1024: 6.25e-6, 1280: 4.375e-6}
WARMUP_SHARE = 0.1  # of the stage's steps
MAX_GRAD_NORM = 1.0
WEIGHT_DECAY = 0.01
MAX_EVAL_CLIPS = 200
WER_CLIPS = 32  # greedy decoding is slow: WER is scored on this many held-out clips
# decoding stops at a cap that follows the clip's length, far above what anyone says in that time
TOKENS_PER_SECOND, TOKEN_MARGIN, MAX_NEW_TOKENS = 10, 16, 440
FRAMES_PER_SECOND = 100  # mel frames
# SpecAugment (LibriSpeech's LD policy, time masks capped by the clip's length so short clips survive)
FREQ_MASKS, FREQ_WIDTH = 2, 27 / 80  # of the mel bins
TIME_MASKS, TIME_WIDTH, TIME_SHARE = 2, 100, 0.2  # frames, and at most this share of the clip


def stage_lr(config: TrainConfig, d_model: int) -> float:
    if config.finetune_lr is not None:
        return config.finetune_lr
    nearest = min(SIZE_LR, key=lambda width: abs(width - d_model))
    return SIZE_LR[nearest]


def warmup_then_decay(total_steps: int) -> Callable[[int], float]:
    """The factor on the learning rate at each step: linear warm-up, then linear decay to zero."""
    warmup = max(1, round(WARMUP_SHARE * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return factor


def held_out_count(clips: int, share: float) -> int:
    return 0 if clips < 2 else min(MAX_EVAL_CLIPS, max(1, round(share * clips)), clips - 1)


def hold_out(clips: list[Clip], share: float, seed: int) -> tuple[list[Clip], list[Clip]]:
    """A fixed random slice of the clips for scoring (at least one, at most MAX_EVAL_CLIPS), the rest for
    training. The same seed holds out the same clips, so a resumed run scores what it scored before."""
    count = held_out_count(len(clips), share)
    if not count:
        return clips, []
    held = set(random.Random(f"{seed}:held-out").sample(range(len(clips)), count))
    return [c for i, c in enumerate(clips) if i not in held], [c for i, c in enumerate(clips) if i in held]


def spec_augment(features: torch.Tensor, seconds: list[float], rng: random.Random) -> torch.Tensor:
    """Zero random frequency bands and time spans of each clip's own frames (never of the padding)."""
    features = features.clone()
    bins = features.shape[1]
    for row, length in enumerate(seconds):
        frames = min(features.shape[-1], max(1, int(length * FRAMES_PER_SECOND)))
        for _ in range(FREQ_MASKS):
            width = rng.randint(0, int(FREQ_WIDTH * bins))
            start = rng.randint(0, bins - width)
            features[row, start : start + width, :frames] = 0
        for _ in range(TIME_MASKS):
            width = rng.randint(0, min(TIME_WIDTH, int(TIME_SHARE * frames)))
            start = rng.randint(0, frames - width)
            features[row, :, start : start + width] = 0
    return features


def words_loss(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor, prefix: int | torch.Tensor
               ) -> torch.Tensor:
    """Teacher-forced cross-entropy on the transcript and <|endoftext|>: position t predicts token t + 1.
    The first `prefix` tokens of a row (its glossary prompt if any, then start, language, task, no-timestamps) are
    given at inference, so they are not learned; padding is ignored. `prefix`: one count, or one a row."""
    import torch
    import torch.nn.functional as F

    targets = tokens[:, 1:].masked_fill(~mask[:, 1:], -100)
    positions = torch.arange(targets.shape[1], device=tokens.device)[None, :]
    targets = targets.masked_fill(positions < torch.as_tensor(prefix, device=tokens.device).reshape(-1, 1) - 1, -100)
    return F.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets, ignore_index=-100)


@dataclass
class Score:
    epoch: int
    loss: float  # cross-entropy on the held-out clips at full context
    wer: float  # greedy decoding of up to WER_CLIPS of them

    def better_than(self, other: Score | None) -> bool:
        return other is None or (self.wer, self.loss) < (other.wer, other.loss)

    def describe(self) -> str:
        return f"held-out loss {self.loss:.4g}, WER {self.wer:.1%}"
