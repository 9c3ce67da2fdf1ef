"""The model's name on the phone: FUTO-style by default (`<size>[_en]_acft_<type>[_<label>].bin`, like
FUTO's own `base_en_acft_q8_0.bin`), read from the .bin's header; any name a person picks is checked, since it
ends up in a shell command on the phone."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from wacft.errors import WacftError

GGML_MAGIC = 0x67676D6C
# magic, then n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, n_text_state,
# n_text_head, n_text_layer, n_mels, ftype
HEADER = struct.Struct("<I11i")
SIZES = {4: "tiny", 6: "base", 12: "small", 24: "medium", 32: "large"}  # by encoder layer count
ENGLISH_ONLY_VOCAB = 51864
# header ftype; quantized files store ggml's ftype + 1000 * GGML_QNT_VERSION (2)
FILE_TYPES = {0: "f32", 1: "f16", 2002: "q4_0", 2003: "q4_1", 2008: "q5_0", 2009: "q5_1", 2007: "q8_0"}
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

    @property
    def stem(self) -> str:
        return f"{self.size}{'_en' if self.english_only else ''}_acft_{self.file_type}"


def read_model_kind(path: Path) -> ModelKind:
    """Size, language and type from a whisper.cpp GGML header (what FUTO's import checks is the magic)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER.size)
    except OSError as e:
        raise NotAWhisperModel(f"{path} cannot be read ({e.strerror}); give the path of a .bin made by"
                               " `wacft convert`.") from e
    fields = HEADER.unpack(head) if len(head) == HEADER.size else (0,)
    if fields[0] != GGML_MAGIC:
        raise NotAWhisperModel(f"{path} is not a whisper.cpp GGML model (FUTO Keyboard would refuse it); make"
                               " one with `wacft convert`.")
    n_vocab, n_audio_layer, ftype = fields[1], fields[5], fields[11]
    return ModelKind(SIZES.get(n_audio_layer, f"{n_audio_layer}layer"), n_vocab == ENGLISH_ONLY_VOCAB,
                     FILE_TYPES.get(ftype, f"ftype{ftype}"))


def default_name(path: Path, label: str | None = None) -> str:
    """`<size>[_en]_acft_<type>[_<label>].bin`. Without a label, whatever follows that stem in the local file
    name is kept (`base_en_acft_q5_0_github.bin` stays as it is). Characters a name may not have become
    '-'."""
    stem = read_model_kind(path).stem
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
