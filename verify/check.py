"""Verify a .bin before it goes to the phone: transcribe each clip in whisper.cpp, decoding as FUTO Keyboard
does (beam search, its glossary prompt), at the full context, at the published dynamic context and at FUTO
Keyboard's own, in the whisper.cpp generation the phone ships and the current one, and report WER, runaway
(looping) outputs and latency, beside a base model or the f16 file a quantized one came from.

Each clip's decoding stops at a cap that follows its length (far above what anyone says in that time): a
runaway still shows, in seconds instead of the minute the phone would spend on it, and its WER is a floor.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, astuple, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from wacft.audio import speech_bounds
from wacft.convert.ggml import GGMLFile, GGMLType, Hparams, read_ggml
from wacft.convert.loadable import check_finite
from wacft.errors import WacftError
from wacft.facts import FULL_CONTEXT, SAMPLE_RATE
from wacft.verify.normalize import normalizer, rate_name, word_error_rate
from wacft.verify.verdict import (
    NOT_READY,
    READY,
    TOO_FEW,
    UNCHECKED,
    Answer,
    Side,
    judge_loops,
    judge_wer,
    loops_alone,
    overall,
)
from wacft.verify.whispercpp import (
    FUTO,
    FUTO_MAX_TOKENS,
    Clip,
    Decoding,
    Engine,
    current_engine,
    dynamic_audio_ctx,
    futo_audio_ctx,
    transcribe,
)

CONTEXTS: dict[str, Callable[[int], int]] = {
    "full": lambda n_samples: FULL_CONTEXT,
    "dynamic": dynamic_audio_ctx,
    "futo": futo_audio_ctx,
}
TOKENS_PER_SECOND = 10  # fast speech is 5-6 tokens a second
TOKEN_MARGIN = 16
RUNAWAY_LENGTH = 2.0  # words, relative to the reference, plus a little slack for short clips
RUNAWAY_SLACK = 4
REPEATS = 3  # a phrase this many times in a row, more often than the reference says it
MAX_PHRASE = 6  # words
USABLE_WER = 0.5  # above this at full context the model does not transcribe the data at all
HPARAM_NAMES = [f.name for f in fields(Hparams)]
PHONE, FULL = "futo", "full"
DEFAULT_CONTEXTS = (PHONE, FULL)  # what the verdict needs; "dynamic" (the paper's) on request
NO_BASELINE = (" Its full-context {rate} was not compared with the base model's: pass --run RUN (its base model,"
               " converted once and cached) or --baseline BASE.bin.")


class Sample(Protocol):
    """A clip to verify with (acft's data.Clip is one)."""

    @property
    def audio(self) -> np.ndarray: ...  # float32, 16 kHz mono

    @property
    def text(self) -> str: ...


def token_cap(n_samples: int) -> int:
    return min(FUTO_MAX_TOKENS, TOKEN_MARGIN + round(TOKENS_PER_SECOND * n_samples / SAMPLE_RATE))


def _repeats(words: list[str]) -> int:
    """The most times any phrase of up to MAX_PHRASE words occurs back to back."""
    most = 1
    for size in range(1, MAX_PHRASE + 1):
        for start in range(len(words) - 2 * size + 1):
            count = 1
            while words[start + count * size : start + (count + 1) * size] == words[start : start + size]:
                count += 1
            most = max(most, count)
    return most


def is_runaway(hypothesis: str, reference: str) -> bool:
    """Far longer than what was said, or a phrase repeated over and over: Whisper looping. Both normalised."""
    heard, said = hypothesis.split(), reference.split()
    if len(heard) > RUNAWAY_LENGTH * len(said) + RUNAWAY_SLACK:
        return True
    repeats = _repeats(heard)
    return repeats >= REPEATS and repeats > _repeats(said)


@dataclass
class Heard:
    """One clip at one context."""

    audio_ctx: int
    text: str  # as whisper.cpp wrote it
    wer: float
    runaway: bool
    seconds: float  # encoder and decoder
    encoder_seconds: float


@dataclass
class ClipResult:
    reference: str
    seconds: float
    heard: dict[str, Heard]  # context -> result
    words: int = 0  # in the reference, normalised

    def errors(self, context: str) -> int:
        return round(self.heard[context].wer * self.words)


@dataclass
class ContextSummary:
    wer: float
    runaways: int
    latency: float  # mean seconds per clip, encoder and decoder
    encoder_latency: float
    audio_ctx: float  # mean
    empty: int = 0  # clips with words said that came out as nothing: on the phone, nothing is typed


@dataclass
class ModelResult:
    """One .bin on the sample, in one engine."""

    model: str
    words: int  # in the references, normalised
    contexts: dict[str, ContextSummary]
    clips: list[ClipResult]
    engine: str = "current"  # which whisper.cpp, for people

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelResult:
        """As asdict() wrote it (the base model's cached results)."""
        clips = [ClipResult(c["reference"], c["seconds"], {k: Heard(**h) for k, h in c["heard"].items()},
                            c.get("words", 0)) for c in data["clips"]]
        contexts = {k: ContextSummary(**v) for k, v in data["contexts"].items()}
        return cls(data["model"], data["words"], contexts, clips, data.get("engine", "current"))


@dataclass
class QuantizedCheck:
    """A quantized file against its f16 sibling, per context."""

    f16: str
    identical: dict[str, int]  # clips transcribed to the same text
    wer_delta: dict[str, float]  # quantized minus f16


def _summarise(name: str, clips: list[ClipResult], references: list[str], norm: Callable[[str], str]) -> ContextSummary:
    heard = [c.heard[name] for c in clips]
    return ContextSummary(
        wer=word_error_rate(references, [norm(h.text) for h in heard], "verify"),
        runaways=sum(h.runaway for h in heard),
        latency=float(np.mean([h.seconds for h in heard])),
        encoder_latency=float(np.mean([h.encoder_seconds for h in heard])),
        audio_ctx=float(np.mean([h.audio_ctx for h in heard])),
        empty=sum(bool(said) and not norm(h.text) for h, said in zip(heard, references, strict=True)),
    )


def run_model(
    model: str | os.PathLike[str],
    samples: Sequence[Sample],
    audio: list[Path],
    *,
    language: str,
    threads: int | None,
    progress: Callable[[int, int], None] | None,
    decoding: Decoding | None = FUTO,
    engine: Engine | None = None,
    languages: Sequence[str] = (),
    contexts: Sequence[str] = tuple(CONTEXTS),
    lengths: Sequence[int] | None = None,
) -> ModelResult:
    """Every clip at each of `contexts` in one whisper.cpp process (`audio`: the samples' files, `lengths` their
    samples when known), in `language` (a code, forced) or chosen among several `languages` (see transcribe);
    scored in `language`."""
    engine = engine or current_engine()
    norm = normalizer(language)
    references = [norm(s.text) for s in samples]
    lengths = list(lengths) if lengths is not None else [len(s.audio) for s in samples]
    pairs = list(zip(audio, lengths, strict=True))
    clips = [Clip(path, CONTEXTS[name](n), token_cap(n)) for name in contexts for path, n in pairs]
    results = transcribe(model, clips, language=language, languages=languages, threads=threads, decoding=decoding,
                         engine=engine, progress=progress)
    rows = []
    for i, sample in enumerate(samples):
        heard = {}
        for k, name in enumerate(contexts):
            clip, result = clips[k * len(samples) + i], results[k * len(samples) + i]
            text = norm(result.text)
            heard[name] = Heard(
                clip.audio_ctx, result.text, word_error_rate([references[i]], [text], "verify"),
                is_runaway(text, references[i]), result.seconds, result.encoder_seconds,
            )
        rows.append(ClipResult(sample.text, lengths[i] / SAMPLE_RATE, heard, len(references[i].split())))
    summaries = {name: _summarise(name, rows, references, norm) for name in contexts}
    return ModelResult(os.fspath(model), sum(len(r.split()) for r in references), summaries, rows, engine.label)


def term_recall(result: ModelResult, terms: Sequence[str], context: str) -> tuple[int, int]:
    """How many of the terms said in the references whisper.cpp wrote as written (letter case aside), of how
    many were said: the measure of whether a model learnt a person's words."""
    said = heard = 0
    for clip in result.clips:
        text = clip.heard[context].text.lower()
        for term in terms:
            count = clip.reference.lower().count(term.lower())
            said += count
            heard += min(count, text.count(term.lower()))
    return heard, said


def compare_quantized(quantized: ModelResult, f16: ModelResult) -> QuantizedCheck:
    return QuantizedCheck(
        f16.model,
        {c: sum(q.heard[c].text == f.heard[c].text for q, f in zip(quantized.clips, f16.clips, strict=True))
         for c in quantized.contexts},
        {c: quantized.contexts[c].wer - f16.contexts[c].wer for c in quantized.contexts},
    )


def _difference(model: GGMLFile, f16: GGMLFile) -> str:
    """How `f16` shows it is another model than `model` ("" where nothing does): its dimensions, its vocabulary,
    or the values of a tensor both store as float32 (norms, biases, positions: quantizing leaves them alone)."""
    for name, ours, theirs in zip(HPARAM_NAMES, astuple(model.hparams), astuple(f16.hparams), strict=True):
        if name != "ftype" and ours != theirs:
            return f"its {name} is {theirs}, not {ours}"
    if model.n_tokens != f16.n_tokens:
        return f"its vocabulary has {f16.n_tokens} tokens, not {model.n_tokens}"
    kept = {t.name: t for t in f16.tensors if t.type == GGMLType.F32}
    for t in model.tensors:
        if t.type == GGMLType.F32 and t.name in kept and not np.array_equal(model.read_array(t),
                                                                            f16.read_array(kept[t.name])):
            return f"its tensor {t.name} holds other values"
    return ""


def check_same_model(model: GGMLFile, f16: GGMLFile) -> None:
    """A quantized file is compared with the f16 file it was quantized from, or with nothing."""
    difference = _difference(model, f16)
    if difference:
        raise WacftError(f"{f16.path} is not the f16 file {model.path.name} was quantized from ({difference});"
                         " give that model's f16 file with --f16, or leave --f16 out.")


def f16_sibling(model: str | os.PathLike[str]) -> Path | None:
    """For `name_q8_0.bin` (as `wacft convert` names several types), `name_f16.bin` beside it, if there."""
    path = Path(model)
    file_type = read_ggml(path).file_type
    if file_type is None or not file_type.quantized or not path.stem.endswith(f"_{file_type.name}"):
        return None
    sibling = path.with_name(f"{path.stem[: -len(file_type.name)]}f16{path.suffix}")
    return sibling if sibling.is_file() else None


def _side(result: ModelResult, context: str) -> Side:
    return Side([c.errors(context) for c in result.clips], [c.heard[context].runaway for c in result.clips])


def answers(result: ModelResult, baseline: ModelResult | None, rate: str = "WER") -> list[Answer]:
    """The verdict's three questions (verify/verdict.py), worded in `rate` (WER, or CER); without a base model,
    the phone's context is held to the model's own full context and the full context is not checked."""
    words = [c.words for c in result.clips]
    ours_phone, ours_full = _side(result, PHONE), _side(result, FULL)
    phone_question, full_question = PHONE_QUESTION.format(rate=rate), FULL_QUESTION.format(rate=rate)
    if baseline is None:
        return [loops_alone(ours_phone),
                judge_wer(phone_question + " full context", ours_phone.errors, ours_full.errors, words, rate),
                Answer(full_question, UNCHECKED, 0, 0.0, 0.0, rate=rate)]
    if [c.reference for c in baseline.clips] != [c.reference for c in result.clips]:
        raise WacftError("The base model's results are for other clips; verify both on the same clips.")
    base_phone, base_full = _side(baseline, PHONE), _side(baseline, FULL)
    return [judge_loops(ours_phone, base_phone, rate),
            judge_wer(phone_question + " the base model's at full context", ours_phone.errors, base_full.errors,
                      words, rate),
            judge_wer(full_question, ours_full.errors, base_full.errors, words, rate)]


PHONE_QUESTION = "{rate} at the phone's context against"
FULL_QUESTION = "Full-context {rate} against the base model's"
HEADLINES = {READY: "Ready for the phone", NOT_READY: "Not ready for the phone", TOO_FEW: "Too few clips to tell"}


@dataclass
class Verification:
    """The whole check, as `wacft verify` prints it and the TUI shows it."""

    model: ModelResult  # in the phone's whisper.cpp where it could run: the verdict's
    baseline: ModelResult | None = None
    quantized: QuantizedCheck | None = None
    other: ModelResult | None = None  # the same model in the other engine
    decoding: Decoding | None = FUTO  # None: plain greedy
    language: str = "en"  # the data's, which its texts are scored in
    clips_note: str = ""  # which clips these are: held out by the run, or ones it trained on

    @property
    def rate(self) -> str:
        """WER, or CER for a language without spaces: the name every figure and sentence uses."""
        return rate_name(self.language)

    @property
    def answers(self) -> list[Answer]:
        return answers(self.model, self.baseline, self.rate)

    @property
    def state(self) -> str:
        """READY, NOT_READY or TOO_FEW."""
        full = self.model.contexts[FULL].wer
        if self.baseline is None and full > USABLE_WER:
            return NOT_READY
        return overall(self.answers)

    @property
    def ready(self) -> bool:
        return self.state == READY

    @property
    def verdict(self) -> str:
        full = self.model.contexts[FULL].wer
        if self.baseline is None and full > USABLE_WER:
            text = (f"Not ready for the phone: {self.rate} {full:.1%} even at full context: the model does not"
                    " transcribe this data (wrong language, or a broken model).")
        else:
            text = HEADLINES[self.state] + ". " + " ".join(a.sentence() for a in self.answers)
        note = f" {self.clips_note}" if self.clips_note else ""
        return text + note + ("" if self.baseline else NO_BASELINE.format(rate=self.rate))

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "ready": self.ready, "state": self.state, "verdict": self.verdict,
                           "answers": [asdict(a) for a in self.answers]}, indent=2)

    def table(self) -> str:
        """One row per context and engine; the baseline's columns beside ours."""
        rate = self.rate
        header = (f"{'context':8} {'audio_ctx':>9} {rate:>7} {'runaways':>8} {'empty':>5} {'latency':>8}"
                  f" {'encoder':>8} {'speed-up':>8}")
        if self.baseline:
            header += f"  | {'base ' + rate:>8} {'runaways':>8} {'latency':>8}"
        rows = []
        for result, baseline in ((self.model, self.baseline), (self.other, None)):
            if result is None:
                continue
            rows += [f"in {result.engine}:", header]
            full = result.contexts["full"].latency
            for name, ours in result.contexts.items():
                row = (f"{name:8} {ours.audio_ctx:9.0f} {ours.wer:7.1%} {ours.runaways:8d} {ours.empty:5d}"
                       f" {ours.latency:7.2f}s {ours.encoder_latency:7.2f}s {full / ours.latency:7.1f}x")
                if baseline:
                    base = baseline.contexts[name]
                    row += f"  | {base.wer:8.1%} {base.runaways:8d} {base.latency:7.2f}s"
                rows.append(row)
        if self.quantized:
            q = self.quantized
            rows.append(f"against {q.f16}: " + ", ".join(
                f"{name} {q.identical[name]}/{len(self.model.clips)} identical, {rate}"
                f" {q.wer_delta[name] * 100:+.1f} points"
                for name in q.identical
            ))
        return "\n".join(rows)


def write_audio(samples: Sequence[Sample], folder: Path) -> tuple[list[Path], list[int]]:
    """Each sample's audio as the float32 .npy whisper.cpp's child reads, written once for every context and model
    it is decoded at; and its length in samples."""
    paths = [folder / f"{i}.npy" for i in range(len(samples))]
    for path, sample in zip(paths, samples, strict=True):
        np.save(path, np.asarray(sample.audio, np.float32))
    return paths, [len(s.audio) for s in samples]


def check_samples(samples: Sequence[Sample]) -> None:
    """Clips a verdict can be drawn from: some, and not all silent (every model would read as broken)."""
    if not samples:
        raise WacftError("The dataset has no clips to verify with; check its split and --limit.")
    if all(speech_bounds(s.audio) is None for s in samples):
        raise WacftError(f"The {len(samples)} clip(s) to verify with hold no speech (all silent); check the"
                         " dataset's audio.")


def verify(
    model: str | os.PathLike[str],
    samples: Sequence[Sample],
    *,
    baseline: str | os.PathLike[str] | None = None,
    f16: str | os.PathLike[str] | None = None,
    language: str = "en",
    threads: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    decoding: Decoding | None = FUTO,
    engines: Sequence[Engine] = (),
    languages: Sequence[str] = (),
    contexts: Sequence[str] = DEFAULT_CONTEXTS,
    base_result: ModelResult | None = None,
    clips_note: str = "",
) -> Verification:
    """Check `model` on `samples`; `baseline` runs a base model beside it, `f16` the file it was quantized
    from, all in the first of `engines` (the phone's, where it runs; default: the current whisper.cpp); a
    second engine runs `model` alone, for comparison. `base_result`: the base model's results already at hand
    (its cache) instead of running `baseline`. `decoding`: FUTO Keyboard's by default, None for one plain greedy
    pass. `contexts`: FUTO's and the full one by default. `progress(done, total, label)` counts transcriptions
    and says which model at which context is decoding. `language` (a code) is forced, as FUTO Keyboard does with
    one language enabled; several `languages` are chosen among, as it does with several."""
    check_samples(samples)
    if PHONE not in contexts or FULL not in contexts:
        raise ValueError("the verdict needs FUTO's context and the full one")
    contexts = [name for name in CONTEXTS if name in contexts]  # in one order, whatever the caller's
    first, *others = engines or (current_engine(),)
    if base_result is not None:
        baseline = None
    runs = [(m, first) for m in (model, baseline, f16) if m] + [(model, e) for e in others[:1]]
    files = {path: read_ggml(path) for path, _ in runs}
    for read in files.values():
        check_finite(read)  # every file checked before minutes of transcription
    if f16:
        check_same_model(files[model], files[f16])
    per_run = len(contexts) * len(samples)
    total = len(runs) * per_run
    results: list[ModelResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        audio, lengths = write_audio(samples, Path(tmp))
        for path, engine in runs:
            done = len(results) * per_run
            step = None
            if progress:
                def step(d: int, _: int, done: int = done, name: str = Path(path).name,
                         engine: Engine = engine) -> None:
                    context = contexts[min(d // len(samples), len(contexts) - 1)]  # the one decoding next
                    progress(done + d, total, f"{name} at {context} context ({engine.name} engine)")
                step(0, per_run)
            results.append(run_model(path, samples, audio, language=language, threads=threads, progress=step,
                                     decoding=decoding, engine=engine, languages=languages, contexts=contexts,
                                     lengths=lengths))
    ours = results.pop(0)
    return Verification(
        ours,
        results.pop(0) if baseline else base_result,
        compare_quantized(ours, results.pop(0)) if f16 else None,
        results.pop(0) if others else None,
        decoding,
        language,
        clips_note,
    )
