"""How far a recording folder has come: clips, minutes, how often each term was said, the length histogram,
and what is still missing for a first useful training run."""

from __future__ import annotations

from dataclasses import dataclass

from wacft.dataset.clips import length_histogram
from wacft.record.folder import RecordingFolder
from wacft.record.prompts import mentions

# enough for stage 1 to learn the words: each in at least this many clips, this many minutes in all
ENOUGH_PER_TERM = 5
ENOUGH_MINUTES = 10.0


@dataclass
class Summary:
    seconds: list[float]
    per_term: dict[str, int]  # term -> clips that say it

    @classmethod
    def of(cls, folder: RecordingFolder) -> Summary:
        texts = [r.text for r in folder.rows]
        return cls(folder.seconds(), {t: sum(mentions(x, t) for x in texts) for t in folder.state.terms})

    @property
    def minutes(self) -> float:
        return sum(self.seconds) / 60

    def missing(self) -> list[str]:
        """What to record before it is enough; empty when it is."""
        short = [f"{t} ({ENOUGH_PER_TERM - n} more)" for t, n in self.per_term.items() if n < ENOUGH_PER_TERM]
        todo = [f"say {', '.join(short)}"] if short else []
        if self.minutes < ENOUGH_MINUTES:
            todo.append(f"{ENOUGH_MINUTES - self.minutes:.1f} more minutes")
        return todo

    def text(self, histogram_width: int = 30) -> str:
        terms = "  ".join(f"{t} {n}" for t, n in self.per_term.items()) or "none given"
        missing = self.missing()
        verdict = ("enough to train" if not missing
                   else f"enough at {ENOUGH_PER_TERM} clips a term and {ENOUGH_MINUTES:g} min: " + "; ".join(missing))
        return (f"{len(self.seconds)} clips, {self.minutes:.1f} min · terms: {terms}\n{verdict}\n"
                f"{length_histogram(self.seconds, histogram_width)}")
