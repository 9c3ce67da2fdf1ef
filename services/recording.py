"""Recording one's own clips, the same for `wacft record` and the wizard's record step: the folder, the sentences
proposed around the person's terms, each take trimmed and judged, and the folder's summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wacft.record import importer
from wacft.record.capture import BLOCK, Take, play
from wacft.record.folder import RecordingFolder
from wacft.record.prompts import own_text_only, text_or_file
from wacft.record.summary import Summary

if TYPE_CHECKING:
    import numpy as np

    from wacft.record.levels import Verdict as Verdict  # for the wizard's types
    from wacft.record.prompts import Prompt

__all__ = ["BLOCK", "RecordingFolder", "Summary", "Take", "importer", "judged", "own_text_only", "play", "proposals",
           "text_or_file"]


def proposals(terms: str, own_text: str = "", language: str | None = None, *, per_term: int = 5,
              dictations: int = 2) -> tuple[list[str], list[Prompt]]:
    """The person's terms (`terms`: typed, or a file of them) and the sentences proposed to read, each term in a
    few everyday ones, with their own text (typed, or a file) as sentences too."""
    from wacft.record.prompts import parse_terms, propose

    parsed = parse_terms(text_or_file(terms))
    own = text_or_file(own_text) if own_text else ""
    return parsed, propose(parsed, own, per_term=per_term, dictations=dictations, language=language)


def judged(audio: np.ndarray) -> tuple[np.ndarray, Verdict]:
    """A take with its silence trimmed to the padding kept around speech, and what is wrong with it, if anything
    (silent, clipped, too quiet)."""
    from wacft.record.capture import trimmed
    from wacft.record.levels import judge

    clip, _ = trimmed(audio)
    return clip, judge(clip)
