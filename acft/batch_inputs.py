"""What a training step takes from a clip: its tokens (the model's own prefix first), its mel features, and
the cache of what never changes between epochs (the frozen reference's states, the mel frames)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from wacft.acft.config import TrainConfig
from wacft.acft.context import Batch
from wacft.acft.validate import InvalidSetting, language_problem
from wacft.convert.source import PROCESSOR_CONFIG
from wacft.dataset.clips import Clip
from wacft.facts import language_code

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, WhisperProcessor


def load_processor(folder: Path, model_config: dict[str, Any]) -> WhisperProcessor:
    """Whisper's processor from a model folder. Without PROCESSOR_CONFIG its settings follow from config.json:
    Whisper's feature extractors differ between models only in their number of mel bins."""
    from transformers import AutoTokenizer, WhisperFeatureExtractor, WhisperProcessor

    if (folder / PROCESSOR_CONFIG).is_file():
        return WhisperProcessor.from_pretrained(folder)
    features = WhisperFeatureExtractor(feature_size=model_config["num_mel_bins"])
    return WhisperProcessor(feature_extractor=features, tokenizer=AutoTokenizer.from_pretrained(folder))


def glossary_prompt_ids(tokenizer: PreTrainedTokenizerBase, terms: list[str], text_positions: int) -> list[int]:
    """What whisper.cpp puts before the prefix when FUTO Keyboard gives it the glossary: <|startofprev|>, then
    the prompt text tokenized as whisper.cpp does it (no space added in front, not BPE), at most its last
    text_positions // 2 tokens."""
    from wacft.convert.vocab import whispercpp_tokenize
    from wacft.verify.whispercpp import glossary_prompt

    ids = whispercpp_tokenize(tokenizer.get_vocab(), tokenizer.eos_token_id, glossary_prompt(terms))
    # one token gives one id: transformers types the result as for a list of tokens too
    return [tokenizer.convert_tokens_to_ids("<|startofprev|>"), *ids[-(text_positions // 2) :]]  # type: ignore[list-item]


def tokenize(processor: WhisperProcessor, clips: list[Clip], config: TrainConfig, multilingual: bool,
             prompt: Sequence[int] = (), prompted: frozenset[int] = frozenset(),
             as_written: bool = False) -> list[list[int]]:
    """The model's own prefix (with language and task when multilingual), the text, <|endoftext|>; the clips in
    `prompted` have `prompt` in front. The text is lower-cased as the config says, or with `as_written` (what
    stage 1 learns to write) kept as it is and begun with a space, as Whisper writes its first word (" Ball."):
    "Ball." is the no-space token, and on one-word clips teaching it teaches the model to run words together."""
    check_language(config, multilingual)
    tokenizer = processor.tokenizer
    tokenizer.set_prefix_tokens(
        language=language_code(config.language) if multilingual else None,
        task=config.task if multilingual else None,
        predict_timestamps=False,
    )
    texts = [" " + c.text.lstrip() if as_written else c.text.lower() if config.lowercase else c.text for c in clips]
    rows = [tokenizer(text).input_ids for text in texts]
    return [[*prompt, *row] if i in prompted else row for i, row in enumerate(rows)]


def check_language(config: TrainConfig, multilingual: bool) -> None:
    """The data's language (and task) against the model's: InvalidSetting in one sentence (see
    validate.language_problem)."""
    sentence = language_problem(config.model, multilingual, config.language)
    if not sentence and not multilingual and config.task != "transcribe":
        sentence = (f"{config.model} is English-only: it has no task tokens, so --task {config.task} would be"
                    " ignored; drop it, or pick a multilingual model (one without .en).")
    if sentence:
        raise InvalidSetting(sentence)


def pad_tokens(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows padded to the longest, and the mask of real tokens."""
    lengths = [len(r) for r in rows]
    tokens = np.full((len(rows), max(lengths)), pad, dtype=np.int64)
    for k, row in enumerate(rows):
        tokens[k, : len(row)] = row
    mask = np.arange(tokens.shape[1])[None, :] < np.array(lengths)[:, None]
    return torch.from_numpy(tokens), torch.from_numpy(mask)


@dataclass
class Cached:
    states: torch.Tensor  # the reference's decoder states, (layers + 1, tokens, width)
    features: torch.Tensor  # the clip's first mel frames: as many as its widest context needs

    @property
    def bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.states, self.features))


class ClipCache:
    """What a clip gives the loss that never changes: the frozen reference's hidden states and the mel
    frames. Each is computed once and reused every epoch while the budget holds; entries are never evicted,
    so a clip seen as cached stays cached."""

    def __init__(self, budget_bytes: int):
        self.budget, self.used = budget_bytes, 0
        self.entries: dict[int, Cached] = {}

    def get(self, i: int) -> Cached | None:
        return self.entries.get(i)

    def put(self, i: int, entry: Cached) -> None:
        if self.used + entry.bytes <= self.budget:
            self.entries[i] = entry
            self.used += entry.bytes


@dataclass
class Prepared:
    """A batch made ready on the helper thread."""

    batch: Batch
    tokens: torch.Tensor  # (B, T), padded with <|endoftext|>
    mask: torch.Tensor  # (B, T), True on real tokens
    given: torch.Tensor  # (B,): the tokens at the start of each row that are given, not learned (prompt, prefix)
    extracted: list[int]  # rows whose 30 s mel features were computed (all rows not in the cache)
    features: torch.Tensor | None  # (len(extracted), mels, 3000)
