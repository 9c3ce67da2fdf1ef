"""A Hugging Face Whisper model as conversion input: its folder (local or from the hub), config, weights."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wacft.convert.ggml import Hparams
from wacft.convert.names import HF_PROJ_OUT, expected_dimensions, expected_shapes, ggml_name, strip_prefix
from wacft.convert.weights import Weight, read_safetensors_header
from wacft.errors import WacftError, refuse_unreadable
from wacft.extras import beside
from wacft.facts import ENGLISH_VOCAB
from wacft.hub import hub_unanswered
from wacft.run_folder import holds_checkpoint

ModelConfig = dict[str, Any]  # a model's config.json
HUB_ID = re.compile(r"^\w[\w.-]*/\w[\w.-]*$")  # as the hub allows: no name starts with "." or "-"
HUB_FILES = ["*.json", "*.safetensors", "*.txt"]
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
TOKENIZER_FILES = (("vocab.json", "merges.txt"), ("tokenizer.json",))  # either loads Whisper's tokenizer
PROCESSOR_CONFIG = "preprocessor_config.json"
# config key -> what it means, for the error that names a missing one
REQUIRED_CONFIG = {
    "vocab_size": "vocabulary size",
    "num_mel_bins": "mel bins",
    "d_model": "model width",
    "encoder_layers": "encoder layers",
    "encoder_attention_heads": "encoder heads",
    "decoder_layers": "decoder layers",
    "decoder_attention_heads": "decoder heads",
    "max_source_positions": "audio context",
    # the text context; `max_length` is a generation setting and may be absent or different
    "max_target_positions": "text context",
}


@dataclass(frozen=True)
class WhisperSource:
    folder: Path
    config: ModelConfig
    hparams: Hparams  # ftype 0; each output sets its own
    weights: dict[str, Weight]  # whisper.cpp name -> weight
    proj_out: Weight | None  # only when saved apart from the token embedding

    @property
    def total_bytes(self) -> int:
        return sum(w.nbytes for w in self.weights.values())


def resolve_folder(model: str) -> Path:
    """A local folder as is; a hub id downloaded (or found) in the Hugging Face cache."""
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise WacftError(f"{path} is a file; give the model's folder (with config.json and safetensors).")
        return path
    if not HUB_ID.match(model):
        raise WacftError(f"{model} is neither a folder nor a Hugging Face model id like openai/whisper-tiny.en.")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    try:  # a hub that does not answer leaves the cache: huggingface_hub would wait on it for minutes
        cached = not constants.HF_HUB_OFFLINE and hub_unanswered("model", model) is not None
        return Path(snapshot_download(model, allow_patterns=HUB_FILES, local_files_only=cached))
    except RepositoryNotFoundError as e:
        raise WacftError(
            f"{model} is not a model on the Hugging Face hub (or it is private: run `{beside('hf')} auth login`)."
        ) from e
    except LocalEntryNotFoundError as e:  # the hub was not reached (no network, or offline mode)
        raise WacftError(unreachable(model)) from e
    except HfHubHTTPError as e:
        raise WacftError(f"Downloading {model} failed ({e}); check the id and your connection.") from e
    except HFValidationError as e:
        raise WacftError(f"{model} is not a valid Hugging Face model id ({e}); check the name.") from e


def unreachable(model: str) -> str:
    from huggingface_hub import constants

    why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "there is no network connection to the hub"
    return (f"{model} cannot be downloaded ({why}) and is not in the local cache; connect to the internet"
            " once to download it, or give a local model folder.")


def read_config(folder: Path) -> ModelConfig:
    path = folder / "config.json"
    refuse_unreadable(folder, "model's files")
    if not path.is_file() and holds_checkpoint(folder):
        raise WacftError(f"{folder} holds a training run that has not finished (its model is written at the end);"
                         f" let it finish, or continue it with `wacft train --resume --out {folder}`, then use it.")
    if not path.is_file():
        raise WacftError(f"{folder} has no config.json; it is not a Hugging Face model folder.")
    try:
        config: ModelConfig = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WacftError(f"{path} cannot be read as JSON ({e}); download or save the model again.") from e
    if config.get("model_type") != "whisper":
        kind = config.get("model_type", "unknown")
        raise WacftError(f"{folder} holds a {kind} model, not Whisper; pick a Whisper model.")
    missing = [f"{key} ({meaning})" for key, meaning in REQUIRED_CONFIG.items() if key not in config]
    if missing:
        raise WacftError(f"{path} lacks {', '.join(missing)}; save the model again with transformers.")
    for key, meaning in REQUIRED_CONFIG.items():
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise WacftError(f"{path} gives {key} ({meaning}) as {value!r}, not a whole number of at least 1;"
                             " save the model again with transformers.")
    return config


def hparams_from_config(config: ModelConfig) -> Hparams:
    return Hparams(
        n_vocab=config["vocab_size"],
        n_audio_ctx=config["max_source_positions"],
        n_audio_state=config["d_model"],
        n_audio_head=config["encoder_attention_heads"],
        n_audio_layer=config["encoder_layers"],
        n_text_ctx=config["max_target_positions"],
        n_text_state=config["d_model"],
        n_text_head=config["decoder_attention_heads"],
        n_text_layer=config["decoder_layers"],
        n_mels=config["num_mel_bins"],
        ftype=0,
    )


def weight_files(folder: Path) -> list[Path]:
    if (folder / SINGLE_FILE).is_file():
        return [folder / SINGLE_FILE]
    if (folder / INDEX_FILE).is_file():
        try:
            shards = sorted(set(json.loads((folder / INDEX_FILE).read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError) as e:
            raise WacftError(f"{folder / INDEX_FILE} is unreadable ({e}); download the model again.") from e
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise WacftError(f"{folder} lacks the weight shard(s) {', '.join(missing)}; download the model again.")
        return [folder / s for s in shards]
    if any(folder.glob("*.bin")):
        raise WacftError(
            f"{folder} has PyTorch .bin weights but no safetensors; save it again with"
            " `save_pretrained(..., safe_serialization=True)`."
        )
    raise WacftError(f"{folder} has no model.safetensors; it is not a complete Hugging Face model folder.")


def check_model_folder(folder: Path) -> ModelConfig:
    """What training loads from a folder, each missing file named; returns its config. A missing
    PROCESSOR_CONFIG is no gap: its settings follow from config.json (`num_mel_bins`)."""
    config = read_config(folder)
    weight_files(folder)
    if not any(all((folder / name).is_file() for name in files) for files in TOKENIZER_FILES):
        begun = next((f for f in TOKENIZER_FILES if any((folder / name).is_file() for name in f)), TOKENIZER_FILES[0])
        missing = " and ".join(name for name in begun if not (folder / name).is_file())
        raise WacftError(f"{folder} lacks {missing} (the tokenizer); copy it from the base model's folder.")
    check_tokenizer(folder, config)
    return config


TIMESTAMP_TOKENS = 1501  # <|0.00|> ... <|30.00|>: the last ids of every Whisper vocabulary


def check_tokenizer(folder: Path, config: ModelConfig) -> None:
    """The tokenizer's special tokens sit where the config's vocabulary puts them: <|notimestamps|> just below
    the timestamps. A multilingual config with an English-only tokenizer (or the reverse) shifts them by one."""
    try:
        added = json.loads((folder / "added_tokens.json").read_text(encoding="utf-8"))
        found = added.get("<|notimestamps|>") if isinstance(added, dict) else None
    except (OSError, ValueError):  # no such file (tokenizer.json alone): nothing to compare here
        return
    expected = config["vocab_size"] - TIMESTAMP_TOKENS - 1
    if isinstance(found, int) and found != expected:
        kind = "multilingual" if config["vocab_size"] > ENGLISH_VOCAB else "English-only"
        raise WacftError(f"{folder}'s tokenizer does not fit its {kind} config (<|notimestamps|> is token {found},"
                         f" where its vocabulary of {config['vocab_size']} puts it at {expected}); copy the tokenizer"
                         " files of the model the weights came from.")



def check_layout(folder: Path, hparams: Hparams, weights: dict[str, Weight]) -> None:
    """Exactly the tensors the config describes, each of the shape it describes: what whisper.cpp will
    check when it loads the file, said before a byte of it is written."""
    dims = expected_dimensions(hparams)
    missing, extra = sorted(dims.keys() - weights.keys()), sorted(weights.keys() - dims.keys())
    layers = f"the config says {hparams.n_audio_layer} encoder and {hparams.n_text_layer} decoder layers"
    if missing:
        raise WacftError(
            f"{folder} lacks {len(missing)} Whisper tensor(s), e.g. {missing[0]} ({layers}); the weights are"
            " incomplete or the config does not belong to them."
        )
    if extra:
        raise WacftError(f"{folder} has {len(extra)} tensor(s) beyond what its config describes, e.g."
                         f" {weights[extra[0]].name} ({layers}); the config does not belong to these weights.")
    for name, shape in expected_shapes(hparams).items():
        if weights[name].shape != shape:
            raise WacftError(
                f"{weights[name].name} has shape {list(weights[name].shape)} but the config says {list(shape)}"
                f" ({' x '.join(dims[name])}); the config does not belong to these weights."
            )


def check_trainable(model: str) -> tuple[Path, ModelConfig]:
    """What training asks of a model, and the wizard's model step before it says ✓: its folder found (downloaded
    when a hub id), every file it loads there, and weights that are what its config describes (a truncated
    or mismatched file named as conversion names it). Returns the folder and its config."""
    folder = resolve_folder(model)
    config = check_model_folder(folder)
    open_source(str(folder))
    return folder, config


def open_source(model: str) -> WhisperSource:
    """Resolve, read and check everything before a single output byte is written."""
    folder = resolve_folder(model)
    config = read_config(folder)
    hparams = hparams_from_config(config)
    hf_weights: dict[str, Weight] = {}
    for path in weight_files(folder):
        hf_weights.update(read_safetensors_header(path))

    weights, proj_out = {}, None
    for hf_name, weight in hf_weights.items():
        if strip_prefix(hf_name) == HF_PROJ_OUT:
            proj_out = weight
        elif (name := ggml_name(hf_name)) is None:
            raise WacftError(f"{folder} has a tensor {hf_name} that Whisper does not have; it is not a Whisper model.")
        else:
            weights[name] = weight
    check_layout(folder, hparams, weights)
    if proj_out is not None and proj_out.shape != (hparams.n_vocab, hparams.n_audio_state):
        raise WacftError(f"{HF_PROJ_OUT} has shape {list(proj_out.shape)}; the weights are not Whisper's.")
    # a fixed order, so sharding or saving order never changes the output file
    return WhisperSource(folder, config, hparams, dict(sorted(weights.items())), proj_out)
