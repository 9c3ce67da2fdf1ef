"""Reading a dataset to show a person what it holds, the same for the wizard's dataset step and its verify step
as for `wacft verify`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

# dataset_spec is standard library only, and dataset.clips is imported where it is used: the wizard imports this
# module at its start
from wacft.dataset.spec import AUDIO_COLUMNS, MAX_CLIP_SECONDS, TEXT_COLUMNS, DatasetSpec

__all__ = ["AUDIO_COLUMNS", "MAX_CLIP_SECONDS", "SURVEY_CLIPS", "TEXT_COLUMNS", "DatasetSpec", "Survey", "survey"]

# a hub dataset is streamed: this many clips show its columns and lengths without reading all of it (a local
# folder's clips are all counted: only their headers are read)
SURVEY_CLIPS = 300


@dataclass(frozen=True)
class Survey:
    clips: int
    seconds: float
    partial: bool  # a hub dataset, of which only the first SURVEY_CLIPS were read
    summary: str  # how many clips, how long, what was skipped and why
    histogram: str  # their lengths, as bars

    def describe(self) -> str:
        more = f" (the first {SURVEY_CLIPS} read; there may be more)" if self.partial else ""
        return f"{self.summary}{more}\n{self.histogram}"


def survey(spec: DatasetSpec) -> Survey:
    """What the dataset holds: every clip of a local folder, the first SURVEY_CLIPS of a hub dataset."""
    from wacft.dataset.clips import length_histogram, load_clips

    local = Path(spec.dataset).expanduser().is_dir()
    found = load_clips(spec if local else replace(spec, max_clips=SURVEY_CLIPS))
    seconds = [c.seconds for c in found.clips]
    return Survey(len(seconds), sum(seconds), not local and len(seconds) >= SURVEY_CLIPS, found.summary(),
                  length_histogram(seconds))

