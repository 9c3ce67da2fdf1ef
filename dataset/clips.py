"""Training clips from a Hugging Face hub dataset or a local audiofolder, decoded without FFmpeg.

A local folder follows the `audiofolder` convention: audio files plus `metadata.csv` or `metadata.jsonl`
naming each file (`file_name`) and its transcript. Only each file's header is read up front (its length
decides its context and whether it is skipped); the audio is decoded when a batch needs it, so a dataset
never sits decoded in memory.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from wacft.audio import SILENCE_DB, audio_length, load_audio, to_whisper_audio
from wacft.dataset.layout import at_level, missing_silence, noise_of, short_tail, varied_silence
from wacft.dataset.spec import AUDIO_COLUMNS, SPEAKER_COLUMNS, TEXT_COLUMNS, DatasetSpec
from wacft.errors import WacftError, refuse_unreadable
from wacft.extras import needs_extra
from wacft.facts import SAMPLE_RATE
from wacft.hub import hub_unanswered

METADATA_FILES = ("metadata.csv", "metadata.jsonl")
DATA_FILES = (".parquet", ".arrow", ".csv", ".jsonl", ".json")  # what `datasets` reads from a folder by itself
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
HOLDS = {"audio": "the audio files", "text": "the transcripts"}  # what each kind of column holds
UNDECODABLE = "undecodable audio"
MIN_SECONDS = 0.1  # shorter holds no word: a clip of a few samples trains nothing
SILENT = f"silent (no speech: no sample above {SILENCE_DB:g} dBFS)"


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
    seconds: float = info.frames / info.samplerate
    return seconds


def is_silent(source: Path | bytes) -> bool:
    """No sample above the level no speech is below: read a second at a time up to the first sound, so a clip
    with speech costs little more than its header. A NaN is no silence (`Clip.audio` names it)."""
    import soundfile

    floor = 10 ** (SILENCE_DB / 20)
    with soundfile.SoundFile(source if isinstance(source, Path) else io.BytesIO(source)) as f:
        return all(np.abs(block).max(initial=0.0) < floor for block in f.blocks(blocksize=f.samplerate,
                                                                                 dtype="float32"))


@dataclass
class Clip:
    source: Path | bytes  # an audio file, or an encoded file's bytes (hub datasets)
    text: str
    seconds: float  # the silence added included
    silence: tuple[float, float] = (0.0, 0.0)  # seconds of silence added before and after the recording
    noise: tuple[float, int] | None = None  # white noise mixed over the clip laid out: its dBFS RMS, its draw's seed

    @property
    def name(self) -> str:
        return str(self.source) if isinstance(self.source, Path) else f"the clip {self.text[:60]!r}"

    @property
    def audio(self) -> np.ndarray:
        """Decoded afresh on each use."""
        audio = decode(self.source)
        if not np.isfinite(audio).all():  # a NaN sample makes every loss, then every weight, NaN
            raise WacftError(f"{self.name} holds NaN or infinite samples; fix or remove that clip.")
        before, after = (round(s * SAMPLE_RATE) for s in self.silence)
        audio = np.pad(audio, (before, after)) if before or after else audio
        if self.noise is None:
            return audio
        level, seed = self.noise
        return np.asarray(audio + at_level(noise_of("white", len(audio), np.random.default_rng(seed), None), level),
                          dtype=np.float32)


def as_the_phone_records(clips: list[Clip], share: float, seed: int, longest: float, varied: bool = False,
                         short_tails: bool = False) -> list[Clip]:
    """A fixed share of the clips (the same for the same seed) laid out as FUTO Keyboard records a dictation,
    each given the silence it lacks (`missing_silence`): datasets are cut close to the speech; the phone's audio
    never is, and it is that audio, at its own context, that must not loop. `varied`: the silence's length and
    kind drawn for each clip (`varied_silence`) rather than the phone's, made up of zeros; `short_tails`: the
    phone's lead and a tail drawn for each clip (`short_tail`). Clips that would grow past `longest` seconds stay
    as they are."""
    chosen = set(random.Random(f"{seed}:silence").sample(range(len(clips)), round(share * len(clips))))
    draws, laid_out = random.Random(f"{seed}:varied"), []
    for i, clip in enumerate(clips):
        silence, noise = (0.0, 0.0), None
        if i in chosen:
            if varied:
                silence, noise = varied_silence(clip.audio, draws)
            else:
                silence = short_tail(clip.audio, draws) if short_tails else missing_silence(clip.audio)
        seconds = clip.seconds + sum(silence)
        laid_out.append(replace(clip, seconds=seconds, silence=silence, noise=noise)
                        if (any(silence) or noise) and seconds <= longest else clip)
    return laid_out


@dataclass
class Clips:
    clips: list[Clip]
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in self.skipped.items()) or "none"
        return f"{len(self.clips)} clips ({audio_length(sum(c.seconds for c in self.clips))} of audio); skipped:" \
               f" {skipped}"


def length_histogram(seconds: list[float], width: int = 30) -> str:
    """Clip lengths in a few bins, as bars: short dictations are what ACFT is for."""
    bins = list(itertools.pairwise([0, 2, 5, 10, 20, 30]))
    counts = [sum(lo <= s < hi for s in seconds) for lo, hi in bins]
    top = max(counts) or 1
    return "\n".join(f"{lo:>2}-{hi:<2} s {'█' * round(width * n / top):<{width}} {n}"
                     for (lo, hi), n in zip(bins, counts, strict=True))


def pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], kind: str, name: str
                ) -> str:
    """`name` says what the person gave: "The metadata in <folder>" or "The hub dataset <id>". Worded for the
    wizard's column fields and the CLI's --audio-column/--text-column alike."""
    found = f"its columns are {', '.join(columns)}" if columns else "it has no columns"
    if wanted:
        if wanted not in columns:
            raise WacftError(f"{name} has no {kind} column {wanted!r}; {found}.")
        return wanted
    for candidate in candidates:
        if candidate in columns:
            return candidate
    raise WacftError(
        f"{name} has no {kind} column (looked for {', '.join(candidates)}); {found}; give the name of the one"
        f" that holds {HOLDS[kind]} as the {kind} column."
    )


def _local_rows(folder: Path) -> list[dict[str, object]]:
    path = next(folder / name for name in METADATA_FILES if (folder / name).is_file())
    try:
        data = path.read_bytes()
        text = data.decode("utf-8-sig")  # -sig: a BOM (Excel writes one) is no part of the first column
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise WacftError(f"{path} is not UTF-8 text (line {line} has the byte {data[e.start]:#04x}); save it as"
                         " UTF-8 and try again.") from e
    except OSError as e:
        raise WacftError(f"{path} cannot be read ({e.strerror}); check its permissions.") from e
    if path.suffix == ".jsonl":
        return [_json_row(path, n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    try:
        return list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise WacftError(f"{path} cannot be read as CSV ({e}); fix it and try again.") from e


def _json_row(path: Path, n: int, line: str) -> dict[str, object]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise WacftError(f"Line {n} of {path} is not JSON ({e.msg} at column {e.colno}); fix that line and try"
                         " again.") from e
    if not isinstance(row, dict):
        raise WacftError(f'Line {n} of {path} is not a JSON object; give each clip as {{"file_name": ..., "text":'
                         " ...}.")
    return row


def _local_examples(folder: Path, audio_column: str | None, text_column: str | None) -> Iterator[tuple[Path, str]]:
    rows = _local_rows(folder)
    if not rows:
        raise WacftError(f"The metadata in {folder} lists no clips; add a row per audio file.")
    # a CSV row longer than the header holds the rest under None: no column
    columns, name = [c for c in rows[0] if c is not None], f"The metadata in {folder}"
    audio = pick_column(columns, audio_column, AUDIO_COLUMNS, "audio", name)
    text = pick_column(columns, text_column, TEXT_COLUMNS, "text", name)
    for row in rows:  # a short CSV row has None where a JSON line may have a number
        file, words = row.get(audio), row.get(text)
        yield folder / str(file or ""), "" if words is None else str(words)


def named_speakers(folder: Path) -> int | None:
    """How many speakers a folder of recordings names in its metadata (the distinct values of its speaker column);
    None where its metadata has no speaker column."""
    rows = _local_rows(folder)
    column = next((c for c in SPEAKER_COLUMNS if rows and c in rows[0]), None)
    return None if column is None else len({str(r[column]) for r in rows if r.get(column) not in (None, "")})


def similar_folder(missing: Path) -> str:
    """A folder beside `missing` whose name is close to its name (a typo), as the person would type it; "" if
    none is."""
    import difflib

    parent = missing.parent
    try:
        names = [p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return ""
    found = difflib.get_close_matches(missing.name, names, n=1, cutoff=0.75)
    return (f"./{found[0]}" if parent == Path() else str(parent / found[0])) if found else ""


class HubUnreachable(ConnectionError):
    pass


def _hub_examples(spec: DatasetSpec, folder: Path | None) -> Iterator[tuple[Path | bytes, str | None]]:
    """A hub dataset, or a local folder (`folder`) of files `datasets` reads itself (parquet, arrow, csv). A hub id
    may name a revision (`owner/name@revision`): at the hub's parquet export (`@refs/convert/parquet`, the way to a
    dataset whose loading script `datasets` no longer runs) each config is a folder of that name."""
    with needs_extra("data"):
        import datasets

    name, _, revision = spec.dataset.partition("@")
    where = {"revision": revision, "data_dir": spec.dataset_config} if revision else {"name": spec.dataset_config}
    try:
        # online, `datasets` retries a hub that does not answer for 32 s, printing each try
        online = folder is None and not datasets.config.HF_DATASETS_OFFLINE
        if online and (why := hub_unanswered("dataset", name, revision)):
            raise HubUnreachable(f"there is no network connection to the hub: {why}")
        ds = datasets.load_dataset(str(folder or name), split=spec.split, streaming=True, **where)
        columns = list(ds.features or next(iter(ds), {}))  # a streamed dataset may know its columns only by a row
    except Exception as e:  # datasets raises many kinds; all mean the same to the person
        if folder is not None:
            raise WacftError(
                f"The folder {folder} cannot be read as a dataset ({e}); put a metadata.csv or metadata.jsonl"
                " in it naming each audio file (file_name) and its transcript (text)."
            ) from e
        if "Dataset scripts are no longer supported" in str(e):
            raise WacftError(
                f"The hub dataset {name} needs a loading script, which datasets 4 and later no longer run; give its"
                f" parquet export instead, as {name}@refs/convert/parquet (with --dataset-config naming the folder of"
                " its config there, e.g. en_us)."
            ) from e
        if "/" not in spec.dataset:  # hub ids are owner/name: a bare word is most likely a mistyped folder
            near = similar_folder(Path(spec.dataset))
            raise WacftError(
                f"There is no folder {spec.dataset} here, and no hub dataset of that name could be loaded ({e});"
                + (f" did you mean the folder {near}, or a hub id as owner/name?" if near else
                   " check the path to your recordings (or give a hub id as owner/name).")
            ) from e
        if isinstance(e, HubUnreachable):
            raise WacftError(f"The hub dataset {spec.dataset} cannot be reached ({e}); connect to the internet and"
                             " run again, or give a local folder of recordings.") from e
        raise WacftError(
            f"The hub dataset {spec.dataset} could not be loaded ({e}); check its id, config and split."
        ) from e
    name = f"The folder {folder}" if folder is not None else f"The hub dataset {spec.dataset}"
    audio = pick_column(columns, spec.audio_column, AUDIO_COLUMNS, "audio", name)
    text = pick_column(columns, spec.text_column, TEXT_COLUMNS, "text", name)
    # decode=False hands over the file's bytes; soundfile decodes them, so no FFmpeg/torchcodec is needed
    for row in ds.cast_column(audio, datasets.Audio(decode=False)):
        value = row[audio]
        yield value["bytes"] or Path(value["path"]), row[text]


def is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system (Python before 3.12 raises): no such file either
        return False


def load_clips(spec: DatasetSpec) -> Clips:
    """Every usable clip of the dataset, with counts of what was skipped and why."""
    with needs_extra("data"):
        import soundfile  # noqa: F401 (here, for the install command when it is missing; _clip uses it)

    examples = _examples(spec)
    result, seen = Clips([]), set[Path]()
    for source, text in examples:
        if spec.max_clips and len(result.clips) >= spec.max_clips:
            break
        clip = _clip(source, (text or "").strip(), spec, seen)
        if isinstance(clip, str):
            result.skipped[clip] += 1
        else:
            result.clips.append(clip)
    if not result.clips:
        raise WacftError(f"{spec.dataset} has no usable clips ({result.summary()}); check the dataset.")
    return result


def _examples(spec: DatasetSpec) -> Iterator[tuple[Path | bytes, str | None]]:
    """The dataset's (audio, transcript) rows: a folder of recordings with its metadata, or what `datasets` reads."""
    folder = Path(spec.dataset).expanduser()
    if spec.dataset.startswith(("/", ".", "~")) and not folder.exists():
        near = similar_folder(folder)
        raise WacftError(f"There is no folder {folder}; " + (f"did you mean {near}?" if near else
                                                              "check the path to your recordings."))
    refuse_unreadable(folder, "recordings")
    if folder.is_file():
        raise WacftError(f"{folder} is a file; give the folder that holds the recordings and their metadata.csv.")
    if any((folder / name).is_file() for name in METADATA_FILES):
        if spec.dataset_config:
            raise WacftError(f"--dataset-config is for hub datasets, and {folder} is a folder of recordings; drop"
                             " --dataset-config.")
        return _local_examples(folder, spec.audio_column, spec.text_column)
    if folder.is_dir() and any(p.suffix.lower() in AUDIO_SUFFIXES for p in folder.iterdir()):
        raise WacftError(f"{folder} has audio files but no metadata.csv or metadata.jsonl to give their"
                         " transcripts; add one with a row per file (columns file_name,text).")
    if folder.is_dir() and not any(p.suffix in DATA_FILES for p in folder.rglob("*")):
        raise WacftError(f"{folder} has no metadata.csv; add one naming each audio file and its transcript"
                         " (columns file_name,text).")
    # a hub id, or a folder `datasets` reads itself (parquet, arrow, csv files)
    return _hub_examples(spec, folder if folder.is_dir() else None)


def _clip(source: Path | bytes, text: str, spec: DatasetSpec, seen: set[Path]) -> Clip | str:
    """The clip, or why it is skipped; `seen`: the audio files taken so far."""
    import soundfile

    if not text:
        return "empty transcript"
    if isinstance(source, Path) and not is_file(source):
        return "missing audio file"
    if isinstance(source, Path):  # one recording listed again (200,000 rows, one file) is trained on once
        if source.resolve() in seen:
            return "audio file listed again"
        seen.add(source.resolve())
    try:
        seconds = duration(source)
    except (soundfile.LibsndfileError, RuntimeError):
        return UNDECODABLE
    if seconds > spec.max_audio_length:
        return f"over {spec.max_audio_length:g} s"
    if seconds < MIN_SECONDS:
        return f"under {MIN_SECONDS:g} s"
    # skipped and counted, as a missing file is, not refused: a silent clip with a transcript teaches the model
    # to hear words in silence (what ACFT is there to stop), and one such clip in thousands should not stop a run
    try:
        if is_silent(source):
            return SILENT
    except (soundfile.LibsndfileError, RuntimeError):
        return UNDECODABLE
    return Clip(source, text, seconds)
