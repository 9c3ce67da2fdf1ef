"""The legacy whisper.cpp GGML file format (not GGUF): constants, the header, and a validating reader.

Layout: int32 magic; 11 int32 hparams; mel filters (int32 n_mel, int32 n_fft, float32 data); vocab
(int32 count, then int32 length + bytes per token); then per tensor: int32 n_dims, int32 name length,
int32 ggml type, n_dims int32 dims (innermost first), the name, the data. All little-endian.
"""

from __future__ import annotations

import os
import struct
from dataclasses import astuple, dataclass
from enum import IntEnum
from pathlib import Path
from typing import BinaryIO, Literal, get_args

import numpy as np

from wacft.errors import WacftError
from wacft.facts import is_multilingual

MAGIC = 0x67676D6C
# whisper.cpp's quantize tool stores ftype + 1000 * GGML_QNT_VERSION in the header of quantized files
QNT_VERSION = 2
QNT_VERSION_FACTOR = 1000
# whisper.cpp reads token text into a fixed buffer; anything longer is a corrupt file
MAX_TOKEN_BYTES = 4096


class GGMLType(IntEnum):
    """ggml_type values as each tensor header stores them."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8


# elements per block, bytes per block
BLOCK_LAYOUT = {
    GGMLType.F32: (1, 4),
    GGMLType.F16: (1, 2),
    GGMLType.Q4_0: (32, 18),
    GGMLType.Q4_1: (32, 20),
    GGMLType.Q5_0: (32, 22),
    GGMLType.Q5_1: (32, 24),
    GGMLType.Q8_0: (32, 34),
}


# an output kind as `wacft convert --type`, a converted file's name and a Modal run's record spell it
ConversionType = Literal["f32", "f16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0"]
CONVERSION_TYPES: tuple[ConversionType, ...] = get_args(ConversionType)


@dataclass(frozen=True)
class FileType:
    """One output kind: its name on the command line, the header ftype, and the type of its matrices."""

    name: ConversionType
    ftype: int
    weight_type: GGMLType

    @property
    def quantized(self) -> bool:
        return self.weight_type not in (GGMLType.F32, GGMLType.F16)


def _quantized(name: ConversionType, ggml_ftype: int, weight_type: GGMLType) -> FileType:
    return FileType(name, ggml_ftype + QNT_VERSION * QNT_VERSION_FACTOR, weight_type)


# Header ftype is ggml's `ggml_ftype` (MOSTLY_Q8_0 is 7, MOSTLY_Q5_0 is 8), not the tensor's ggml_type.
FILE_TYPES = {
    t.name: t
    for t in (
        FileType("f32", 0, GGMLType.F32),
        FileType("f16", 1, GGMLType.F16),
        _quantized("q4_0", 2, GGMLType.Q4_0),
        _quantized("q4_1", 3, GGMLType.Q4_1),
        _quantized("q5_0", 8, GGMLType.Q5_0),
        _quantized("q5_1", 9, GGMLType.Q5_1),
        _quantized("q8_0", 7, GGMLType.Q8_0),
    )
}
FILE_TYPE_BY_FTYPE = {t.ftype: t for t in FILE_TYPES.values()}


@dataclass(frozen=True)
class Hparams:
    """The 11 header integers, in file order."""

    n_vocab: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int
    n_mels: int
    ftype: int

    STRUCT = struct.Struct("<11i")

    def pack(self) -> bytes:
        return self.STRUCT.pack(*astuple(self))

    @property
    def multilingual(self) -> bool:
        return is_multilingual(self.n_vocab)

    @property
    def file_type(self) -> FileType | None:
        return FILE_TYPE_BY_FTYPE.get(self.ftype)


def tensor_nbytes(ggml_type: GGMLType, shape: tuple[int, ...]) -> int:
    """Bytes of a tensor of `shape` (outermost first); rows must hold whole blocks."""
    block, size = BLOCK_LAYOUT[ggml_type]
    n = int(np.prod(shape, dtype=np.int64))
    return n // block * size


def tensor_header(name: str, ggml_type: GGMLType, shape: tuple[int, ...]) -> bytes:
    encoded = name.encode()
    dims = tuple(reversed(shape))  # ggml lists dims innermost first
    return struct.pack(f"<3i{len(dims)}i", len(dims), len(encoded), ggml_type, *dims) + encoded


def file_header(hparams: Hparams, mel_filters: np.ndarray, tokens: list[bytes]) -> bytes:
    parts = [struct.pack("<i", MAGIC), hparams.pack()]
    parts.append(struct.pack("<2i", *mel_filters.shape))
    parts.append(np.ascontiguousarray(mel_filters, dtype="<f4").tobytes())
    parts.append(struct.pack("<i", len(tokens)))
    for token in tokens:
        parts.append(struct.pack("<i", len(token)) + token)
    return b"".join(parts)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: GGMLType
    shape: tuple[int, ...]  # outermost first, as numpy has it
    offset: int
    nbytes: int


@dataclass(frozen=True)
class GGMLFile:
    path: Path
    size: int
    hparams: Hparams
    mel_shape: tuple[int, int]
    n_tokens: int
    tensors: tuple[TensorInfo, ...]

    @property
    def file_type(self) -> FileType:
        file_type = self.hparams.file_type
        assert file_type is not None  # read_ggml refuses a file of any other ftype
        return file_type

    def tensor(self, name: str) -> TensorInfo:
        return next(t for t in self.tensors if t.name == name)

    def read_array(self, info: TensorInfo) -> np.ndarray:
        """An F32 or F16 tensor as float32 (quantized ones come back as their raw bytes)."""
        with open(self.path, "rb") as f:
            f.seek(info.offset)
            raw = f.read(info.nbytes)
        if info.type == GGMLType.F32:
            return np.frombuffer(raw, "<f4").reshape(info.shape)
        if info.type == GGMLType.F16:
            return np.frombuffer(raw, "<f2").astype(np.float32).reshape(info.shape)
        return np.frombuffer(raw, np.uint8)


class _Cursor:
    """Bounds-checked reads, so a truncated or corrupt file is a clear error rather than a crash."""

    def __init__(self, f: BinaryIO, path: Path, size: int):
        self.f, self.path, self.size = f, path, size

    def take(self, n: int, what: str) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise WacftError(f"{self.path} ends in the middle of {what}: the file is truncated; convert it again.")
        return data

    def ints(self, n: int, what: str) -> tuple[int, ...]:
        return struct.unpack(f"<{n}i", self.take(4 * n, what))

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.f.tell() + n > self.size:
            raise WacftError(f"{self.path} ends in the middle of {what}: the file is truncated; convert it again.")
        self.f.seek(n, os.SEEK_CUR)


def read_header(path: str | os.PathLike[str]) -> Hparams:
    """The header alone (what FUTO's import checks): magic and hyperparameters, from the first 48 bytes."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4 + Hparams.STRUCT.size)
    except OSError as e:
        raise WacftError(f"{path} cannot be read ({e.strerror}); check the path.") from e
    if len(head) < 4 or struct.unpack_from("<I", head)[0] != MAGIC:
        raise WacftError(f"{path} is not a whisper.cpp GGML model (wrong magic); make one with `wacft convert`.")
    if len(head) < 4 + Hparams.STRUCT.size:
        raise WacftError(f"{path} is not a whisper.cpp GGML model (it ends inside its header); the file is"
                         " truncated: convert or copy it again.")
    return Hparams(*Hparams.STRUCT.unpack_from(head, 4))


def read_ggml(path: str | os.PathLike[str]) -> GGMLFile:
    """Read and validate the whole structure of a whisper.cpp .bin without loading tensor data: every tensor
    whisper.cpp expects for the header's hparams, each of the shape and type it allocates."""
    path = Path(path)
    if not path.is_file():
        raise WacftError(f"{path} does not exist or is not a file; check the path.")
    size = path.stat().st_size
    hparams = read_header(path)
    with open(path, "rb") as f:
        f.seek(4 + Hparams.STRUCT.size)
        cur = _Cursor(f, path, size)
        if hparams.file_type is None:
            raise WacftError(f"{path} has an unknown file type {hparams.ftype}; it was not written by whisper.cpp.")
        n_mel, n_fft = cur.ints(2, "the mel filters")
        if n_mel != hparams.n_mels or n_fft <= 0:
            raise WacftError(f"{path} has {n_mel} mel filters for {hparams.n_mels} mel bins; the file is corrupt.")
        cur.skip(4 * n_mel * n_fft, "the mel filters")
        (n_tokens,) = cur.ints(1, "the vocabulary")
        if not 0 < n_tokens <= hparams.n_vocab:
            raise WacftError(f"{path} has {n_tokens} tokens for a vocabulary of {hparams.n_vocab}; it is corrupt.")
        for _ in range(n_tokens):
            (length,) = cur.ints(1, "the vocabulary")
            if not 0 <= length <= MAX_TOKEN_BYTES:
                raise WacftError(f"{path} has a token of {length} bytes; the vocabulary is corrupt.")
            cur.skip(length, "the vocabulary")
        tensors = []
        while f.tell() < size:
            n_dims, name_len, ttype = cur.ints(3, "a tensor header")
            if not 1 <= n_dims <= 4 or not 0 < name_len <= 256 or ttype not in BLOCK_LAYOUT:
                raise WacftError(f"{path} has a malformed tensor header at byte {f.tell() - 12}; it is corrupt.")
            dims = cur.ints(n_dims, "a tensor header")
            name = cur.take(name_len, "a tensor name").decode(errors="replace")
            shape = tuple(reversed(dims))
            info = TensorInfo(name, GGMLType(ttype), shape, f.tell(), tensor_nbytes(GGMLType(ttype), shape))
            cur.skip(info.nbytes, f"tensor {name}")
            tensors.append(info)
    model = GGMLFile(path, size, hparams, (n_mel, n_fft), n_tokens, tuple(tensors))
    from wacft.convert.loadable import check_loadable  # it needs the tensor names, which need this module

    check_loadable(model)
    return model
