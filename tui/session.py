"""Where a person is in the wizard: their choices and results, saved after each step so the next start
offers to carry on."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from wacft.atomic import write_bytes_atomic
from wacft.errors import WacftError
from wacft.facts import DEFAULT_GPU
from wacft.paths import session_file
from wacft.services.datasets import DatasetSpec
from wacft.services.settings import default, parse_glossary, train_settings


@dataclass
class Session:
    dataset: str = ""
    record_folder: str = ""  # where the record step keeps the person's clips
    dataset_config: str = ""
    split: str = default("split")
    model: str = "openai/whisper-base.en"
    language: str = ""
    audio_column: str = ""  # "" : found by the dataset check
    text_column: str = ""
    dataset_clips: int = 0  # from the last check: what the estimate counts on
    dataset_seconds: float = 0.0
    dataset_partial: bool = False  # the check stopped reading a hub dataset after its first clips
    epochs: int = default("epochs")
    lr: float = default("lr")
    finetune_epochs: int = default("finetune_epochs")  # stage 1 (cross-entropy on the transcripts) before ACFT
    objective: str = default("objective")  # or "joint"
    freeze_encoder: bool = default("freeze_encoder")
    other_voices: bool | None = None  # espeak-ng's voices mixed in; None: as the dataset asks (one voice)
    batch_size: int = default("batch_size")
    max_audio_length: float = default("max_audio_length")
    where: str = "local"  # or "modal"
    gpu: str = DEFAULT_GPU
    max_hours: float | None = None  # a Modal run's time limit; None: Modal's function timeout, 24 h
    push_to: str = ""
    out: str = ""  # as the person typed it; "" follows the model (services.settings.default_out)
    run_id: str = ""
    trained: str = ""  # the trained model folder
    bins: dict = field(default_factory=dict)  # type -> converted file
    verified: dict = field(default_factory=dict)  # the file verified last: file, stamp (stamp_of), state, verdict
    glossary: str = ""  # the person's words, "a, b": FUTO Keyboard prompts with its personal dictionary
    step: str = "dataset"  # the screen to come back to

    def dataset_spec(self, max_clips: int | None = None, dataset: str = "") -> DatasetSpec:
        """`dataset` (default: the session's) read as the dataset step says (its empty fields: found by the check)."""
        return DatasetSpec(dataset or self.dataset, self.dataset_config or None, self.split, self.audio_column or None,
                           self.text_column or None, max_clips, self.max_audio_length)

    def settings(self):
        """The run the session describes (a TrainConfig): every setting it does not hold at TrainConfig's default.
        The glossary's terms train with it: the phone prompts with them (see the README on the glossary)."""
        return train_settings({**asdict(self), "glossary": list(parse_glossary(self.glossary))})

    def save(self) -> str | None:
        """Returns what kept it from being saved (a read-only data folder): the wizard goes on without it."""
        path = session_file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, json.dumps(asdict(self), indent=2).encode())
        except (OSError, WacftError) as e:
            why = getattr(e if isinstance(e, OSError) else e.__cause__, "strerror", None) or "not writable"
            return (f"Your place in the wizard cannot be saved in {path.parent} ({why}); the next start will not"
                    " offer to carry on. Set WACFT_HOME to a folder you can write to.")
        return None

    @classmethod
    def load(cls) -> Session:
        try:
            data = json.loads(session_file().read_text())
        except (OSError, ValueError):
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
