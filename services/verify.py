"""Verifying a .bin as a person does it, the same from `wacft verify` and the wizard: the clips (the ones the
run held out, where there is a run), the base model as the baseline (converted once to the same type, and its
results cached), then the check itself (convert/verify.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wacft.acft import held_out
from wacft.acft.config import TrainConfig
from wacft.acft.dataset_spec import DatasetSpec
from wacft.atomic import write_bytes_atomic
from wacft.convert.verdict import NOT_READY as NOT_READY  # a verdict's states, for the Phone step
from wacft.convert.verdict import READY as READY
from wacft.convert.verify import (
    DEFAULT_CONTEXTS,
    ModelResult,
    Sample,
    Verification,
    check_samples,
    run_model,
    verify,
    write_audio,
)
from wacft.convert.whispercpp import FUTO, Decoding, Engine
from wacft.errors import WacftError
from wacft.paths import cache_dir

if TYPE_CHECKING:
    from wacft.acft.data import Clip

Say = Callable[[str], None]
AUTO, NONE = "auto", "none"  # --baseline: the run's base model; no baseline
CHUNK = 1 << 20


@dataclass
class Run:
    """What verify needs of a training run: its settings and the clips it set aside."""

    name: str  # as the person named it: a run id or a folder
    config: TrainConfig
    slice: held_out.HeldOut | None  # acft/held_out.py's; None: the run kept none (it predates them, or --no-hold-out)


def find_run(run: str) -> Run:
    """A run by its id (`wacft runs`) or its output folder (where training_config.json is)."""
    from wacft.acft.runs import load_run
    from wacft.paths import runs_dir

    folder = Path(run).expanduser()
    if (folder / "training_config.json").is_file() or (folder / "run_config.json").is_file():
        name = "training_config.json" if (folder / "training_config.json").is_file() else "run_config.json"
        return Run(run, TrainConfig.load(folder / name, saved=True), held_out.read(folder))
    if not (runs_dir() / f"{run}.json").is_file() and (os.sep in run or folder.is_dir()):
        raise WacftError(f"{run} is not a run's folder (it has no training_config.json); give a run id from"
                         " `wacft runs` or the folder a run trained into.")
    record = load_run(run)
    config = TrainConfig.from_json(json.dumps(record.config), saved=True)
    return Run(run, config, record.held_out or held_out.read(Path(config.out)))


def run_of(model: str | os.PathLike[str]) -> Run | None:
    """The run a .bin was converted beside (the wizard and `wacft convert` write it into the run's folder)."""
    folder = Path(model).parent
    return find_run(str(folder)) if (folder / "training_config.json").is_file() else None


def run_clips(run: Run, limit: int = 0) -> tuple[list[Clip], str]:
    """The clips to verify a run's model on, and a sentence saying which they are."""
    from wacft.acft.data import load_clips

    clips = load_clips(run.config.dataset_spec).clips
    if run.slice and run.slice["clips"]:
        chosen = held_out.pick(clips, run.slice, run.config.dataset)
        note = f"Measured on {len(chosen[:limit or None])} clips the run held out: training never saw them."
        return chosen[: limit or None], note
    why = ("the dataset had too few clips to hold any out" if run.slice is not None else
           "the run held none out")
    return clips[: limit or None], f"Measured on clips the model trained on ({why}): its figures flatter it."


def _slug(model: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "_", Path(model.rstrip("/")).name).strip("_") or "model"
    return f"{stem}-{hashlib.sha256(os.fspath(model).encode()).hexdigest()[:8]}"


def base_bin(base_model: str, file_type: str, say: Say | None = None) -> Path:
    """The run's base model as a .bin of `file_type`, converted the first time and kept in the cache."""
    from wacft.convert.convert import convert, plan_outputs

    path = cache_dir() / "base-models" / f"{_slug(base_model)}_{file_type}.bin"
    if not path.is_file():
        if say:
            say(f"Converting the base model {base_model} to {file_type} (once)...")
        path.parent.mkdir(parents=True, exist_ok=True)
        convert(base_model, plan_outputs(path, [file_type]), force=True)
    return path


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _key(model: Path, samples: Sequence[Sample], engine: Engine, decoding: Decoding | None, contexts: Sequence[str],
         language: str) -> str:
    """The base's results are reused for the same file, clips, engine, decoding, contexts and language."""
    h = hashlib.sha256(_digest(model).encode())
    for sample in samples:
        h.update(sample.audio.tobytes())
        h.update(sample.text.encode())
    settings = [engine.label, None if decoding is None else [decoding.beam_size, decoding.prompt], list(contexts),
                language]
    h.update(json.dumps(settings).encode())
    return h.hexdigest()


def base_results(model: Path, samples: Sequence[Sample], *, engine: Engine, decoding: Decoding | None,
                 contexts: Sequence[str], language: str, languages: Sequence[str] = (), threads: int | None,
                 progress: Callable[[int, int, str], None] | None) -> tuple[ModelResult, bool]:
    """The base model's results on `samples`, from the cache or run now (and cached); and whether they were
    cached."""
    import tempfile

    key = _key(model, samples, engine, decoding, contexts, ",".join([language, *languages]))
    path = cache_dir() / "base-results" / f"{key}.json"
    try:
        return ModelResult.from_dict(json.loads(path.read_text())), True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    contexts = [c for c in ("full", "dynamic", "futo") if c in contexts]
    total = len(contexts) * len(samples)
    step: Callable[[int, int], None] | None = None
    if progress:
        def step(done: int, _: int) -> None:
            context = contexts[min(done // len(samples), len(contexts) - 1)]
            progress(done, total, f"the base model {model.name} at {context} context, once ({engine.name} engine)")
        step(0, total)
    with tempfile.TemporaryDirectory() as tmp:
        audio, lengths = write_audio(samples, Path(tmp))
        result = run_model(model, samples, audio, language=language, languages=languages, threads=threads,
                           progress=step, decoding=decoding, engine=engine, contexts=contexts, lengths=lengths)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, json.dumps(asdict(result)).encode())
    return result, False


def check(
    model: str | os.PathLike[str],
    samples: Sequence[Sample],
    *,
    engines: Sequence[Engine],
    baseline: str | None = AUTO,
    base_model: str | None = None,
    f16: str | os.PathLike[str] | None = None,
    decoding: Decoding | None = FUTO,
    contexts: Sequence[str] = DEFAULT_CONTEXTS,
    language: str = "en",
    languages: Sequence[str] = (),
    threads: int | None = None,
    clips_note: str = "",
    progress: Callable[[int, int, str], None] | None = None,
    say: Say | None = None,
) -> Verification:
    """`model` verified on `samples` in `engines` (the first one's verdict). `baseline`: AUTO (`base_model`
    converted to the model's type, its results cached; none without a base model), NONE, or a .bin (run here)."""
    from wacft.convert.ggml import read_ggml

    check_samples(samples)  # before the base model's decoding
    base_result = None
    if baseline == AUTO and base_model:
        file_type = read_ggml(model).file_type
        try:
            path = base_bin(base_model, file_type.name if file_type else "f16", say)
        except WacftError as e:  # offline with a hub id, say: the model is still checked on its own
            if say:
                say(f"{e} Verifying without the base model.")
        else:
            base_result, cached = base_results(path, samples, engine=engines[0], decoding=decoding,
                                               contexts=contexts, language=language, languages=languages,
                                               threads=threads, progress=progress)
            if say:
                say(f"the base model {base_model}: {'cached results' if cached else 'decoded now, and cached'}")
    if baseline in (AUTO, NONE):
        baseline = None
    result = verify(model, samples, baseline=baseline, f16=f16, language=language, languages=languages,
                    threads=threads, progress=progress, decoding=decoding, engines=engines, contexts=contexts,
                    base_result=base_result, clips_note=clips_note)
    return result


def clips_to_verify(run: Run | None, spec: DatasetSpec | None, limit: int = 0, as_recorded: bool = False
                    ) -> tuple[list[Clip], str]:
    """The clips of `spec` when given, else those `run` held out (with the sentence that says so), each laid out
    as the phone records a dictation unless `as_recorded` (its silence made up to FUTO's lead and tail)."""
    from wacft.acft.data import as_the_phone_records, load_clips

    if spec is not None:
        clips, note, max_length = load_clips(spec).clips, "", spec.max_audio_length
    elif run is not None:
        clips, note = run_clips(run, limit)
        max_length = run.config.max_audio_length
    else:
        raise WacftError("Give the clips to verify with: --run RUN (the clips that run held out) or --dataset.")
    return (clips if as_recorded else as_the_phone_records(clips, 1.0, 0, max_length)), note


def on_the_phone(model: str, run: Run | None, spec: DatasetSpec | None, *, limit: int, language: str,
                 glossary: Sequence[str], progress: Callable[[int, int, str], None], say: Say) -> Verification:
    """The wizard's verify: `model` as the phone runs it (its whisper.cpp, FUTO's decoding with the person's
    glossary, the language forced), against the run's base model, on the clips `clips_to_verify` gives."""
    from wacft.convert.phone_engine import choose_engines
    from wacft.extras import require_extra

    require_extra("verify")  # before the dataset, which would name only the 'data' part of it
    clips, note = clips_to_verify(run, spec, limit)
    engines = choose_engines("phone", say)  # its install (once) is said until decoding starts
    return check(model, clips, engines=engines, base_model=run.config.model if run else None, language=language,
                 decoding=Decoding(glossary=tuple(glossary)), clips_note=note, progress=progress, say=say)
