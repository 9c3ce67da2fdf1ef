"""What a run does, in order: its stages, each epoch's batches (a pure function of the seed, so resume is exact)
and the ACFT learning rate. Nothing here imports torch."""

from __future__ import annotations

import random
from dataclasses import dataclass

from wacft.acft.config import OBJECTIVES, TrainConfig
from wacft.acft.context import Batch, bucket, draw_context
from wacft.acft.events import STAGE
from wacft.errors import WacftError
from wacft.facts import FULL_CONTEXT


@dataclass(frozen=True)
class Stage:
    name: str  # "finetune", "joint" or "acft": each event names it
    epochs: int
    words: bool  # cross-entropy on the transcripts
    distil: float  # weight of the ACFT term towards the frozen reference (0: none)


def plan_stages(config: TrainConfig) -> list[Stage]:
    if config.objective not in OBJECTIVES:
        raise WacftError(f"{config.objective!r} is not a training objective; use {' or '.join(OBJECTIVES)}.")
    stages = []
    if config.finetune_epochs > 0:
        joint = config.objective == "joint"
        stages.append(Stage("joint" if joint else "finetune", config.finetune_epochs, True,
                            config.joint_weight if joint else 0.0))
    if config.epochs > 0:
        stages.append(Stage(STAGE, config.epochs, False, 1.0))
    if not stages:
        raise WacftError("There is nothing to train with 0 epochs; give --epochs or --finetune-epochs.")
    return stages


def epoch_batches(config: TrainConfig, seconds: list[float], epoch: int, stage: str = STAGE) -> list[Batch]:
    """The batches of one epoch, a pure function of (seed, stage, epoch): what makes resume exact."""
    if stage == "finetune":  # fine-tuning as usual: shuffled batches at the full 30 s context
        order = list(range(len(seconds)))
        random.Random(f"{config.seed}:{stage}:{epoch}").shuffle(order)
        starts = range(0, len(order), config.batch_size)
        return [Batch(tuple(order[i : i + config.batch_size]), FULL_CONTEXT) for i in starts]
    rng = random.Random(f"{config.seed}:{epoch}" if stage == STAGE else f"{config.seed}:{stage}:{epoch}")
    if config.exact_reference and stage == STAGE:  # the published loop: one clip a step, its own context
        order = list(range(len(seconds)))
        rng.shuffle(order)
        return [Batch((i,), draw_context(seconds[i], rng)) for i in order]
    return bucket(seconds, config.batch_size, rng, config.full_context_share, config.phone_context)


def phone_silence_share(config: TrainConfig) -> float:
    """The published loop trains on the clips as they are."""
    return 0.0 if config.exact_reference else config.phone_silence_share


def step_lr(config: TrainConfig) -> float:
    """ACFT's `lr` is per clip, as published. Adam's step barely depends on the batch, so a batch of B clips
    takes B times the step: at equal epochs the student then travels as far as in the one-clip loop."""
    return config.lr * (1 if config.exact_reference else config.batch_size)


def prompted_clips(config: TrainConfig, count: int) -> frozenset[int]:
    """The clips trained with the glossary prompt: a fixed share, the same in every stage and epoch (so a clip's
    cached reference states hold for its tokens) and for the same seed (so resume is exact)."""
    if not config.glossary:
        return frozenset()
    share = round(config.glossary_share * count)
    return frozenset(random.Random(f"{config.seed}:glossary").sample(range(count), share))
