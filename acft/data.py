"""Training clips from a Hugging Face hub dataset or a local audiofolder, decoded without FFmpeg.

A local folder follows the `audiofolder` convention: audio files plus `metadata.csv` or `metadata.jsonl`
naming each file (`file_name`) and its transcript. Only each file's header is read up front (its length
decides its context and whether it is skipped); the audio is decoded when a batch needs it, so a dataset
never sits decoded in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wacft.audio import load_audio, to_whisper_audio
from wacft.errors import WacftError
from wacft.extras import needs_extra

TEXT_COLUMNS = ("text", "sentence", "transcription", "raw_transcription", "normalized_text", "transcript")
AUDIO_COLUMNS = ("audio", "file_name", "path", "file")
METADATA_FILES = ("metadata.csv", "metadata.jsonl")
UNDECODABLE = "undecodable audio"


def decode(source: Path | bytes) -> np.ndarray:
    """An audio file, or an encoded file's bytes, as float32 mono at 16 kHz."""
    if isinstance(source, Path):
        return load_audio(source)
    with needs_extra("data"):
        import soundfile

    try:
        samples, rate = soundfile.read(io.BytesIO(source), dtype="float32")
    except (soundfile.LibsndfileError, RuntimeError) as e:
        raise WacftError(f"A clip of the dataset cannot be decoded ({e}); use wav, flac, ogg or mp3.") from e
    return to_whisper_audio(samples, rate)


def duration(source: Path | bytes) -> float:
    """Seconds of audio, from the file's header alone."""
    with needs_extra("data"):
        import soundfile

    info = soundfile.info(source if isinstance(source, Path) else io.BytesIO(source))
    return info.frames / info.samplerate


@dataclass
class Clip:
    source: Path | bytes  # an audio file, or an encoded file's bytes (hub datasets)
    text: str
    seconds: float

    @property
    def audio(self) -> np.ndarray:
        """Decoded afresh on each use."""
        return decode(self.source)


@dataclass
class Clips:
    clips: list[Clip]
    skipped: Counter = field(default_factory=Counter)  # reason -> count

    def summary(self) -> str:
        hours = sum(c.seconds for c in self.clips) / 3600
        skipped = ", ".join(f"{n} {reason}" for reason, n in self.skipped.items()) or "none"
        return f"{len(self.clips)} clips ({hours:.2f} h of audio); skipped: {skipped}"


def pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], kind: str, name: str
                ) -> str:
    if wanted:
        if wanted not in columns:
            raise WacftError(f"{name} has no {kind} column {wanted!r}; its columns are {', '.join(columns)}.")
        return wanted
    for candidate in candidates:
        if candidate in columns:
            return candidate
    raise WacftError(
        f"{name} has no {kind} column (looked for {', '.join(candidates)}); its columns are"
        f" {', '.join(columns)}; name the right one with --{kind}-column."
    )


def _local_rows(folder: Path) -> list[dict]:
    path = next(folder / name for name in METADATA_FILES if (folder / name).is_file())
    with open(path, newline="", encoding="utf-8") as f:
        if path.suffix == ".csv":
            return list(csv.DictReader(f))
        return [json.loads(line) for line in f if line.strip()]


def _local_examples(folder: Path, audio_column: str | None, text_column: str | None) -> Iterator[tuple]:
    rows = _local_rows(folder)
    if not rows:
        raise WacftError(f"The metadata in {folder} lists no clips; add a row per audio file.")
    columns = list(rows[0])
    audio = pick_column(columns, audio_column, AUDIO_COLUMNS, "audio", str(folder))
    text = pick_column(columns, text_column, TEXT_COLUMNS, "text", str(folder))
    for row in rows:
        yield folder / row[audio], row[text]


def _hub_examples(config) -> Iterator[tuple]:
    with needs_extra("data"):
        import datasets

    try:
        ds = datasets.load_dataset(config.dataset, config.dataset_config, split=config.split, streaming=True)
    except Exception as e:  # datasets raises many kinds; all mean the same to the person
        raise WacftError(
            f"The dataset {config.dataset} could not be loaded ({e}); check the id, config and split."
        ) from e
    columns = list(ds.features or {})
    audio = pick_column(columns, config.audio_column, AUDIO_COLUMNS, "audio", config.dataset)
    text = pick_column(columns, config.text_column, TEXT_COLUMNS, "text", config.dataset)
    # decode=False hands over the file's bytes; soundfile decodes them, so no FFmpeg/torchcodec is needed
    for row in ds.cast_column(audio, datasets.Audio(decode=False)):
        value = row[audio]
        yield value["bytes"] or Path(value["path"]), row[text]


def load_clips(config) -> Clips:
    """Every usable clip of the dataset, with counts of what was skipped and why. `config` is anything with
    dataset, dataset_config, split, audio_column, text_column, max_clips and max_audio_length: a TrainConfig,
    or the parsed arguments of `wacft verify`."""
    with needs_extra("data"):
        import soundfile

    folder = Path(config.dataset).expanduser()
    if config.dataset.startswith(("/", ".", "~")) and not folder.exists():
        raise WacftError(f"There is no folder {folder}; check the path to your recordings.")
    if any((folder / name).is_file() for name in METADATA_FILES):
        examples = _local_examples(folder, config.audio_column, config.text_column)
    else:  # a hub id, or a folder `datasets` reads itself (parquet, arrow, csv files)
        examples = _hub_examples(config)
    result = Clips([])
    for source, text in examples:
        if config.max_clips and len(result.clips) >= config.max_clips:
            break
        text = (text or "").strip()
        if not text:
            result.skipped["empty transcript"] += 1
            continue
        if isinstance(source, Path) and not source.is_file():
            result.skipped["missing audio file"] += 1
            continue
        try:
            seconds = duration(source)
        except (soundfile.LibsndfileError, RuntimeError):
            result.skipped[UNDECODABLE] += 1
            continue
        if seconds > config.max_audio_length:
            result.skipped[f"over {config.max_audio_length:g} s"] += 1
            continue
        result.clips.append(Clip(source, text, seconds))
    if not result.clips:
        raise WacftError(f"{config.dataset} has no usable clips ({result.summary()}); check the dataset.")
    return result
