"""A run's settings from plain options: the one place a TrainConfig is built, with TrainConfig's own defaults,
for the CLI (its parsed flags), the wizard (its session) and the `modal run` entrypoints. Generic over
TrainConfig's fields: a new setting needs no edit here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any

from wacft.acft.config import OBJECTIVES, TrainConfig
from wacft.acft.runs import default_out
from wacft.acft.validate import LAUNCH_RULES, RULES, check, label, language_problem, problem
from wacft.facts import OTHER_VOICE_CLIPS
from wacft.verify.whispercpp import parse_glossary, read_glossary

__all__ = ["LAUNCH_RULES", "OBJECTIVES", "RULES", "TrainConfig", "check", "default", "default_out", "label",
           "language_problem", "not_given", "one_voice_guessed", "other_voices", "parse_glossary", "problem",
           "read_glossary", "train_settings"]



def default(name: str) -> Any:
    """TrainConfig's default for the setting `name` (the wizard's session starts from these)."""
    [field] = [f for f in fields(TrainConfig) if f.name == name]
    return field.default_factory() if field.default_factory is not MISSING else field.default


def not_given(value: object) -> bool:
    """How plain options say "not given": argparse's None, the wizard's empty field."""
    return value is None or (isinstance(value, str) and not value.strip())


def train_settings(options: Mapping[str, Any]) -> TrainConfig:
    """The run `options` describe: each of TrainConfig's fields they give, the rest (and any given as None or empty
    text) at TrainConfig's default; options that are no setting (a parser's `--on`, the session's step) are left
    out. Without an output folder the run gets the one default rule (acft.runs.default_out)."""
    given: dict[str, Any] = {}
    for f in fields(TrainConfig):
        value = options.get(f.name)
        if not not_given(value):
            given[f.name] = value
        elif f.default is MISSING and f.default_factory is MISSING and f.name != "out":
            given[f.name] = value or ""  # a required setting left empty: acft.validate.check says so
    if "out" not in given:
        given["out"] = str(default_out(str(given["model"])))
    return TrainConfig(**given)


def other_voices(config: TrainConfig) -> int:
    """How many clips of other voices (espeak-ng) the run mixes in: as its settings say, else where the dataset is
    one voice."""
    from wacft.acft import other_voices as voices  # it reads audio: not at the wizard's start

    return OTHER_VOICE_CLIPS if voices.wanted(config) else 0


def one_voice_guessed(dataset: str) -> bool:
    """Whether `dataset` is taken as one voice only because its metadata names no speaker: a guess the person may
    undo."""
    from wacft.acft import other_voices as voices

    return voices.one_voice(dataset) == voices.NAMES_NONE
