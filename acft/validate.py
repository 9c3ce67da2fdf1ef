"""The one check of a training run's settings, before anything starts: the CLI, the wizard (field by field,
as a person types) and the Modal job (through `train()`) all use it. Cheap to import: no torch, no hub.

`problem(name, value)` checks one setting (a value, or the text typed for it) and returns one sentence
naming the setting, its value and what is allowed, or None. `check(config)` checks them all, and how they
go together, and raises `InvalidSetting`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from wacft.acft.config import OBJECTIVES, TrainConfig
from wacft.errors import WacftError
from wacft.facts import LANGUAGES, MODAL_MAX_HOURS, WHISPER_SECONDS, language_code, language_name

TASKS = ("transcribe", "translate")
DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")
# a hub repo id: "name" or "owner/name" (letters, digits, "-", "_", ".")
HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")


class InvalidSetting(WacftError):
    """A training setting outside what the run can use."""


def label(name: str) -> str:
    """How a person knows the setting: its command-line flag."""
    return "--" + name.replace("_", "-")


# a rate above this throws the weights far from anything trained (1e-6 is ACFT's, 1e-5 fine-tuning's)
MAX_LR = 0.1


def whole(low: int, optional: bool = False, high: int | None = None) -> Callable[[object], str | None]:
    def rule(value: object) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < low or high is not None and value > high:
            return f"a whole number of at least {low}" + (f" and at most {high}" if high is not None else "")
        return None

    return rule


def real(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False,
         optional: bool = False) -> Callable[[object], str | None]:
    def rule(value: object) -> str | None:
        if value is None and optional:
            return None
        too_low: Callable[[float], bool] = lambda v: v <= low if low_open else v < low  # noqa: E731
        too_high: Callable[[float], bool] = lambda v: v >= high if high_open else v > high  # noqa: E731
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or too_low(value) or too_high(value)):
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            if high == math.inf:
                return f"a finite number {'above' if low_open else 'of at least'} {low:g}"
            return f"a number in {left}{low:g}, {high:g}{right}"
        return None

    return rule


def one_of(choices: tuple[str, ...]) -> Callable[[object], str | None]:
    return lambda value: None if value in choices else f"one of {', '.join(choices)}"


def text(optional: bool = False, pattern: re.Pattern[str] | None = None, what: str = "a non-empty name"
         ) -> Callable[[object], str | None]:
    def rule(value: object) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip() or (pattern and not pattern.fullmatch(value)):
            return what
        return None

    return rule


def terms(value: object) -> str | None:
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) and t.strip() for t in value):
        return "a list of non-empty terms"
    return None


def flag(value: object) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def optional_flag(value: object) -> str | None:
    return None if value is None or isinstance(value, bool) else "true, false or empty (decided by the dataset)"


def source(kind: str) -> Callable[[object], str | None]:
    """A model or dataset: a folder here, or a hub id (a dataset's may name a revision: owner/name@revision). A
    name that can only be a path (./x, /x, ~/x, a/b/c) and is not a folder is a typo, not a hub id: said now
    rather than after the hub's retries."""

    def rule(value: object) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return f"a {kind} folder or a Hugging Face hub id"
        path = Path(value).expanduser()
        if path.is_dir():
            return None
        if path.exists():
            return f"a {kind} folder or a hub id, not a file"
        if looks_like_path(value.partition("@")[0] if kind == "dataset" else value):
            return f"an existing {kind} folder (there is no folder {value})"
        return None

    return rule


def looks_like_path(value: str) -> bool:
    return value.startswith((".", "/", "~", "\\")) or not HUB_ID.fullmatch(value)


def language(value: object) -> str | None:
    if value is None or (isinstance(value, str) and language_code(value)):
        return None
    return f"one of Whisper's {len(LANGUAGES)} languages, as a code such as de or fr or a name such as german"


def language_problem(model: str, multilingual: bool, value: str | None, where: str = "with --language"
                     ) -> str | None:
    """How the data's language goes with the model: an English-only model learns English only, and a
    multilingual one needs to be told the language (its prefix carries it). One sentence, or None; `where`
    says where a person names it."""
    code = language_code(value)
    if multilingual and not code:
        return f"{model} is multilingual; name the language of the data {where} (e.g. de or fr)."
    if not multilingual and code not in (None, "en"):
        return (f"{model} is English-only and cannot learn {language_name(code)}; start from a multilingual"
                " model (e.g. openai/whisper-base, without .en).")
    return None


def output_folder(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "an output folder"
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        return "a folder, not a file"
    return None


RULES: dict[str, Callable[[object], str | None]] = {
    "model": source("model"),
    "dataset": source("dataset"),
    "out": output_folder,
    "dataset_config": text(optional=True),
    "split": text(),
    "audio_column": text(optional=True),
    "text_column": text(optional=True),
    "language": language,
    "task": one_of(TASKS),
    "lowercase": flag,
    "epochs": whole(0),
    "lr": real(0, MAX_LR, low_open=True),
    "finetune_epochs": whole(0),
    "objective": one_of(OBJECTIVES),
    "finetune_lr": real(0, MAX_LR, low_open=True, optional=True),
    "joint_weight": real(0),
    "finetune_keep": real(0, 1, low_open=True),
    "freeze_encoder": flag,
    "spec_augment": flag,
    "glossary": terms,
    "glossary_share": real(0, 1),
    "eval_split": text(optional=True),
    "eval_share": real(0, 1, low_open=True, high_open=True),
    "hold_out": flag,
    "batch_size": whole(1),
    "max_audio_length": real(0, WHISPER_SECONDS, low_open=True),
    "max_clips": whole(1, optional=True),
    "exact_reference": flag,
    "full_context_share": real(0, 1),
    "phone_silence_share": real(0, 1),
    "varied_silence": flag,
    "phone_context": flag,
    "short_tails": flag,
    "other_voices": optional_flag,
    "cache_mb": whole(0),
    "checkpoint_every": whole(1),
    "device": text(pattern=DEVICE, what="auto, cpu, mps, cuda or cuda:N"),
    "seed": whole(0, high=2**63 - 1),  # what torch.manual_seed takes
    "push_to": text(optional=True, pattern=HUB_ID, what="a hub repo id such as you/whisper-base-acft"),
    "private": flag,
}
# a launch's own settings, not the training's (so not in TrainConfig): checked the same way, by the CLI (the
# Modal backend is built with them) and by the wizard's fields
LAUNCH_RULES: dict[str, Callable[[object], str | None]] = {
    "max_hours": real(0, MODAL_MAX_HOURS, low_open=True, optional=True),
}
FIELD_TYPES = {f.name: f.type for f in fields(TrainConfig)} | {"max_hours": "float | None"}


def parse(name: str, value: object) -> object:
    """What a person typed, as the setting's type; a value that is not text is returned as it is."""
    if not isinstance(value, str):
        return value
    kind = FIELD_TYPES[name]
    if "int" in kind or "float" in kind:
        stripped = value.strip()
        if not stripped and "None" in kind:
            return None
        try:
            return int(stripped) if "int" in kind else float(stripped)
        except ValueError:
            return value  # the rule then says what is allowed
    return value


def problem(name: str, value: object) -> str | None:
    """One sentence on what is wrong with `value` (or the text typed for it) for the setting `name` (a
    TrainConfig field, or one of LAUNCH_RULES), or None."""
    if name not in RULES and name not in LAUNCH_RULES:
        raise KeyError(f"{name} is not a training setting")
    return _problem(name, parse(name, value))


def _problem(name: str, value: object) -> str | None:
    allowed = (RULES | LAUNCH_RULES)[name](value)
    if allowed is None:
        return None
    shown = "empty" if value in (None, "") else repr(value) if isinstance(value, str) else str(value)
    return f"{label(name)} is {shown}; it must be {allowed}."


def check(config: TrainConfig) -> None:
    """Every setting, as it is (a config read from JSON may hold "8" for 8), then how they go together;
    raises InvalidSetting with the first problem found."""
    for name in RULES:
        sentence = _problem(name, getattr(config, name))
        if sentence:
            raise InvalidSetting(sentence)
    if config.eval_split and config.eval_split == config.split:
        raise InvalidSetting(f"--eval-split {config.eval_split} is the split training reads too, so stage 1 would be"
                             " scored on the clips it trains on; give another split, or drop --eval-split.")
    if config.objective == "joint" and not config.finetune_epochs:
        raise InvalidSetting("--objective joint is how stage 1 trains, and --finetune-epochs is 0 (no stage 1);"
                             " give --finetune-epochs, or drop --objective.")
    if config.epochs + config.finetune_epochs == 0:
        raise InvalidSetting("--epochs and --finetune-epochs are both 0; train at least one epoch of either.")
    if Path(config.model).expanduser().resolve() == Path(config.out).expanduser().resolve():
        raise InvalidSetting(f"--out {config.out} is the --model folder itself; write the run to another folder.")
