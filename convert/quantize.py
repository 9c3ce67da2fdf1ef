"""Which ggml type each tensor gets, and encoding rows of float32 into it.

Quantization uses the `gguf` package's numpy quantizers, which are byte-identical to ggml's reference
quantizers (tests/test_quantize.py proves it against the libggml that pywhispercpp ships).
"""

from __future__ import annotations

import numpy as np
from gguf import quants

from wacft.convert.ggml import BLOCK_LAYOUT, FileType, GGMLType
from wacft.convert.names import CONV_BIASES, POSITIONAL_EMBEDDINGS
from wacft.errors import WacftError

# whisper.cpp's quantize tool never quantizes these; whisper.cpp reads them as F32 in f16 files too
KEEP_F32 = frozenset(CONV_BIASES + POSITIONAL_EMBEDDINGS)


def tensor_type(name: str, ndim: int, file_type: FileType) -> GGMLType:
    """The ggml type whisper.cpp expects for this tensor in a file of `file_type`."""
    if file_type.weight_type == GGMLType.F32 or ndim < 2 or name in KEEP_F32:
        return GGMLType.F32
    if ndim == 2:  # matrices: the file's type (the quantize tool quantizes 2-D tensors only)
        return file_type.weight_type
    return GGMLType.F16  # the 3-D conv weights; F32 there fails to load in a quantized file


def check_quantizable(name: str, shape: tuple[int, ...], ggml_type: GGMLType) -> None:
    block = BLOCK_LAYOUT[ggml_type][0]
    if shape[-1] % block:
        raise WacftError(
            f"Tensor {name} has rows of {shape[-1]} values, not a multiple of {block}, so it cannot be stored as"
            f" {ggml_type.name.lower()}; convert to f16 instead."
        )


def encode(rows: np.ndarray, ggml_type: GGMLType) -> memoryview:
    """Rows of float32/float16 values as the bytes of `ggml_type` (a view: no copy into a bytes object)."""
    if ggml_type == GGMLType.F32:
        data = rows.astype("<f4", copy=False)
    elif ggml_type == GGMLType.F16:
        data = rows.astype("<f2", copy=False)
    else:
        # quantize_rows works on the whole chunk at once; gguf's quantize() goes 16 rows at a time, which holds
        # the GIL and is about half as fast on two threads
        data = getattr(quants, ggml_type.name).quantize_rows(rows.astype(np.float32, copy=False))
    return memoryview(np.ascontiguousarray(data)).cast("B")  # type: ignore[arg-type]  # numpy types the buffer protocol from Python 3.12 on
