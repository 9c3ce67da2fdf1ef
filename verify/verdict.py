"""The verdict of `wacft verify`: the trained model judged against the base model, clip by clip, with how sure
the judgement is. Three questions, each answered "better", "no worse" or "worse" (or "too few clips to tell"):

1. Does it loop at the phone's context? A hard rule: no runaway on a clip where the base had none, and fewer
   runaways than the base had (none, where the base had none).
2. Is its WER at the phone's context at or below the base model's at full context?
3. Did its full-context WER hold against the base's?

A WER difference is judged by a paired bootstrap over the clips: the clips are drawn again with replacement
many times, each draw's difference of pooled WER taken, and the middle 95% of those kept. "better": the whole
interval is below zero. "no worse": the difference is within the margin (a quarter of the base's WER, at least two
points). "worse": beyond the margin, and the whole interval above zero (a loss beyond the noise). Otherwise the
clips cannot tell. Ready: no "worse" and nothing too few to tell; not ready: any "worse"; too few clips to tell:
neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BETTER, NO_WORSE, WORSE, UNSURE, UNCHECKED = "better", "no worse", "worse", "too few clips to tell", "not checked"
READY, NOT_READY, TOO_FEW = "ready", "not ready", "too few clips to tell"
DRAWS = 2000
CONFIDENCE = 0.95
MARGIN_SHARE = 0.25  # "no worse" allows a quarter of the base's WER (the published ACFT model is 16% above) ...
MARGIN_FLOOR = 0.02  # ... or two points, whichever is more
FEWEST_CLIPS = 5  # below this no WER difference is told
LOOPS = "Loops at the phone's context"
RULE = ("The verdict judges the model against the base model, clip by clip, on three questions: does it loop at"
        " the phone's context (no runaway where the base had none, and fewer than the base had); is its WER at the"
        " phone's context at or below the base's at full context; did its full-context WER hold. (A language"
        " written without spaces is scored by CER, the character error rate, instead.) A WER difference is judged by"
        " a paired bootstrap over the clips (95%): better when the whole interval is below zero, no worse when the"
        " difference is within a quarter of the base's WER (at least two points), worse when it is beyond that and"
        " the whole interval is above zero, else too few clips to tell. Ready (exit 0): nothing worse, nothing left"
        " to tell; not ready (exit 2): anything worse; too few clips to tell (exit 3).")


@dataclass(frozen=True)
class Side:
    """One model at one context, clip by clip."""

    errors: list[int]  # word errors per clip
    runaways: list[bool]


@dataclass
class Answer:
    question: str
    outcome: str
    moved: int  # word errors, ours minus theirs: negative is fewer
    ours: float  # WER (a runaway count for the loops question)
    theirs: float | None  # None: runaways without a base model
    low: float = 0.0  # the interval of the WER difference
    high: float = 0.0
    rate: str = "WER"  # CER for a language written without spaces: its errors are characters

    def sentence(self) -> str:
        if self.theirs is None:  # runaways with no base model to hold them to
            return f"{self.question}: {self.outcome}, {self.ours:.0f} runaway{'s' * (self.ours != 1)}."
        if self.outcome == UNCHECKED:
            return f"{self.question}: not checked (no base model to compare with)."
        unit = "character" if self.rate == "CER" else "word"
        words = f"{abs(self.moved)} {unit} error{'s' * (abs(self.moved) != 1)} {'fewer' if self.moved <= 0 else 'more'}"
        if self.question.startswith("Loops"):
            return (f"{self.question}: {self.outcome}, {self.theirs:.0f} runaway{'s' * (self.theirs != 1)} ->"
                    f" {self.ours:.0f} ({words}).")
        return (f"{self.question}: {self.outcome}, {self.rate} {self.theirs:.1%} -> {self.ours:.1%}, {words} (95%"
                f" interval {self.low * 100:+.1f} to {self.high * 100:+.1f} points).")


def interval(ours: list[int], theirs: list[int], words: list[int], seed: int = 0) -> tuple[float, float, float]:
    """The difference of pooled WER (ours minus theirs) and its paired-bootstrap interval."""
    a, b, n = (np.asarray(x, dtype=float) for x in (ours, theirs, words))
    diff = (a.sum() - b.sum()) / max(n.sum(), 1)
    draws = np.random.default_rng(seed).integers(0, len(n), size=(DRAWS, len(n)))
    totals = np.maximum(n[draws].sum(axis=1), 1)
    spread = (a[draws].sum(axis=1) - b[draws].sum(axis=1)) / totals
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(spread, [tail, 100 - tail])
    return float(diff), float(low), float(high)


def judge_wer(question: str, ours: list[int], theirs: list[int], words: list[int], rate: str = "WER") -> Answer:
    diff, low, high = interval(ours, theirs, words)
    total = max(sum(words), 1)
    base = sum(theirs) / total
    margin = max(MARGIN_SHARE * base, MARGIN_FLOOR)
    if len(words) < FEWEST_CLIPS and sum(ours) != sum(theirs):
        outcome = UNSURE
    elif high < 0:
        outcome = BETTER
    elif diff <= margin + 1e-12:
        outcome = NO_WORSE
    elif low > 0:
        outcome = WORSE
    else:
        outcome = UNSURE
    return Answer(question, outcome, sum(ours) - sum(theirs), sum(ours) / total, base, low, high, rate)


def judge_loops(ours: Side, theirs: Side, rate: str = "WER") -> Answer:
    new = sum(o and not t for o, t in zip(ours.runaways, theirs.runaways, strict=True))
    mine, base = sum(ours.runaways), sum(theirs.runaways)
    outcome = WORSE if new or (base and mine >= base) else BETTER if mine < base else NO_WORSE
    return Answer(LOOPS, outcome, sum(ours.errors) - sum(theirs.errors), mine, base, rate=rate)


def loops_alone(ours: Side) -> Answer:
    """Without a base model: any runaway at the phone's context is one too many."""
    mine = sum(ours.runaways)
    return Answer(LOOPS, WORSE if mine else NO_WORSE, 0, mine, None)


def overall(answers: list[Answer]) -> str:
    outcomes = {a.outcome for a in answers}
    if WORSE in outcomes:
        return NOT_READY
    return TOO_FEW if UNSURE in outcomes else READY
