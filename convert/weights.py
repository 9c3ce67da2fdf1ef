"""Reading safetensors weights in row chunks, straight from the file: memory stays near one chunk, not
the model. The format is an 8-byte header length, a JSON header of dtype/shape/offsets, then raw data."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wacft.errors import WacftError

# safetensors dtype -> numpy dtype it is read as (bf16 is read as uint16 and widened by hand)
DTYPES: dict[str, np.dtype[Any]] = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}
MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class Weight:
    """One tensor in a safetensors file, not yet read."""

    name: str
    path: Path
    dtype: str
    shape: tuple[int, ...]
    offset: int  # absolute, in the file
    nbytes: int

    @property
    def row_count(self) -> int:
        return self.shape[0] if self.shape else 1

    @property
    def row_nbytes(self) -> int:
        return self.nbytes // max(self.row_count, 1)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as float32 (or float16 when stored so), shaped like the tensor."""
        with open(self.path, "rb") as f:
            data = os.pread(f.fileno(), (stop - start) * self.row_nbytes, self.offset + start * self.row_nbytes)
        if len(data) != (stop - start) * self.row_nbytes:
            raise WacftError(f"{self.path} is truncated inside tensor {self.name}; download the model again.")
        array = np.frombuffer(data, DTYPES[self.dtype])
        if self.dtype == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array.reshape((stop - start, *self.shape[1:]) if self.shape else ())

    def read(self) -> np.ndarray:
        return self.read_rows(0, self.row_count)

    def chunks(self, max_bytes: int) -> Iterator[tuple[int, int]]:
        """Row ranges of at most about `max_bytes` each (at least one row)."""
        rows = max(1, max_bytes // max(self.row_nbytes, 1))
        for start in range(0, self.row_count, rows):
            yield start, min(start + rows, self.row_count)


def read_safetensors_header(path: Path) -> dict[str, Weight]:
    """The tensors of one safetensors file, validated against the file's size."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed by the `with` below: opened here to name what fails)
    except OSError as e:
        raise WacftError(f"{path} cannot be read ({e.strerror}); make it readable, or download the model again.") from e
    size = os.fstat(f.fileno()).st_size
    with f:
        raw_len = f.read(8)
        if len(raw_len) != 8:
            raise WacftError(f"{path} is not a safetensors file (too short); download the model again.")
        (header_len,) = struct.unpack("<Q", raw_len)
        if header_len > min(MAX_HEADER_BYTES, size - 8):
            raise WacftError(f"{path} is not a safetensors file (bad header); download the model again.")
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WacftError(f"{path} has an unreadable safetensors header; download the model again.") from e
    base = 8 + header_len
    weights = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] not in DTYPES:
            raise WacftError(
                f"{path} stores {name} as {meta['dtype']}; only F32, F16 and BF16 Whisper weights can be converted."
            )
        start, stop = meta["data_offsets"]
        shape = tuple(meta["shape"])
        if base + stop > size or stop - start != DTYPES[meta["dtype"]].itemsize * int(np.prod(shape)):
            raise WacftError(f"{path} is truncated or corrupt at tensor {name}; download the model again.")
        weights[name] = Weight(name, path, meta["dtype"], shape, base + start, stop - start)
    return weights
