"""The model's name on the phone: FUTO-style by default (`<size>[_<language>]_acft_<type>[_<label>].bin`, like
FUTO's own `base_en_acft_q8_0.bin`: `_en` for an English-only model, the language it was trained in for a
multilingual one), read from the .bin's header; any name a person picks is checked, since it ends up in a shell
command on the phone."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from wacft.convert.ggml import read_ggml
from wacft.convert.loadable import check_finite
from wacft.errors import WacftError
from wacft.facts import MODEL_SIZES, language_code, language_name

# by encoder layer count; turbo shares large's encoder and is named as one
SIZES = {encoder: name for name, (_, encoder, _) in MODEL_SIZES.items() if name != "turbo"}
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")
SAFE_FOLDER = re.compile(r"(/[A-Za-z0-9._-]+)+/?")
UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 200  # below the 255-byte file-name limit, with room for the temporary name's affixes
EXAMPLE = "base_en_acft_q5_0.bin"


class NotAWhisperModel(WacftError):
    pass


class BadName(WacftError):
    pass


@dataclass(frozen=True)
class ModelKind:
    size: str  # tiny, base, small, medium, large, or "<n>layer" for other encoders
    english_only: bool
    file_type: str  # f32, f16, q4_0, ... or "ftype<n>" for others
    language: str | None = None  # a multilingual model's, as a code, when known (the header does not say)

    @property
    def stem(self) -> str:
        language = "en" if self.english_only else self.language
        return f"{self.size}{f'_{language}' if language else ''}_acft_{self.file_type}"


def read_model_kind(path: Path) -> ModelKind:
    """Size, language and type of a whisper.cpp GGML file that whisper.cpp would load (FUTO's import checks
    only the magic)."""
    try:
        model = read_ggml(path)  # the whole structure: a file whisper.cpp would refuse is not sent
    except WacftError as e:  # FUTO Keyboard would refuse it too
        raise NotAWhisperModel(str(e)) from e
    check_finite(model)  # nor one it would load and answer garbage with (a NaN from a diverged training)
    header = model.hparams
    size = SIZES.get(header.n_audio_layer, f"{header.n_audio_layer}layer")
    return ModelKind(size, not header.multilingual, model.file_type.name)


def model_language(kind: ModelKind, language: str | None) -> str | None:
    """The language a model is for, as a code: English for an English-only one, else `language` (a code or a
    name, or None when not known); BadName in one sentence for one Whisper does not know or cannot be."""
    code = language_code(language)
    if language and code is None:
        raise BadName(f"{language!r} is not one of Whisper's languages; give a code such as de or fr.")
    if kind.english_only and code not in (None, "en"):
        raise BadName(f"The model is English-only, so FUTO Keyboard can use it for English only, not"
                      f" {language_name(code)}.")
    return "en" if kind.english_only else code


def default_name(path: Path, label: str | None = None, language: str | None = None) -> str:
    """`<size>[_<language>]_acft_<type>[_<label>].bin`: `_en` for an English-only model, `language` (a code) for
    a multilingual one. Without a label, whatever follows that stem in the local file name is kept
    (`base_en_acft_q5_0_github.bin` stays as it is). Characters a name may not have become '-'."""
    stem = replace(read_model_kind(path), language=language).stem
    if label is None and path.stem.startswith(stem + "_"):
        label = path.stem[len(stem) + 1:]
    label = UNSAFE_RUN.sub("-", label or "").strip("-.")
    return check_name(f"{stem}_{label}.bin" if label else f"{stem}.bin")


def check_name(name: str) -> str:
    """The on-phone file name for `name` (`.bin` added when missing), or BadName saying why not."""
    if not name:
        raise BadName(f"The name is empty; choose a name like {EXAMPLE}.")
    if not name.endswith(".bin"):
        name += ".bin"
    bad = sorted(set(SAFE_NAME.sub("", name)))
    if bad:
        raise BadName(f"The name {name!r} has characters other than letters, digits, '.', '_' and '-'"
                      f" ({' '.join(map(repr, bad))}); choose a name like {EXAMPLE}.")
    if name.startswith("."):
        raise BadName(f"The name {name!r} starts with '.', which hides it from the file picker; choose a name"
                      f" like {EXAMPLE}.")
    if len(name) > MAX_NAME:
        raise BadName(f"The name {name[:40]}... is {len(name)} characters long; choose one under {MAX_NAME}.")
    return name


def check_folder(folder: str) -> str:
    """An absolute folder on the phone made of safe names (no '..'), without its trailing '/'."""
    if not SAFE_FOLDER.fullmatch(folder) or ".." in folder.split("/"):
        raise BadName(f"The folder {folder!r} is not an absolute path of letters, digits, '.', '_' and '-';"
                      " choose one like /sdcard/Download.")
    return folder.rstrip("/")
