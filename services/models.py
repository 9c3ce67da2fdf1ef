"""The Whisper model a run starts from: found (downloaded when it is a hub id), checked as training checks it,
and what it is, read from its config.json (never its name)."""

from __future__ import annotations

from dataclasses import dataclass

from wacft.facts import FUTO_WIDEST, MODEL_SIZES


def hub_id(size: str, english: bool) -> str:
    return f"openai/whisper-{size}{'.en' if english else ''}"


@dataclass(frozen=True)
class ModelFacts:
    size: str | None  # tiny, base, ... when its dimensions are a standard size's
    width: int  # d_model
    multilingual: bool

    @property
    def runs_on_futo(self) -> bool:
        """FUTO Keyboard runs tiny, base and small: nothing wider than small."""
        return self.width <= FUTO_WIDEST

    def describe(self) -> str:
        kind = f"a Whisper {self.size}" if self.size else "a Whisper model of its own size"
        return f"{kind}, {'multilingual' if self.multilingual else 'English-only'}"


def model_facts(model: str) -> ModelFacts:
    """What `model` is, once its folder is found and complete; a WacftError says what is missing, in the words
    training would use."""
    from wacft.convert.source import check_trainable, hparams_from_config

    hparams = hparams_from_config(check_trainable(model)[1])
    dims = (hparams.n_audio_state, hparams.n_audio_layer, hparams.n_text_layer)
    size = next((name for name, named in MODEL_SIZES.items() if named == dims), None)
    return ModelFacts(size, hparams.n_audio_state, hparams.multilingual)
