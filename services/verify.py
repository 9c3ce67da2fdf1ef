"""Verifying a .bin as a person does it, the same from `wacft verify` and the wizard: the clips (the ones the
run held out, where there is a run), the base model as the baseline (converted once to the same type, and its
results cached), then the check itself (verify/check.py)."""

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
from wacft.atomic import write_bytes_atomic
from wacft.dataset.spec import DatasetSpec
from wacft.errors import WacftError
from wacft.paths import cache_dir, runs_dir
from wacft.verify.check import (
    DEFAULT_CONTEXTS,
    ModelResult,
    Sample,
    Verification,
    check_samples,
    run_model,
    verify,
    write_audio,
)
from wacft.verify.phone_engine import ENGINE_CHOICES as ENGINE_CHOICES  # for `wacft verify --engine`
from wacft.verify.phone_engine import EngineChoice
from wacft.verify.verdict import NOT_READY as NOT_READY  # a verdict's states, for the Phone step
from wacft.verify.verdict import READY as READY
from wacft.verify.verdict import RULE as RULE  # the rule, for `wacft verify --help`
from wacft.verify.whispercpp import FUTO, Decoding, Engine

if TYPE_CHECKING:
    from wacft.convert.ggml import ConversionType
    from wacft.dataset.clips import Clip

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
    from wacft.dataset.clips import load_clips

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


def base_bin(base_model: str, file_type: ConversionType, say: Say | None = None) -> Path:
    """The run's base model as a .bin of `file_type`, converted the first time and kept in the cache."""
    from wacft.convert.convert import convert, plan_outputs

    path = cache_dir() / "base-models" / f"{_slug(base_model)}_{file_type}.bin"
    if not path.is_file():
        if say:
            say(f"Converting the base model {base_model} to {file_type} (once)...")
        path.parent.mkdir(parents=True, exist_ok=True)
        convert(base_model, plan_outputs(path, [file_type]), force=True)
    return path


def stamp_of(model: str) -> list[int] | None:
    """What tells a file rewritten since its verdict (size and modification time, as make tells it; a rewrite is a
    new file, written atomically), or None where there is none."""
    try:
        stat = os.stat(model)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


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


@dataclass(frozen=True)
class Request:
    """What to verify and how, as `wacft verify`'s options and the wizard's verify step say it."""

    model: str
    run: str | None = None  # a run id or folder; default: the run whose folder holds the model
    dataset: DatasetSpec | None = None  # default: the clips the run held out
    limit: int = 0  # clips (0: all)
    language: str | None = None  # forced; default: the run's, else English
    languages: str | None = None  # "de,en": chosen among, clip by clip
    glossary: tuple[str, ...] = ()  # default: the run's
    baseline: str = AUTO  # AUTO, NONE or a base .bin
    f16: str | None = None  # AUTO: the model's _f16 sibling
    engine: EngineChoice = "phone"
    greedy: bool = False
    as_recorded: bool = False  # the clips as the dataset has them, not with the silence the phone records
    dynamic: bool = False  # also the published evaluation's dynamic context
    threads: int | None = None


def verify_file(request: Request, progress: Callable[[int, int, str], None], say: Say) -> Verification:
    """The model checked as `request` asks, every refusal said before any decoding: its run, its clips, the
    phone's whisper.cpp (or the one asked for), the base model's cached results, and the verdict."""
    from wacft.convert.ggml import read_ggml
    from wacft.extras import require_extra
    from wacft.verify.check import CONTEXTS, f16_sibling
    from wacft.verify.languages import decoding_languages
    from wacft.verify.phone_engine import choose_engines
    from wacft.verify.whispercpp import FUTO_BEAM_SIZE

    r = request
    if r.limit < 0:
        raise WacftError(f"--limit is {r.limit}; give a number of clips, or 0 for all of them.")
    if r.threads is not None and r.threads < 1:  # whisper.cpp would fail on it, blaming the model
        raise WacftError(f"--threads is {r.threads}; give a number of threads of at least 1, or leave it out.")
    f16 = f16_sibling(r.model) if r.f16 == AUTO else r.f16
    given = [r.model, *([] if r.baseline in (AUTO, NONE) else [r.baseline]), *([f16] if f16 else [])]
    for path in given:
        read_ggml(path)  # a bad file is named before the dataset is read
    run = find_run(r.run) if r.run else run_of(r.model)
    glossary = r.glossary or tuple(run.config.glossary if run else ())
    language, languages = decoding_languages(r.model, r.language or (run and run.config.language) or None,
                                             r.languages)
    require_extra("verify")  # before the dataset, which would name only the 'data' part of it
    samples, note = clips_to_verify(run, r.dataset, r.limit, r.as_recorded, say)
    engines = choose_engines(r.engine, say)  # the phone's install (once) is said until decoding starts
    if f16:
        say(f"comparing with the f16 file {f16}")
    return check(r.model, samples, engines=engines, baseline=r.baseline,
                 base_model=run.config.model if run else None, f16=f16,
                 decoding=Decoding(beam_size=1 if r.greedy else FUTO_BEAM_SIZE, glossary=glossary),
                 contexts=tuple(CONTEXTS) if r.dynamic else DEFAULT_CONTEXTS, language=language,
                 languages=languages, threads=r.threads, clips_note=note, progress=progress, say=say)


def clips_to_verify(run: Run | None, spec: DatasetSpec | None, limit: int, as_recorded: bool, say: Say
                    ) -> tuple[list[Clip], str]:
    """The clips of `spec` when given, else those `run` held out (with the sentence that says so), each laid out
    as the phone records a dictation unless `as_recorded` (its silence made up to FUTO's lead and tail)."""
    from wacft.dataset.clips import as_the_phone_records, load_clips
    from wacft.facts import FUTO_LEAD_SECONDS, FUTO_TAIL_SECONDS

    if spec is not None:
        found = load_clips(spec)
        say(f"{spec.dataset}: {found.summary()}")
        clips, note, max_length = found.clips, "", spec.max_audio_length
    elif run is not None:
        clips, note = run_clips(run, limit)
        say(f"run {run.name}: {note}")
        max_length = run.config.max_audio_length
    else:
        raise WacftError("Give the clips to verify with: --run RUN (the clips that run held out) or --dataset.")
    if as_recorded:
        return clips, note
    say(f"each clip laid out as the phone records it: its silence made up to {FUTO_LEAD_SECONDS} s before the"
        f" speech and {FUTO_TAIL_SECONDS:.2f} s after")
    return as_the_phone_records(clips, 1.0, 0, max_length), note
