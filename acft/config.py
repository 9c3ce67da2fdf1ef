"""A training run's settings: JSON-serialisable, so a run record, a Modal job and `--resume` share them.
Never holds a token."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args

from wacft.dataset.spec import MAX_CLIP_SECONDS, DatasetSpec
from wacft.errors import WacftError

# settings added since runs were first saved, with what a run saved before them trained with
ADDED_SINCE = {"phone_silence_share": 0.0, "finetune_keep": 1.0, "other_voices": False, "hold_out": False}


# two-stage: cross-entropy on the data, then ACFT from that model; joint: cross-entropy at the clip's own context
# plus an ACFT term towards the frozen base, in one stage
Objective = Literal["two-stage", "joint"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)


@dataclass
class TrainConfig:
    model: str  # hub id or local folder of the base Whisper model
    dataset: str  # hub id or local audiofolder
    out: str  # output folder: checkpoints while training, the trained model at the end
    dataset_config: str | None = None
    split: str = "train"
    audio_column: str | None = None  # found automatically when not given
    text_column: str | None = None
    language: str | None = None  # multilingual models: e.g. "en"; the prefix then carries it
    task: str = "transcribe"
    lowercase: bool = True  # the published loop lower-cases transcripts
    epochs: int = 8  # ACFT epochs
    lr: float = 1e-6  # ACFT, per clip
    # stage 1 (off at 0): learn the data's words with cross-entropy before ACFT
    finetune_epochs: int = 0
    objective: Objective = "two-stage"  # "joint": stage 1 adds an ACFT term towards the frozen base model
    finetune_lr: float | None = None  # None: the usual rate for the model's size
    joint_weight: float = 1.0  # weight of the ACFT term in the joint objective
    freeze_encoder: bool = False  # stage 1 trains the decoder only
    spec_augment: bool = False  # stage 1 masks time and frequency bands of the features
    # stage 1's best weights blended back toward the base's: this share of the change it made is kept (1: all)
    finetune_keep: float = 0.3
    # the person's terms, as FUTO Keyboard's personal dictionary holds them (none: off): on a share of the clips,
    # stage 1 and ACFT put them before the transcript as the phone's glossary prompt, so the model learns to use it
    glossary: list[str] = field(default_factory=list)
    glossary_share: float = 0.5  # of the clips, fixed by the seed
    eval_split: str | None = None  # stage 1 scores this split each epoch; None: a held-out slice of the data
    eval_share: float = 0.1  # that slice's share of the data (at most MAX_EVAL_CLIPS clips)
    hold_out: bool = True  # set clips aside for `wacft verify` that training never sees (acft/held_out.py)
    batch_size: int = 8
    max_audio_length: float = MAX_CLIP_SECONDS
    max_clips: int | None = None
    exact_reference: bool = False  # batch 1, no cache: the published loop, for comparisons
    # share of batches the student sees at the full 1500 context: without it ACFT forgets the full context
    # (measured in bench/bench_quality.py and the README)
    full_context_share: float = 0.25
    # share of the clips laid out as the phone records them, silence before the speech and ~2 s after: without
    # it the student never meets the silent tail the phone always sends, and loops there on short dictations
    # (measured in bench/bench_quality.py and the README)
    phone_silence_share: float = 1.0
    # those clips' silence drawn for each (its length around the phone's, white noise at a level or zeros) rather
    # than the phone's made up of zeros: a candidate measured in bench/bench_quality.py, not the default
    varied_silence: bool = False
    # each batch's context jittered around the one FUTO Keyboard gives whisper.cpp (32 positions past the clip, at
    # least 160) rather than the clip's own: a candidate measured in bench/bench_quality.py, not the default
    phone_context: bool = False
    # those clips' tail drawn for each from none to the phone's 1.98 s (the lead kept): speech that ends the audio,
    # where clips cut close still loop; a candidate measured in bench/bench_quality.py, not the default
    short_tails: bool = False
    # espeak-ng's sentences in other voices mixed into the clips (acft/other_voices.py); None: where the dataset is
    # one voice (other_voices.one_voice), which would otherwise cost other speakers words (docs/quality.md)
    other_voices: bool | None = None
    cache_mb: int = 4096  # memory (on the training device) for each clip's reference states and features
    checkpoint_every: int = 200  # steps
    device: str = "auto"
    seed: int = 0
    push_to: str | None = None
    private: bool = True

    @property
    def dataset_spec(self) -> DatasetSpec:
        """The dataset this run trains on, as reading it needs it."""
        return DatasetSpec(self.dataset, self.dataset_config, self.split, self.audio_column, self.text_column,
                           self.max_clips, self.max_audio_length)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str, saved: bool = False) -> TrainConfig:
        """`saved`: the settings of a run that has trained, which may predate settings added since."""
        data = json.loads(text)
        if saved:
            data = ADDED_SINCE | data
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise WacftError(f"Unknown training settings {sorted(unknown)}; remove them from the config.")
        return cls(**data)

    @classmethod
    def load(cls, path: Path, saved: bool = False) -> TrainConfig:
        try:
            return cls.from_json(path.read_text(), saved)
        except (OSError, ValueError, TypeError) as e:
            raise WacftError(f"The run's config {path} cannot be read ({e}); write it with to_json().") from e
