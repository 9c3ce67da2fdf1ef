"""Our quantized blocks are byte-identical to ggml's own, from the libggml that whisper.cpp runs with."""

import ctypes
from pathlib import Path

import numpy as np
import pytest
import pywhispercpp

from wacft.convert.ggml import BLOCK_LAYOUT, FILE_TYPES, GGMLType, tensor_nbytes
from wacft.convert.quantize import encode

QUANTIZED = [t.weight_type for t in FILE_TYPES.values() if t.quantized]
ROW = 256


@pytest.fixture(scope="module")
def libggml() -> ctypes.CDLL:
    site = Path(pywhispercpp.__file__).parent.parent
    lib = ctypes.CDLL(str(next(site.glob("libggml-base.so*"))))
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    return lib


def awkward_rows(seed: int) -> np.ndarray:
    """Rows that hit the quantizers' edge cases, beside ordinary weights."""
    rng = np.random.default_rng(seed)
    rows = [
        rng.normal(0, 0.02, ROW),  # typical weights
        rng.normal(0, 3.0, ROW),
        np.zeros(ROW),  # all-zero blocks (scale 0)
        np.full(ROW, 0.5),  # constant blocks
        -np.abs(rng.normal(0, 1, ROW)),  # negative maxima (the sign rule of q4_0/q5_0)
        rng.normal(0, 1, ROW) * 1e-30,  # values below f16's range for the scale
        rng.choice([-1.0, 1.0], ROW) * 1e4,
        np.round(rng.normal(0, 4, ROW)),  # exact halves and integers after scaling
    ]
    return np.stack(rows).astype(np.float32)


def ggml_ref(lib: ctypes.CDLL, ggml_type: GGMLType, rows: np.ndarray) -> bytes:
    """ggml's reference quantizer, row by row."""
    func = getattr(lib, f"quantize_row_{ggml_type.name.lower()}_ref")
    out = bytearray()
    for row in rows:
        dst = ctypes.create_string_buffer(tensor_nbytes(ggml_type, row.shape))
        func(row.ctypes.data_as(ctypes.c_void_p), dst, ctypes.c_int64(row.size))
        out += dst.raw
    return bytes(out)


def ggml_chunk(lib: ctypes.CDLL, ggml_type: GGMLType, rows: np.ndarray) -> bytes:
    """ggml_quantize_chunk, the entry whisper.cpp's quantize tool calls."""
    dst = ctypes.create_string_buffer(tensor_nbytes(ggml_type, rows.shape))
    written = lib.ggml_quantize_chunk(int(ggml_type), rows.ctypes.data, dst, 0, rows.shape[0], rows.shape[1], None)
    assert written == len(dst.raw)
    return dst.raw


@pytest.mark.parametrize("ggml_type", QUANTIZED, ids=lambda t: t.name.lower())
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blocks_match_ggml_byte_for_byte(libggml, ggml_type, seed):
    rows = awkward_rows(seed)
    ours = bytes(encode(rows, ggml_type))
    assert len(ours) == rows.size // BLOCK_LAYOUT[ggml_type][0] * BLOCK_LAYOUT[ggml_type][1]
    assert ours == ggml_ref(libggml, ggml_type, rows)
    assert ours == ggml_chunk(libggml, ggml_type, rows)


def test_f16_matches_ggml_rounding(libggml):
    rows = awkward_rows(3)
    libggml.ggml_fp32_to_fp16_row.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    dst = ctypes.create_string_buffer(rows.size * 2)
    libggml.ggml_fp32_to_fp16_row(rows.ctypes.data, dst, rows.size)
    assert bytes(encode(rows, GGMLType.F16)) == dst.raw
