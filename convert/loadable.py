"""Would whisper.cpp load this .bin? Its loader refuses a file whose tensors are not exactly the set its
hparams describe, or whose tensor has another shape, element count or type than it allocates: checked here
so that a file it would refuse is never called fine."""

from __future__ import annotations

import numpy as np

from wacft.convert.ggml import BLOCK_LAYOUT, GGMLFile, GGMLType, TensorInfo
from wacft.convert.names import expected_dimensions, expected_shapes, stored_shape
from wacft.errors import WacftError


def check_loadable(model: GGMLFile) -> None:
    from wacft.convert.quantize import tensor_type  # gguf: only once a file passed the structural read

    h, path = model.hparams, model.path
    dims = expected_dimensions(h)
    shapes = {name: stored_shape(name, shape) for name, shape in expected_shapes(h).items()}
    found = [t.name for t in model.tensors]
    extra = [name for name in found if name not in shapes]
    missing = sorted(shapes.keys() - set(found))
    duplicated = sorted({name for name in found if found.count(name) > 1})
    layers = f"its header says {h.n_audio_layer} encoder and {h.n_text_layer} decoder layers"
    if extra:
        raise WacftError(f"{path} has {len(extra)} tensor(s) its header does not describe, e.g. {extra[0]}"
                         f" ({layers}); whisper.cpp would refuse it: convert the model again.")
    if missing or duplicated:
        what = f"lacks {len(missing)} tensor(s), e.g. {missing[0]}" if missing else f"repeats {duplicated[0]}"
        raise WacftError(f"{path} {what} ({layers}); whisper.cpp would refuse it: convert the model again.")
    for t in model.tensors:
        if t.shape != shapes[t.name]:
            raise WacftError(
                f"{path}: tensor {t.name} has shape {list(t.shape)} where its header makes it"
                f" {list(shapes[t.name])} ({' x '.join(dims[t.name])}); whisper.cpp would refuse it: convert"
                " the model again."
            )
        wanted = tensor_type(t.name, len(expected_shapes(h)[t.name]), model.file_type)
        if t.type != wanted:
            raise WacftError(
                f"{path}: tensor {t.name} is stored as {t.type.name.lower()} where a {model.file_type.name}"
                f" file holds {wanted.name.lower()}; whisper.cpp would refuse it: convert the model again."
            )


# quantized blocks start with their float16 scale (and, for the _1 types, their minimum); the rest are integers
FLOATS_PER_BLOCK = {GGMLType.Q4_0: 1, GGMLType.Q5_0: 1, GGMLType.Q8_0: 1, GGMLType.Q4_1: 2, GGMLType.Q5_1: 2}


def float_values(model: GGMLFile, info: TensorInfo) -> np.ndarray:
    """Every float a tensor stores: its values, or its blocks' scales and minimums."""
    data = model.read_array(info)
    if info.type in (GGMLType.F32, GGMLType.F16):
        return data
    blocks = data.reshape(-1, BLOCK_LAYOUT[info.type][1])
    return np.ascontiguousarray(blocks[:, : 2 * FLOATS_PER_BLOCK[info.type]]).view("<f2")


def check_finite(model: GGMLFile) -> None:
    """A NaN or an infinity anywhere (a damaged file, or training that diverged) makes whisper.cpp's output
    garbage on some inputs and not others: refused outright."""
    for info in model.tensors:
        bad = int(np.count_nonzero(~np.isfinite(float_values(model, info))))
        if bad:
            raise WacftError(f"{model.path}: tensor {info.name} holds {bad} non-finite value(s) (NaN or infinity);"
                             " the file is damaged or its training diverged: convert (or train) it again.")
