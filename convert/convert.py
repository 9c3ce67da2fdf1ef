"""Hugging Face Whisper (safetensors) -> whisper.cpp GGML files, several types in one pass.

Each tensor is read in row chunks, encoded on a thread pool (numpy and hashlib release the GIL), and
written to every output in order. Nothing reaches a final file name until that file is complete.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from wacft.atomic import atomic_writer, refuse_existing
from wacft.convert.ggml import FILE_TYPES, ConversionType, FileType, GGMLType, file_header, tensor_header, tensor_nbytes
from wacft.convert.mel import mel_filters
from wacft.convert.names import TOKEN_EMBEDDING, stored_shape
from wacft.convert.quantize import check_quantizable, encode, tensor_type
from wacft.convert.source import WhisperSource, open_source
from wacft.convert.vocab import byte_tokens
from wacft.convert.weights import Weight
from wacft.errors import WacftError
from wacft.pipeline import ordered_map

CHUNK_BYTES = 2 << 20  # a few cache-sized pieces per tensor, so both cores stay busy
Progress = Callable[[int, int], None]  # (input bytes done, input bytes in all)


@dataclass(frozen=True)
class Output:
    path: Path
    file_type: FileType


@dataclass(frozen=True)
class Converted:
    path: Path
    file_type: FileType
    size: int
    sha256: str


def plan_outputs(out: str | os.PathLike[str], types: Iterable[ConversionType]) -> list[Output]:
    """One rule for one type and several: each is written beside `out` as `<stem>_<type>.bin`, as FUTO names its
    own files (`--out base_en_acft.bin --type q8_0`: base_en_acft_q8_0.bin). A stem that already ends in a type
    loses that ending first (`--out base_en_acft_q8_0.bin` writes that file for q8_0). A folder is kept as it is,
    for `convert` to refuse."""
    out, types = Path(out), list(dict.fromkeys(types))
    if out.is_dir():
        return [Output(out, FILE_TYPES[t]) for t in types]
    stem = next((out.stem.removesuffix(f"_{t}") for t in FILE_TYPES if out.stem.endswith(f"_{t}")), out.stem)
    return [Output(out.with_name(f"{stem}_{t}{out.suffix or '.bin'}"), FILE_TYPES[t]) for t in types]


def check_tied(source: WhisperSource) -> None:
    """whisper.cpp projects onto the token embedding; a different proj_out would be silently ignored."""
    proj, embedding = source.proj_out, source.weights[TOKEN_EMBEDDING]
    if proj is None:
        return
    for start, stop in embedding.chunks(CHUNK_BYTES):
        if not np.array_equal(proj.read_rows(start, stop), embedding.read_rows(start, stop)):
            raise WacftError(
                f"{source.folder} has an output projection (proj_out) that differs from its token embedding;"
                " whisper.cpp always reuses the token embedding, so it would run a different model. Train with"
                " tied embeddings (tie_word_embeddings=true) and convert again."
            )


class _Sink:
    """One output file being written, hashed as it goes."""

    def __init__(self, f: BinaryIO, output: Output):
        self.f, self.output, self.hash, self.size = f, output, hashlib.sha256(), 0

    def write(self, data: bytes | memoryview) -> None:
        self.f.write(data)
        self.hash.update(data)
        self.size += len(data)

    def result(self) -> Converted:
        return Converted(self.output.path, self.output.file_type, self.size, self.hash.hexdigest())


@dataclass(frozen=True)
class _Layout:
    """One output file, fully known before a byte is written: its header, each tensor's type, its size."""

    header: bytes
    types: dict[str, GGMLType]
    size: int


def _layout(source: WhisperSource, file_type: FileType, tokens: list[bytes]) -> _Layout:
    hparams = replace(source.hparams, ftype=file_type.ftype)
    header = file_header(hparams, mel_filters(hparams.n_mels), tokens)
    shapes = {name: stored_shape(name, w.shape) for name, w in source.weights.items()}
    types = {name: tensor_type(name, len(shape), file_type) for name, shape in shapes.items()}
    size = len(header)
    for name, shape in shapes.items():
        if types[name] not in (GGMLType.F32, GGMLType.F16):
            check_quantizable(name, shape, types[name])
        size += len(tensor_header(name, types[name], shape)) + tensor_nbytes(types[name], shape)
    return _Layout(header, types, size)


def output_sizes(model: str, types: Iterable[ConversionType]) -> dict[ConversionType, int]:
    """The exact size each type's file will have, without writing anything."""
    source = open_source(model)
    tokens = byte_tokens(source.folder, source.hparams.multilingual)
    return {t: _layout(source, FILE_TYPES[t], tokens).size for t in types}


@dataclass(frozen=True)
class _Job:
    """A chunk of rows of one tensor, read once and encoded for every output."""

    name: str
    weight: Weight
    types: tuple[GGMLType, ...]  # one per output
    start: int
    stop: int

    def run(self) -> list[memoryview]:
        rows = self.weight.read_rows(self.start, self.stop)
        if not np.isfinite(rows).all():  # refused as met: checking every tensor first would read the model twice
            raise WacftError(f"{self.weight.path}: tensor {self.name} holds NaN or infinite values; the model is"
                             " damaged or its training diverged: train (or download) it again.")
        return [encode(rows, t) for t in self.types]


def convert(
    model: str,
    outputs: list[Output],
    *,
    force: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
) -> list[Converted]:
    """Convert `model` (folder or hub id) to every output; everything is checked before anything is written."""
    source = open_source(model)
    check_tied(source)
    tokens = byte_tokens(source.folder, source.hparams.multilingual)
    layouts = [_layout(source, o.file_type, tokens) for o in outputs]
    for output in outputs:
        refuse_existing(output.path, force)
    jobs = (
        _Job(name, weight, tuple(lay.types[name] for lay in layouts), start, stop)
        for name, weight in source.weights.items()
        for start, stop in weight.chunks(CHUNK_BYTES)
    )
    workers = workers or os.cpu_count() or 1
    done = 0
    with ExitStack() as stack:
        sinks = [
            _Sink(stack.enter_context(atomic_writer(o.path, force=force, size=lay.size)), o)
            for o, lay in zip(outputs, layouts, strict=True)
        ]
        for sink, lay in zip(sinks, layouts, strict=True):
            sink.write(lay.header)
        pool = stack.enter_context(ThreadPoolExecutor(workers))
        for job, encoded in ordered_map(pool, lambda j: (j, j.run()), jobs, ahead=2 * workers):
            for sink, ggml_type, data in zip(sinks, job.types, encoded, strict=True):
                if job.start == 0:
                    sink.write(tensor_header(job.name, ggml_type, stored_shape(job.name, job.weight.shape)))
                sink.write(data)
            done += (job.stop - job.start) * job.weight.row_nbytes
            if progress:
                progress(done, source.total_bytes)
    return [sink.result() for sink in sinks]
