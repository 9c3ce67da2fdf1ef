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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from wacft.convert.ggml import read_ggml
from wacft.convert.loadable import check_finite
from wacft.convert.normalize import normalizer, rate_name, word_error_rate
from wacft.convert.whispercpp import (
    FULL_CONTEXT,
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
from wacft.errors import WacftError
from wacft.extras import needs_extra
from wacft.facts import SAMPLE_RATE

CONTEXTS: dict[str, Callable[[int], int]] = {
    "full": lambda n_samples: FULL_CONTEXT,
    "dynamic": dynamic_audio_ctx,
    "futo": futo_audio_ctx,
}
SHORT_CONTEXTS = ("dynamic", "futo")  # what ACFT is for; "futo" is what the phone runs
TOKENS_PER_SECOND = 10  # fast speech is 5-6 tokens a second
TOKEN_MARGIN = 16
RUNAWAY_LENGTH = 2.0  # words, relative to the reference, plus a little slack for short clips
RUNAWAY_SLACK = 4
REPEATS = 3  # a phrase this many times in a row, more often than the reference says it
MAX_PHRASE = 6  # words
WER_TOLERANCE = 0.10  # short-context WER may exceed full-context WER by this share...
WER_SLACK = 0.01  # ...or by one word in a hundred (one word of a smaller sample): one slip does not fail it
USABLE_WER = 0.5  # above this at full context the model does not transcribe the data at all
NO_BASELINE = (" Its full-context WER was not compared with the base model's: pass --baseline BASE.bin to check"
               " that training kept it.")


class Sample(Protocol):
    """A clip to verify with (acft's data.Clip is one)."""

    audio: np.ndarray  # float32, 16 kHz mono
    text: str


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
    model: str | os.PathLike,
    samples: Sequence[Sample],
    wavs: list[Path],
    *,
    language: str,
    threads: int | None,
    progress: Callable[[int, int], None] | None,
    decoding: Decoding | None = FUTO,
    engine: Engine | None = None,
    languages: Sequence[str] = (),
) -> ModelResult:
    """Every clip at every context in one whisper.cpp process (`wavs` hold the samples' audio), in `language` (a
    code, forced) or chosen among several `languages` (see transcribe); scored in `language`."""
    engine = engine or current_engine()
    norm = normalizer(language)
    references = [norm(s.text) for s in samples]
    lengths = [len(s.audio) for s in samples]
    pairs = list(zip(wavs, lengths, strict=True))
    clips = [Clip(wav, context(n), token_cap(n)) for context in CONTEXTS.values() for wav, n in pairs]
    results = transcribe(model, clips, language=language, languages=languages, threads=threads, decoding=decoding,
                         engine=engine, progress=progress)
    rows = []
    for i, sample in enumerate(samples):
        heard = {}
        for k, name in enumerate(CONTEXTS):
            clip, result = clips[k * len(samples) + i], results[k * len(samples) + i]
            text = norm(result.text)
            heard[name] = Heard(
                clip.audio_ctx, result.text, word_error_rate([references[i]], [text], "verify"),
                is_runaway(text, references[i]), result.seconds, result.encoder_seconds,
            )
        rows.append(ClipResult(sample.text, lengths[i] / SAMPLE_RATE, heard))
    contexts = {name: _summarise(name, rows, references, norm) for name in CONTEXTS}
    return ModelResult(os.fspath(model), sum(len(r.split()) for r in references), contexts, rows, engine.label)


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
         for c in CONTEXTS},
        {c: quantized.contexts[c].wer - f16.contexts[c].wer for c in CONTEXTS},
    )


def f16_sibling(model: str | os.PathLike) -> Path | None:
    """For `name_q8_0.bin` (as `wacft convert` names several types), `name_f16.bin` beside it, if there."""
    path = Path(model)
    file_type = read_ggml(path).file_type
    if file_type is None or not file_type.quantized or not path.stem.endswith(f"_{file_type.name}"):
        return None
    sibling = path.with_name(f"{path.stem[: -len(file_type.name)]}f16{path.suffix}")
    return sibling if sibling.is_file() else None


def _within(wer: float, reference: float, words: int) -> bool:
    bound = max(reference * (1 + WER_TOLERANCE), reference + WER_SLACK, reference + 1 / max(words, 1))
    return wer <= bound + 1e-9  # rates of whole words: 5/12 is not above 4/12 + 1/12


def _problems(result: ModelResult, baseline: ModelResult | None) -> list[str]:
    full = result.contexts["full"]
    if full.wer > USABLE_WER:
        return [f"WER {full.wer:.1%} even at full context: the model does not transcribe this data"
                " (wrong language, or a broken model)"]
    problems = []
    base = baseline.contexts["full"].wer if baseline else full.wer
    if baseline and not _within(full.wer, base, result.words):  # the phone runs clips near 30 s at full context
        problems.append(f"full-context WER {full.wer:.1%} against {base:.1%} for the base model (training went"
                        " too far: fewer epochs or a lower --lr)")
    for name in SHORT_CONTEXTS:
        summary = result.contexts[name]
        if not _within(summary.wer, full.wer, result.words):
            problems.append(f"{name}-context WER {summary.wer:.1%} against {full.wer:.1%} at full context")
        if summary.runaways:
            problems.append(f"{summary.runaways} runaway output{'s' * (summary.runaways > 1)} at {name} context")
        if summary.empty > full.empty:  # heard at full context, lost at this one
            problems.append(f"{summary.empty} clip{'s' * (summary.empty > 1)} with speech came out empty at {name}"
                            f" context, against {full.empty} at full context")
    return problems


def _against_baseline(result: ModelResult, baseline: ModelResult) -> str:
    ours, base = result.contexts["dynamic"], baseline.contexts["dynamic"]
    wer, runaways = ours.wer - base.wer, ours.runaways - base.runaways
    if wer <= 0 and runaways <= 0:
        change = "the same as" if wer == runaways == 0 else "better than"
    else:
        change = "worse than" if wer >= 0 and runaways >= 0 else "mixed against"
    return (f" At dynamic context it is {change} the base model: WER {base.wer:.1%} -> {ours.wer:.1%},"
            f" runaways {base.runaways} -> {ours.runaways}.")


@dataclass
class Verification:
    """The whole check, as `wacft verify` prints it and the TUI shows it."""

    model: ModelResult  # in the phone's whisper.cpp where it could run: the verdict's
    baseline: ModelResult | None = None
    quantized: QuantizedCheck | None = None
    other: ModelResult | None = None  # the same model in the other engine
    decoding: Decoding | None = FUTO  # None: plain greedy
    language: str = "en"  # the data's, which its texts are scored in

    @property
    def ready(self) -> bool:
        return not _problems(self.model, self.baseline)

    @property
    def verdict(self) -> str:
        problems = _problems(self.model, self.baseline)
        if problems:
            text = "Not ready for the phone: " + "; ".join(problems) + "."
        else:
            text = (f"Dynamic-context WER within {WER_TOLERANCE:.0%} of full context, no runaway outputs:"
                    " ready for the phone.")
        compared = _against_baseline(self.model, self.baseline) if self.baseline else NO_BASELINE
        return text + self._disagreement() + compared

    def _disagreement(self) -> str:
        if self.other is None:
            return ""
        problems = _problems(self.other, self.baseline)
        if bool(problems) != self.ready:
            return ""
        found = f"not ready ({'; '.join(problems)})" if problems else "ready"
        return (f" The engines disagree: in {self.other.engine} it is {found}; the verdict follows"
                f" {self.model.engine}.")

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "ready": self.ready, "verdict": self.verdict}, indent=2)

    def table(self) -> str:
        """One row per context and engine; the baseline's columns beside ours."""
        rate = rate_name(self.language)  # WER, or CER for a language without spaces
        header = (f"{'context':8} {'audio_ctx':>9} {rate:>7} {'runaways':>8} {'empty':>5} {'latency':>8}"
                  f" {'encoder':>8} {'speed-up':>8}")
        if self.baseline:
            header += f"  | {'base WER':>8} {'runaways':>8} {'latency':>8}"
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
                f"{name} {q.identical[name]}/{len(self.model.clips)} identical, WER {q.wer_delta[name]:+.1%}"
                for name in CONTEXTS
            ))
        return "\n".join(rows)


def _write_wavs(samples: Sequence[Sample], folder: Path) -> list[Path]:
    with needs_extra("data"):
        import soundfile

    paths = [folder / f"{i}.wav" for i in range(len(samples))]
    for path, sample in zip(paths, samples, strict=True):
        soundfile.write(path, sample.audio, SAMPLE_RATE, subtype="FLOAT")
    return paths


def verify(
    model: str | os.PathLike,
    samples: Sequence[Sample],
    *,
    baseline: str | os.PathLike | None = None,
    f16: str | os.PathLike | None = None,
    language: str = "en",
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    decoding: Decoding | None = FUTO,
    engines: Sequence[Engine] = (),
    languages: Sequence[str] = (),
) -> Verification:
    """Check `model` on `samples`; `baseline` runs a base model beside it, `f16` the file it was quantized
    from, all in the first of `engines` (the phone's, where it runs; default: the current whisper.cpp); a
    second engine runs `model` alone, for comparison. `decoding`: FUTO Keyboard's by default, None for one
    plain greedy pass. `progress(done, total)` counts transcriptions. `language` (a code) is forced, as FUTO Keyboard
    does with one language enabled; several `languages` are chosen among, as it does with several."""
    if not samples:
        raise WacftError("The dataset has no clips to verify with; check its split and --limit.")
    first, *others = engines or (current_engine(),)
    runs = [(m, first) for m in (model, baseline, f16) if m] + [(model, e) for e in others[:1]]
    for path in dict.fromkeys(path for path, _ in runs):
        check_finite(read_ggml(path))  # every file checked before minutes of transcription
    total = len(runs) * len(CONTEXTS) * len(samples)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        wavs = _write_wavs(samples, Path(tmp))
        for path, engine in runs:
            done = len(results) * len(CONTEXTS) * len(samples)
            step = (lambda d, _, done=done: progress(done + d, total)) if progress else None
            results.append(run_model(path, samples, wavs, language=language, threads=threads, progress=step,
                                     decoding=decoding, engine=engine, languages=languages))
    ours = results.pop(0)
    return Verification(
        ours,
        results.pop(0) if baseline else None,
        compare_quantized(ours, results.pop(0)) if f16 else None,
        results.pop(0) if others else None,
        decoding,
        language,
    )
