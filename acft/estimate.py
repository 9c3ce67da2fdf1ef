"""Before launch: about how long a run takes and, on Modal, what its GPU time costs.

The speed comes from the person's own runs where one fits (same model size, same GPU or this machine): its
step events give a measured rate, which a compute model (FLOPs per clip for the model's dimensions and the
passes each stage makes) scales to the new run's clips, lengths, stages and epochs. Without such a run the
same compute model runs at an assumed share of the GPU's peak: a rough prior, and it says so. Nothing here
imports torch, so the wizard and `wacft train` can call it before anything heavy loads.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wacft.acft import other_voices
from wacft.acft.config import TrainConfig
from wacft.acft.events import StepEvent
from wacft.acft.finetune import (
    MAX_EVAL_CLIPS,
    MAX_NEW_TOKENS,
    TOKEN_MARGIN,
    TOKENS_PER_SECOND,
    WER_CLIPS,
    held_out_count,
)
from wacft.acft.plan import phone_silence_share
from wacft.acft.runs import RunRecord, list_runs
from wacft.errors import WacftError
from wacft.facts import (
    ENGLISH_VOCAB,
    FULL_CONTEXT,
    FUTO_LEAD_SECONDS,
    FUTO_TAIL_SECONDS,
    GPU_PRICE_PER_SECOND,
    LARGE_V3_VOCAB,
    MODAL_CPU_CORES,
    MODAL_MAX_HOURS,
    MODAL_MEMORY_MIB,
    MODEL_SIZES,
    MULTILINGUAL_VOCAB,
    OTHER_VOICE_CLIPS,
    POSITIONS_PER_SECOND,
    modal_price_per_second,
)

# dense peaks (no sparsity), FLOP/s, from NVIDIA's A100 and H100 SXM datasheets
BF16_PEAK = {"A100-40GB": 312e12, "A100-80GB": 312e12, "H100": 989e12}
FP32_PEAK = {"A100-40GB": 19.5e12, "A100-80GB": 19.5e12, "H100": 67e12}  # exact_reference ACFT runs float32
UTILISATION = 0.30  # assumed share of that peak; not measured: the GPU runs measured so far were launch-bound
# assumed float32 FLOP/s of a local CPU (a few desktop cores); not measured. For scale: on the README's
# domain benchmark (tiny.en, 48 clips, 2 cores; clips taken as 3 s, before the phone's silence) this gave 38 s
# for 4 ACFT epochs and 290 s for 4 + 4 two-stage epochs, where 47 s and 247 s were measured
CPU_FLOPS = 100e9
# on a GPU, small models wait on Python launching kernels rather than on arithmetic. Seconds per training step
# (the batch to the GPU, the optimizer, the loss read back) and per layer per step (its forward, backward and
# update kernels), measured on an H200 with the published loop (one clip a step, reference included):
# tiny.en 65 ms a step, small.en 138 ms (bench/bench_acft.py, 10 epochs). Assumed: per decoder layer per
# greedy-decoded token
STEP_OVERHEAD, STEP_OVERHEAD_PER_LAYER = 29e-3, 4.6e-3
DECODE_OVERHEAD_PER_LAYER = 0.3e-3
STARTUP_SECONDS = {"modal": 120.0, "local": 20.0}  # assumed: container start, model download and load, data
# the range said around an estimate, as factors of it; assumed, from how far off estimates came out: a run's own
# speed scaled to another run (a person's 3-min estimate took 5:18), and the prior (docs/speed.md: 2.4 s of ACFT
# estimated, 14.6 s measured on a run too short to spread its once-only costs)
RANGE = {True: (0.75, 2.0), False: (0.5, 4.0)}  # measured: (low, high); prior: (low, high)
SPEECH_TOKENS_PER_SECOND = 4  # assumed: English speech, about 3 words a second at 1.3 tokens a word
PREFIX_TOKENS = 4  # start, language, task, no-timestamps (and <|endoftext|> at the end)
TRAIN_PASSES = 3  # a forward and a backward pass cost about three forward passes
MIN_TIMED_STEPS = 3  # fewer timed steps than this measure start-up more than speed


@dataclass(frozen=True)
class Dims:
    """What the compute model needs of a Whisper model."""

    width: int  # d_model
    encoder_layers: int
    decoder_layers: int
    ffn: int
    mels: int = 80
    vocab: int = MULTILINGUAL_VOCAB

    @property
    def layers(self) -> int:
        return self.encoder_layers + self.decoder_layers

    @property
    def size(self) -> tuple[int, int, int]:
        """What makes two runs comparable in speed."""
        return self.width, self.encoder_layers, self.decoder_layers


def _config_json(model: str) -> dict[str, Any] | None:
    """The model's config.json: from its local folder, or the Hugging Face cache (never the network)."""
    folder = Path(model).expanduser()
    path = folder / "config.json" if folder.is_dir() else None
    if path is None and re.fullmatch(r"[\w.-]+/[\w.-]+", model):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "config.json")
        path = Path(cached) if isinstance(cached, str) else None
    try:
        return json.loads(path.read_text()) if path else None
    except (OSError, ValueError):
        return None


def model_dims(model: str) -> Dims:
    config = _config_json(model)
    if config and "d_model" in config:
        return Dims(config["d_model"], config["encoder_layers"], config["decoder_layers"],
                    config.get("encoder_ffn_dim", 4 * config["d_model"]), config.get("num_mel_bins", 80),
                    config.get("vocab_size", MULTILINGUAL_VOCAB))
    name = model.rstrip("/").split("/")[-1].lower()
    size = ("turbo" if "whisper-large-v3-turbo" in name
            else next((s for s in MODEL_SIZES if f"whisper-{s}" in name), None))
    if size is None:
        raise WacftError(f"The size of {model} cannot be told; give a model folder with its config.json or a"
                         " Whisper hub id such as openai/whisper-base.en.")
    width, encoder, decoder = MODEL_SIZES[size]  # a hub id not in the local cache
    v3 = "large-v3" in name or size == "turbo"
    vocab = ENGLISH_VOCAB if name.endswith(".en") else LARGE_V3_VOCAB if v3 else MULTILINGUAL_VOCAB
    return Dims(width, encoder, decoder, 4 * width, 128 if v3 else 80, vocab)


def encoder_flops(d: Dims, n: int) -> float:
    """One clip through the encoder at n positions, forward: two convolutions over 2n mel frames, then per
    layer the projections and MLP (linear in n) and attention (quadratic in n)."""
    w = d.width
    convs = 2 * (2 * n) * 3 * d.mels * w + 2 * n * 3 * w * w
    return convs + d.encoder_layers * (2 * n * (4 * w * w + 2 * w * d.ffn) + 4 * n * n * w)


def decoder_flops(d: Dims, tokens: float, n: int, logits: bool = False) -> float:
    """One clip's tokens through the decoder, forward, attending to n encoder positions; `logits` adds the
    vocabulary projection that cross-entropy needs (ACFT compares hidden states and skips it)."""
    w, t = d.width, tokens
    layer = 2 * t * (6 * w * w + 2 * w * d.ffn) + 4 * n * w * w + 4 * t * t * w + 4 * t * n * w
    return d.decoder_layers * layer + (2 * t * w * d.vocab if logits else 0)


@dataclass(frozen=True)
class StageWork:
    """One stage of a run in FLOPs, steps and decoded tokens."""

    name: str
    epochs: int
    flops_per_epoch: float  # the training passes
    once_flops: float = 0.0  # the frozen reference at full context: once per clip, the run caches it
    steps_per_epoch: int = 0
    eval_flops: float = 0.0  # per epoch: stage 1 scores its held-out clips
    decode_steps: int = 0  # per epoch: greedy decoding for the WER, one decoder pass per token and batch

    def flops(self) -> float:
        return self.epochs * (self.flops_per_epoch + self.eval_flops) + self.once_flops


def held_out(config: TrainConfig, clips: int) -> int:
    """How many clips stage 1 keeps aside to score itself."""
    if config.finetune_epochs <= 0 or config.eval_split:
        return 0
    return held_out_count(clips, config.eval_share)


def plan(config: TrainConfig, dims: Dims, clips: int, audio_seconds: float) -> list[StageWork]:
    """The stages the trainer will run, each costed per clip at the data's mean length."""
    if config.max_clips and clips > config.max_clips:
        audio_seconds, clips = audio_seconds * config.max_clips / clips, config.max_clips
    if other_voices.wanted(config):
        audio_seconds, clips = audio_seconds + other_voices.seconds(config), clips + OTHER_VOICE_CLIPS
    length = audio_seconds / clips
    kept = held_out(config, clips)
    train = clips - kept
    scored = min(MAX_EVAL_CLIPS, clips) if config.eval_split else kept
    tokens = PREFIX_TOKENS + 1 + SPEECH_TOKENS_PER_SECOND * length
    silence = phone_silence_share(config) * (FUTO_LEAD_SECONDS + FUTO_TAIL_SECONDS)  # adds context, not words
    n = min(FULL_CONTEXT, max(1, round(POSITIONS_PER_SECOND * (length + silence))))
    full = FULL_CONTEXT
    reference = encoder_flops(dims, full) + decoder_flops(dims, tokens, full)
    share = config.full_context_share

    def student(logits: bool) -> float:  # a clip at its own context (or, for a share of batches, at 30 s)
        own = encoder_flops(dims, n) + decoder_flops(dims, tokens, n, logits)
        return TRAIN_PASSES * ((1 - share) * own + share * (encoder_flops(dims, full) +
                                                             decoder_flops(dims, tokens, full, logits)))

    batches = math.ceil(train / config.batch_size)
    stages = []
    if config.finetune_epochs > 0:
        decoded = min(scored, math.ceil(WER_CLIPS / config.batch_size) * config.batch_size)
        new_tokens = min(MAX_NEW_TOKENS, TOKEN_MARGIN + TOKENS_PER_SECOND * length)
        decode = decoded * new_tokens * decoder_flops(dims, 1, full, logits=True)
        scoring = scored * (encoder_flops(dims, full) + decoder_flops(dims, tokens, full, True)) + decode
        if config.objective == "joint":  # cross-entropy at the clip's own context, plus ACFT to the frozen base
            per_clip, once = student(True), train * reference
        else:  # fine-tuning as usual: the full 30 s context; a frozen encoder runs forward only
            encoder = encoder_flops(dims, full) * (1 if config.freeze_encoder else TRAIN_PASSES)
            per_clip, once = encoder + TRAIN_PASSES * decoder_flops(dims, tokens, full, True), 0.0
        stages.append(StageWork(config.objective if config.objective == "joint" else "finetune",
                                config.finetune_epochs, train * per_clip, once, batches, scoring,
                                math.ceil(decoded / config.batch_size) * round(new_tokens)))
    if config.epochs > 0:
        exact = config.exact_reference
        per_clip = student(False) + (reference if exact else 0.0)
        stages.append(StageWork("acft", config.epochs, train * per_clip, 0.0 if exact else train * reference,
                                train if exact else batches))
    return stages


@dataclass(frozen=True)
class Speed:
    """How fast this kind of run goes: a rate of the compute model's FLOPs, and where it comes from."""

    flops_per_second: float
    source: str  # one line, for the person
    measured: bool
    launch_bound: bool = False  # prior on a GPU only: a measured rate already holds the launch overhead
    fp32_flops_per_second: float | None = None  # prior only: exact_reference ACFT runs float32


def step_work(dims: Dims, event: StepEvent, previous: StepEvent, config: dict[str, Any]) -> float:
    """The compute model's FLOPs for the clips one step event covers (the first epoch of a distilling stage
    also pays the reference's full-context pass, which later epochs take from the cache)."""
    clips = event["clips"] - previous["clips"]
    if clips <= 0:
        return 0.0
    length = (event["audio_seconds"] - previous["audio_seconds"]) / clips
    tokens = PREFIX_TOKENS + 1 + SPEECH_TOKENS_PER_SECOND * length
    stage, full = event.get("stage", "acft"), FULL_CONTEXT
    n = FULL_CONTEXT if stage == "finetune" else min(FULL_CONTEXT, max(1, int(event.get("context", full))))
    frozen = stage == "finetune" and config.get("freeze_encoder")
    work = encoder_flops(dims, n) * (1 if frozen else TRAIN_PASSES)
    work += TRAIN_PASSES * decoder_flops(dims, tokens, n, stage != "acft")
    if stage != "finetune" and (config.get("exact_reference") or event.get("epoch") == 1):
        work += encoder_flops(dims, full) + decoder_flops(dims, tokens, full)
    flops: float = clips * work
    return flops


def measure(record: RunRecord, dims: Dims) -> tuple[float, float, float] | None:
    """(FLOPs, clips, seconds) over the run's timed steps: consecutive step events of one process, with
    nothing but checkpoints between them (scoring, stage changes and resumes are not training speed)."""
    if record.events is None:
        return None
    try:
        lines = Path(record.events).read_text().splitlines()
    except OSError:
        return None
    flops = clips = seconds = 0.0
    timed, previous = 0, None
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            previous = None
            continue
        if event.get("type") == "checkpoint":
            continue
        if event.get("type") != "step" or "time" not in event:
            previous = None
            continue
        if previous is not None and event["time"] > previous["time"] and event["step"] == previous["step"] + 1:
            flops += step_work(dims, event, previous, record.config)
            clips += event["clips"] - previous["clips"]
            seconds += event["time"] - previous["time"]
            timed += 1
        previous = event
    return (flops, clips, seconds) if timed >= MIN_TIMED_STEPS and flops > 0 else None


def same_place(record: RunRecord, gpu: str | None) -> bool:
    return record.gpu == gpu  # a Modal run's GPU; None: a run on this machine


def measured_speed(dims: Dims, gpu: str | None) -> Speed | None:
    """From the newest run of this model size on this GPU (or this machine) whose events were timed."""
    for record in list_runs():  # newest first
        if not same_place(record, gpu):
            continue
        try:
            if model_dims(record.config.get("model", "")).size != dims.size:
                continue
        except WacftError:
            continue
        found = measure(record, dims)
        if found:
            flops, clips, seconds = found
            where = gpu or "this machine"
            return Speed(flops / seconds, f"from your run {record.id} ({where}, {clips / seconds:.3g} clips/s),"
                                          " scaled to this run by a compute model", True)
    return None


def prior_speed(gpu: str | None) -> Speed:
    if gpu is None:
        return Speed(CPU_FLOPS, f"rough prior, not measured: a compute model at {CPU_FLOPS / 1e9:.0f} GFLOP/s,"
                                " as on a CPU (a local GPU is far faster)", False, False, CPU_FLOPS)
    peak = BF16_PEAK[gpu]
    return Speed(UTILISATION * peak, f"rough prior, not measured: a compute model at {UTILISATION:.0%} of the"
                                     f" {gpu}'s bf16 peak ({peak / 1e12:.0f} TFLOP/s)", False,
                 True, UTILISATION * FP32_PEAK[gpu])


def stage_seconds(stage: StageWork, speed: Speed, dims: Dims, fp32: bool) -> float:
    rate = speed.fp32_flops_per_second if fp32 and speed.fp32_flops_per_second else speed.flops_per_second
    compute = stage.flops() / rate
    per_step = STEP_OVERHEAD + STEP_OVERHEAD_PER_LAYER * dims.layers if speed.launch_bound else 0.0
    launch = stage.epochs * stage.steps_per_epoch * per_step
    decode = stage.epochs * stage.decode_steps * DECODE_OVERHEAD_PER_LAYER * dims.decoder_layers
    return max(compute, launch) + decode  # the GPU works while Python launches: the slower one sets the pace


@dataclass(frozen=True)
class Estimate:
    seconds: float  # wall time, start-up included
    gpu: str | None  # a Modal GPU; None: this machine
    source: str  # where the speed comes from, one line
    measured: bool
    stages: tuple[tuple[str, float], ...] = ()  # (stage, seconds)

    @property
    def cost(self) -> float | None:
        """USD on Modal (the GPU and its container); None for a local run."""
        return self.seconds * modal_price_per_second(self.gpu) if self.gpu else None

    def stage(self, name: str) -> float:
        return dict(self.stages).get(name, 0.0)

    @property
    def span(self) -> str:
        """The range the run is likely to take, e.g. "2 min to 6 min"."""
        low, high = RANGE[self.measured]
        return f"{duration(self.seconds * low)} to {duration(self.seconds * high)}"

    def describe(self) -> str:
        if self.gpu is None:
            return f"About {duration(self.seconds)} ({self.span}) on this machine; {self.source}."
        price = modal_price_per_second(self.gpu) * 3600
        container = f"{MODAL_CPU_CORES:g} cores and {MODAL_MEMORY_MIB // 1024} GiB"
        return (f"About {duration(self.seconds)} ({self.span}) on a Modal {self.gpu}, about ${self.cost:.2f}"
                f" (${price:.2f}/h: the GPU, and the container's {container}); {self.source}.")


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def estimate(config: TrainConfig, clips: int, audio_seconds: float, gpu: str | None) -> Estimate:
    """Time (and, on a Modal GPU, cost) of training `config` on `clips` clips holding `audio_seconds` of
    audio; `gpu` is one of GPU_PRICE_PER_SECOND's GPUs, or None for this machine."""
    if gpu is not None and gpu not in GPU_PRICE_PER_SECOND:
        raise WacftError(f"{gpu} is not a GPU wacft runs on; pick one of {', '.join(GPU_PRICE_PER_SECOND)}.")
    if clips <= 0 or audio_seconds <= 0:
        raise WacftError("There are no clips to estimate for; check the dataset first.")
    if config.batch_size < 1:
        raise WacftError("The batch size must be at least 1.")
    dims = model_dims(config.model)
    speed = measured_speed(dims, gpu) or prior_speed(gpu)
    stages = plan(config, dims, clips, audio_seconds)
    timed = tuple((s.name, stage_seconds(s, speed, dims, s.name == "acft" and config.exact_reference))
                  for s in stages)
    start = STARTUP_SECONDS["modal" if gpu else "local"]
    return Estimate(start + sum(t for _, t in timed), gpu, speed.source, speed.measured, timed)


def worst_case(gpu: str, max_hours: float | None) -> str:
    """The most a Modal run can cost: its budget of GPU hours, across every container Modal starts for it."""
    hours = max_hours or MODAL_MAX_HOURS
    which = "" if max_hours else " (--max-hours sets less)"
    return (f"Its budget is {hours:g} h of GPU time{which}: it stops there, keeping its checkpoint, so it costs at"
            f" most ${hours * 3600 * modal_price_per_second(gpu):.2f} however often Modal restarts its container.")
