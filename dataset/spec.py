"""Which dataset, and how to read it: the settings reading clips needs (`dataset.clips.load_clips`), apart from
training's, so the wizard and `wacft verify` read a dataset without making up a training run. Standard library
only: the wizard imports it at start."""

from __future__ import annotations

from dataclasses import dataclass

TEXT_COLUMNS = ("text", "sentence", "transcription", "raw_transcription", "normalized_text", "transcript")
AUDIO_COLUMNS = ("audio", "file_name", "path", "file")  # looked for in this order where none is named
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id", "spk_id")  # Common Voice names its speakers client_id
MAX_CLIP_SECONDS = 29.0  # longer clips are skipped: Whisper's 30 s window, less room for the tokens' timing


@dataclass(frozen=True)
class DatasetSpec:
    dataset: str  # hub id (`owner/name`, with `@revision` if wanted) or a local folder
    dataset_config: str | None = None
    split: str = "train"
    audio_column: str | None = None  # found automatically when not given
    text_column: str | None = None
    max_clips: int | None = None
    max_audio_length: float = MAX_CLIP_SECONDS
