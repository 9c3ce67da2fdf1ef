"""What a conversion writes and from what: the types offered, the default output file, and after a Modal run
what is fetched from its volume instead of converting here."""

from __future__ import annotations

from pathlib import Path

from wacft.acft.backends import ConvertInput, Progress
from wacft.acft.runs import RunRecord, load_run
from wacft.convert.convert import convert, output_sizes, plan_outputs
from wacft.convert.ggml import CONVERSION_TYPES, ConversionType, read_ggml
from wacft.convert.loadable import check_finite
from wacft.errors import WacftError
from wacft.paths import runs_dir

__all__ = ["CONVERSION_TYPES", "DEFAULT_TYPES", "TYPES", "check_finite", "convert", "default_file", "for_convert",
           "output_sizes", "plan_outputs", "read_ggml", "remote_output"]

TYPES: tuple[ConversionType, ...] = ("f16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0")  # the types the wizard offers
# picked unless the person picks others; a Modal job converts these too
DEFAULT_TYPES: tuple[ConversionType, ...] = ("q8_0", "q5_0")


def default_file(model: str, trained: str = "", run_out: str = "") -> Path:
    """Where `model` converts to: beside the trained model in its run's folder, or in the folder named for the
    run (`run_out`; a Modal run's is fetched there); any other model's files under the user data dir."""
    if model and model == trained and Path(model).is_dir():
        folder = Path(model)
    elif run_out:
        folder = Path(run_out)
    else:
        folder = runs_dir() / "converted"
    stem = Path(model.rstrip("/")).name.replace("-", "_").replace(".", "_") or "model"
    return folder / f"{stem}.bin"


def remote_output(run_id: str, model: str) -> RunRecord | None:
    """The run whose output, where it ran (a Modal volume), `model` names (the wizard's model after such a run)."""
    from wacft.services.runs import backend_for

    try:
        record = load_run(run_id) if run_id else None
    except WacftError:  # a run the registry no longer has: `model` is then a plain path or hub id
        return None
    if record is None or model != record.artifacts.get("model"):
        return None
    return record if backend_for(record).remote else None


def for_convert(run_id: str, model: str, types: list[str], dest: Path,
                progress: Progress | None = None) -> ConvertInput:
    """The convert step's input: `model` as it is, unless it is a run's output where it ran; then what the step
    needs of it, fetched into `dest`."""
    from wacft.services.runs import backend_for

    record = remote_output(run_id, model)
    if record is None:
        return ConvertInput(model)
    return backend_for(record).fetch_for_convert(record, dest, types, progress)
