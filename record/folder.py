"""A recording folder: the audiofolder `wacft train` reads (16 kHz mono 16-bit WAV clips and a
`metadata.csv` of file_name,text) plus the session that made it (terms, proposals, skips and edits) in a
hidden JSON file. Each kept clip is on disk, under its final name and listed, the moment `keep` returns:
the clip is written atomically first, then the metadata is rewritten atomically with it, so a crash loses
at most the take in progress and never leaves a listed clip missing. Reopening continues where it stopped."""

from __future__ import annotations

import csv
import io
import json
import re
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from wacft.atomic import write_bytes_atomic
from wacft.errors import WacftError
from wacft.facts import SAMPLE_RATE
from wacft.record.prompts import Prompt

METADATA = "metadata.csv"
STATE = ".wacft-record.json"
CLIP_NAME = re.compile(r"clip(\d+)\.wav")


@dataclass
class Row:
    file_name: str
    text: str


@dataclass
class State:
    """What the person asked for and where they are; kept clips are what metadata.csv lists."""

    terms: list[str] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # indexes into prompts


def wav_bytes(audio: np.ndarray) -> bytes:
    """float32 samples at 16 kHz as a 16-bit PCM mono WAV file (scaled as soundfile and PortAudio scale, so
    16-bit input comes back sample for sample)."""
    pcm = np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return buffer.getvalue()


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


class RecordingFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        if self.path.exists() and not self.path.is_dir():
            raise WacftError(f"{self.path} is a file; choose a folder for your recordings.")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WacftError(f"The folder {self.path} cannot be created ({e.strerror}); choose another.") from e
        self.rows = self._read_rows()
        self.state = self._read_state()

    def _read_rows(self) -> list[Row]:
        metadata = self.path / METADATA
        if not metadata.is_file():
            return []
        with open(metadata, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not {"file_name", "text"} <= set(reader.fieldnames or ()):
                raise WacftError(f"{metadata} is not a file_name,text list; record into an empty folder instead.")
            return [Row(r["file_name"], r["text"]) for r in reader]

    def _read_state(self) -> State:
        try:
            data = json.loads((self.path / STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return State()
        return State(data["terms"], [Prompt(**p) for p in data["prompts"]], data["skipped"])

    def save_state(self) -> None:
        write_bytes_atomic(self.path / STATE, json.dumps(asdict(self.state), indent=1).encode())

    def start(self, terms: list[str], prompts: list[Prompt]) -> None:
        """New proposals; what is already recorded stays, and proposals already read count as done."""
        self.state = State(terms, prompts)
        self.save_state()

    def done(self, index: int) -> bool:
        """A proposal is done when a kept clip has its text, or when it was skipped."""
        return index in self.state.skipped or self.state.prompts[index].text in {r.text for r in self.rows}

    def next_prompt(self, after: int = -1) -> int | None:
        """The first proposal not done after `after`, wrapping round; None when all are."""
        count = len(self.state.prompts)
        for i in range(after + 1, after + 1 + count):
            if not self.done(i % count):
                return i % count
        return None

    def skip(self, index: int) -> None:
        self.state.skipped.append(index)
        self.save_state()

    def edit(self, index: int, text: str) -> None:
        """The person says it their way: the proposal's text changes (its terms are looked up again)."""
        from wacft.record.prompts import mentions

        prompt = self.state.prompts[index]
        prompt.text = " ".join(text.split())
        prompt.terms = [t for t in self.state.terms if mentions(prompt.text, t)]
        self.save_state()

    def keep(self, audio: np.ndarray, text: str) -> str:
        """Write the clip, then list it; returns its file name."""
        name = f"clip{self._next_number():04d}.wav"
        write_bytes_atomic(self.path / name, wav_bytes(audio), force=False)
        self.rows.append(Row(name, " ".join(text.split())))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["file_name", "text"])
        writer.writerows([r.file_name, r.text] for r in self.rows)
        write_bytes_atomic(self.path / METADATA, out.getvalue().encode("utf-8"))
        return name

    def _next_number(self) -> int:
        """Past every clip listed or lying in the folder (one written just before a crash is never overwritten)."""
        names = [r.file_name for r in self.rows] + [p.name for p in self.path.glob("clip*.wav")]
        numbers = [int(m.group(1)) for n in names if (m := CLIP_NAME.fullmatch(n))]
        return max(numbers, default=0) + 1

    def seconds(self) -> list[float]:
        """Each listed clip's length, from its header."""
        return [wav_seconds(self.path / r.file_name) for r in self.rows if (self.path / r.file_name).is_file()]
