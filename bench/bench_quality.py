"""ACFT quality where it counts, decoded as FUTO Keyboard decodes (beam 5) in the phone's whisper.cpp (the
current one where the phone's cannot be installed): OpenAI's tiny.en (rebuilt offline) as it comes, after the
published loop (--exact-reference), after the default `wacft train`, and after each candidate default measured
against it, all trained on the same espeak-ng clips for the same epochs; each converted to f16 and checked at full
and FUTO context on espeak-ng sentences in voices never trained on, on the real recorded clips
(tests/fixtures/real_speech.py) and on the real recorded single words (tests/fixtures/real_words.py).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_quality.py --threads 1 [--rows base default ...] [--seeds 0 1]
        [--epochs 8] [--lr 1e-6] [--quick] [--per-epoch] [--phone-silence | --layouts [LAYOUT ...]]

What to look for: the base model loops at FUTO's context; ACFT must remove every runaway there while its
full-context WER stays within 1.1x of the base's, and its FUTO-context WER no higher than its full-context one.
Each row prints as soon as it is measured (a row takes 2-6 minutes on one CPU core). --per-epoch prints each
row after each of its epochs: whether an early stop on a held-out slice would find a better epoch than the last.
--phone-silence makes up each test clip's silence to what the phone records around a dictation, as the real words
have it: the phone never sends a clip cut close to the speech.
--layouts judges every row under each layout of the test clips (wacft.dataset.layout; all of them when none is
named), one line per layout, at full and FUTO context (WER, and runaways at each): cut close to the speech; the
phone's lead and tail (0.6 s before, 1.98 s after) as digital silence ("zeros"), as white noise at -60 dBFS RMS,
as recorded room noise at -60, -45 and -35 dBFS RMS (the non-speech of PocketSphinx's test recordings:
tests/fixtures/room_noise.py), the noise under the speech too; and the clip's own silence made up to the phone's
("own", what --phone-silence does). The phone's silence is whatever the room gives: a model must hold in each.

    .venv/bin/python bench/bench_quality.py --domain [--epochs 4] [--finetune-epochs 4] [--joint-epochs 8]

The domain table: sentences full of terms tiny.en gets wrong (tests/fixtures/domain.py); base, ACFT alone,
the two-stage default (cross-entropy, then ACFT) and the joint objective (as many epochs as the two stages
together), with term recall and WER at full and FUTO context on other sentences in voices never trained on.
Base and two-stage also run with the terms as FUTO Keyboard's glossary prompt: what a FUTO user gets for free
by putting their words in the personal dictionary is the bar fine-tuning must beat. "glossary-trained" is the
two-stage run with the terms as that prompt on a share of its clips (--glossary-share) in both stages, decoded
without and with the glossary. Every row decodes as FUTO does (beam 5), in the phone's whisper.cpp (1.5.4) and
the current one (--engine phone|current|both). --runs picks the trained rows (default: all but "all kept",
two-stage with none of stage 1 blended back toward the base). --layouts and --phone-silence lay the held-out
clips out as for the ACFT table, a line per layout.

    .venv/bin/python bench/bench_quality.py --person [--sentences] [--runs two-stage,acft,joint] [--finetune-epochs 4]

The one-person table: the real words as one person's recordings, two of every three trained on; that person's
other words, and other speakers (the real recorded clips, espeak-ng voices), at full and FUTO context. Goal: the
person's WER at least halved, the others' full-context WER within 1.05x of the base's. With --sentences the person
reads sentences: Allison Smith's Asterisk prompts (tests/fixtures/read_sentences.py). Besides two-stage (the
default; the person's folder names no speaker, so it is one voice and the ACFT table's 36 espeak-ng clips are
mixed in), ACFT alone and joint, --runs takes stage-1 candidates: "decoder only", "stage-1 lr halved",
"specaugment", "all kept" (none of stage 1 blended back toward the base), "other voices" (--other-voices),
"alone" (--no-other-voices: the person's clips alone), and "other voices all kept" and "other voices 70% kept"
(beside them, more of stage 1). --seeds trains each row once per seed.
Below the table, each of the other speakers' real clips that a row heard better or worse than the base did.

    .venv/bin/python bench/bench_quality.py --model openai/whisper-base --dataset google/fleurs \
        --dataset-config de_de --language de [--train-split train --train-clips 400] [--test-split test]
        [--test-clips 100] [--epochs 8] [--seeds 0 1]

Any model and dataset (hub ids, for a machine with a network, or folders), in any language: the base model and
the default `wacft train` on the dataset's training split, verified in that language on its test split as the
phone runs it (the language forced, Whisper's basic normaliser, CER where words are not separated by spaces).
The measure of a language that this machine cannot make: no real multilingual weights can be had offline here.
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixtures import domain
from fixtures.audiofolder import write_metadata
from fixtures.read_sentences import read_sentences_dataset
from fixtures.real_speech import real_speech_dataset
from fixtures.real_words import real_words_dataset
from fixtures.room_noise import room_noise
from fixtures.speech import VOICES, make_speech_dataset
from fixtures.tiny_en import tiny_en_dir

from wacft.acft import finetune, other_voices
from wacft.acft.config import TrainConfig
from wacft.acft.events import CallbackSink
from wacft.acft.trainer import train
from wacft.convert.convert import convert, plan_outputs
from wacft.dataset.clips import load_clips
from wacft.dataset.layout import LAYOUTS, lay_out
from wacft.dataset.spec import DatasetSpec
from wacft.facts import OTHER_VOICES, language_code
from wacft.verify.check import CONTEXTS, term_recall, verify
from wacft.verify.normalize import rate_name
from wacft.verify.phone_engine import ENGINE_CHOICES, choose_engines
from wacft.verify.whispercpp import FUTO, Decoding

TRAINING_SENTENCES, TRAINING_VOICES = other_voices.sentences("en"), OTHER_VOICES["en"]  # the ACFT table's
TEST_SENTENCES = [
    "Hello world.", "Please call me back later.", "The meeting starts at noon.", "Open the window, please.",
    "I am going home now.", "What time is it?", "Send the file to Anna before lunch.",
    "Turn left at the next corner and keep going until you see the bridge.",
    "Remind me to buy milk, eggs and bread on the way home tonight.", "Thanks, that works for me.",
    "Can you book a table for four people at seven?", "Yes.", "No thanks.",
]
TEST_VOICES = VOICES[3:5]
assert not set(TEST_VOICES) & set(TRAINING_VOICES)
LONGEST = 29.0  # seconds: a test clip, its silence included
SENTENCES = "Allison Smith's Asterisk prompts (tests/fixtures/read_sentences.py)"  # --person --sentences
# the ACFT table's rows beside the base model: the published loop, the default, and each candidate measured
# (the others measured and dropped are in docs/quality.md)
CANDIDATES = {
    "published loop": dict(exact_reference=True),
    "default": {},  # a quarter of the batches at full context, every clip with the phone's silence
    "no phone silence": dict(phone_silence_share=0.0),  # the default until it was measured
    "phone silence 0.5": dict(phone_silence_share=0.5),
    # every clip's silence drawn: its length, and white noise at a level or zeros (issue 38; the layout family)
    "varied silence": dict(varied_silence=True),
    # each batch's context around the phone's (+32 positions, at least 160) rather than the clip's own (issue 38)
    "phone context": dict(phone_context=True),
    "short tails": dict(short_tails=True),
    # measured before the phone's silence was: against "no phone silence"
    "full-context 0": dict(full_context_share=0.0, phone_silence_share=0.0),  # the default before that
    "full-context 0.5": dict(full_context_share=0.5, phone_silence_share=0.0),
    "full 0, lr halved": dict(full_context_share=0.0, lr=TrainConfig.lr / 2, phone_silence_share=0.0),
}


def read(folder: Path) -> list:
    return load_clips(DatasetSpec(str(folder), split="test", max_audio_length=LONGEST)).clips


@dataclass
class Laid:
    """A test clip laid out: what verify reads of a clip."""
    audio: np.ndarray
    text: str


def family(sets: dict, args: argparse.Namespace) -> dict[str, dict]:
    """Each layout the rows are judged under (--layouts; "own" for --phone-silence) -> the sets laid out so; the
    sets as they are ("") without either. Each clip's noise is drawn by its place in its set, the same for every
    row."""
    layouts = args.layouts or (["own"] if args.phone_silence else [])
    room = room_noise() if any(layout.startswith("room") for layout in layouts) else None
    return {layout: {name: [Laid(lay_out(clip.audio, layout, i, room), clip.text) for i, clip in enumerate(clips)]
                     for name, clips in sets.items()}
            for layout in layouts} or {"": sets}


def contexts(args: argparse.Namespace) -> tuple[str, ...]:
    """The layout family is judged at full and FUTO context only: the paper's dynamic one costs a third more."""
    return ("full", "futo") if args.layouts else tuple(CONTEXTS)


def laid_out_as(args: argparse.Namespace) -> str:
    """What the tables' first line says of the layouts."""
    if args.layouts:
        return f", each set laid out {len(args.layouts)} ways ({', '.join(args.layouts)})"
    return ", all laid out as the phone records them" if args.phone_silence else ""


def trained(name: str, config: TrainConfig, folder: Path) -> tuple[Path, float]:
    """ACFT as `config` says, converted to f16; and the training's wall time."""
    start = time.perf_counter()
    out = train(config, CallbackSink(lambda event: None))
    seconds = time.perf_counter() - start
    [result] = convert(str(out), plan_outputs(folder / f"{name}.bin", ["f16"]))
    return result.path, seconds


def each_epoch(name: str, config: TrainConfig, folder: Path) -> list[Path]:
    """ACFT as `config` says, the student kept after each epoch (a checkpoint at every epoch's end), each
    converted to f16: where an early stop on a held-out slice would have anything to find."""
    from safetensors.torch import load_file
    from transformers import WhisperForConditionalGeneration

    config = replace(config, checkpoint_every=math.ceil(len(read(Path(config.dataset))) / config.batch_size))
    kept = []

    def keep(event: dict) -> None:
        if event["type"] == "checkpoint":
            model = WhisperForConditionalGeneration.from_pretrained(config.model)
            model.model.load_state_dict(load_file(Path(event["path"]) / "student.safetensors"))
            epoch = folder / f"{name}-epoch{len(kept) + 1}"
            shutil.copytree(config.model, epoch)
            model.save_pretrained(epoch, safe_serialization=True)
            kept.append(epoch)

    train(config, CallbackSink(keep))
    return [convert(str(epoch), plan_outputs(folder / f"{epoch.name}.bin", ["f16"]))[0].path for epoch in kept]


def cells(result) -> str:
    c = result.contexts
    dynamic = f" {c['dynamic'].runaways:3d}" if "dynamic" in c else "    "
    return f"{c['full'].wer:6.1%} {c['futo'].wer:6.1%} {c['full'].runaways:3d} {c['futo'].runaways:3d}{dynamic}"


def header(layouts: dict, judged_at: tuple[str, ...] = tuple(CONTEXTS)) -> None:
    """`layouts`: what `family` returns; a column for the layout when there are several."""
    sets, layout = next(iter(layouts.values())), f" {'layout':9}" if len(layouts) > 1 else ""
    print(f"{'':32}{' ' * len(layout)} | " + " | ".join(f"{name:^27}" for name in sets))
    head = f"{'WER full':>6} {'futo':>6} {'runaways':>11}"
    print(f"{'model':24} {'train s':>7}{layout} | " + " | ".join(head for _ in sets))
    dynamic = "dyn" if "dynamic" in judged_at else "   "
    print(f"{'':32}{' ' * len(layout)} | " + " | ".join(f"{'':14}full futo {dynamic}" for _ in sets))


def row(label: str, path: Path, seconds: float | None, layouts: dict, engine, threads: int, language: str = "en",
        judged_at: tuple[str, ...] = tuple(CONTEXTS)) -> dict[str, list]:
    """One model on each set, in each layout (a line each): WER (CER for a language without spaces) at full and
    FUTO context, runaways at full, FUTO and dynamic context (of `judged_at`); the clips' `language` (a code)
    forced."""
    trained_for = f"{seconds:7.0f}" if seconds is not None else f"{'-':>7}"
    measured = {}
    for layout, sets in layouts.items():
        measured[layout] = [verify(path, samples, threads=threads, engines=[engine], contexts=judged_at,
                                   language=language).model
                            for samples in sets.values()]
        named = f" {layout:9}" if len(layouts) > 1 else ""
        print(f"{label:24} {trained_for}{named} | " + " | ".join(cells(result) for result in measured[layout]),
              flush=True)
    return measured


def changed_words(rows: list[tuple[str, object]]) -> None:
    """Each trained row's clips heard better or worse than the base heard them at full context: which words a
    WER of a few points is."""
    [(_, base), *trained] = rows
    moved = 0
    for label, result in trained:
        for was, now in zip(base.clips, result.clips, strict=True):
            if was.heard["full"].wer != now.heard["full"].wer:
                moved += 1
                print(f"{label}: {was.reference!r} base {was.heard['full'].text.strip()!r},"
                      f" now {now.heard['full'].text.strip()!r}")
    if not moved:
        print("none")


def acft_table(args: argparse.Namespace, folder: Path) -> None:
    training = make_speech_dataset(folder / "train", TRAINING_SENTENCES, voices=TRAINING_VOICES)
    test_sentences = TEST_SENTENCES[::2] if args.quick else TEST_SENTENCES
    sets = {"espeak-ng held out": read(make_speech_dataset(folder / "test", test_sentences, voices=TEST_VOICES)),
            "real speech": read(real_speech_dataset()), "real words": read(real_words_dataset())}
    layouts = family(sets, args)
    [engine] = choose_engines("both", print)[:1]  # the phone's whisper.cpp where it installs
    epochs = 4 if args.quick else args.epochs
    common = dict(model=str(tiny_en_dir()), dataset=str(training), epochs=epochs, lr=args.lr, device=args.device)
    print(f"tiny.en; ACFT on {len(TRAINING_SENTENCES) * len(TRAINING_VOICES)} espeak-ng clips"
          f" ({', '.join(TRAINING_VOICES)}), {epochs} epochs, lr {args.lr:g} per clip, device {args.device};"
          f" decoded as FUTO Keyboard does (beam 5) in {engine.label}, f16, {args.threads} threads, on"
          f" {len(sets['espeak-ng held out'])} espeak-ng clips of other sentences in voices never trained on"
          f" ({', '.join(TEST_VOICES)}), {len(sets['real speech'])} real recorded clips and"
          f" {len(sets['real words'])} real recorded single words{laid_out_as(args)}")
    header(layouts, contexts(args))

    for name in args.rows:
        if name == "base":
            [base] = convert(str(tiny_en_dir()), plan_outputs(folder / "base.bin", ["f16"]))
            row(name, base.path, None, layouts, engine, args.threads, judged_at=contexts(args))
            continue
        for seed in args.seeds:
            run = folder / f"{name}-{seed}".replace(" ", "_")
            config = TrainConfig(out=str(run), seed=seed, **{**common, **CANDIDATES[name]})
            label = name if len(args.seeds) == 1 else f"{name}, seed {seed}"
            if args.per_epoch:
                for epoch, path in enumerate(each_epoch(run.name, config, folder), 1):
                    row(f"{label}, epoch {epoch}", path, None, layouts, engine, args.threads,
                        judged_at=contexts(args))
            else:
                row(label, *trained(run.name, config, folder), layouts, engine, args.threads,
                    judged_at=contexts(args))


def domain_table(args: argparse.Namespace, folder: Path) -> None:
    training = make_speech_dataset(folder / "train", domain.TRAINING_SENTENCES, domain.TRAINING_VOICES)
    samples = read(make_speech_dataset(folder / "test", domain.HELD_OUT_SENTENCES, domain.HELD_OUT_VOICES))
    common = dict(model=str(tiny_en_dir()), dataset=str(training), device=args.device)
    joint = args.joint_epochs or args.finetune_epochs + args.epochs
    two_stage = dict(finetune_epochs=args.finetune_epochs, epochs=args.epochs)
    runs = {
        "acft": (f"ACFT only ({args.epochs} ep)", dict(epochs=args.epochs)),
        "two-stage": (f"two-stage ({args.finetune_epochs}+{args.epochs} ep)", two_stage),
        "glossary-trained": (f"glossary-trained ({args.finetune_epochs}+{args.epochs} ep)",
                             dict(two_stage, glossary=list(domain.TERMS), glossary_share=args.glossary_share)),
        "joint": (f"joint ({joint} ep)", dict(finetune_epochs=joint, epochs=0, objective="joint")),
        "all kept": (f"stage 1 all kept ({args.finetune_epochs}+{args.epochs} ep)", dict(two_stage, finetune_keep=1.0)),
    }
    [base] = convert(str(tiny_en_dir()), plan_outputs(folder / "base.bin", ["f16"]))
    models = [("base", base.path, None)]
    for i, key in enumerate((args.runs or "acft,two-stage,glossary-trained,joint").split(",")):
        name, settings = runs[key]
        config = TrainConfig(out=str(folder / f"run{i}"), **{**common, **settings})
        models.append((name, *trained(f"domain{i}", config, folder)))
    glossary = Decoding(glossary=domain.TERMS)
    prompted = ("base", "two-stage", "glossary-trained")
    rows = [(f"{name}{' + glossary' * (decoding is glossary)}", path, seconds, decoding)
            for name, path, seconds in models
            for decoding in ((FUTO, glossary) if name.startswith(prompted) else (FUTO,))]
    engines = choose_engines(args.engine, print)
    layouts = {layout: sets["held out"] for layout, sets in family({"held out": samples}, args).items()}
    column = f" {'layout':9}" if args.layouts else ""
    print(f"tiny.en; {len(domain.TRAINING_SENTENCES) * len(domain.TRAINING_VOICES)} espeak-ng training clips"
          f" with the terms {', '.join(domain.TERMS)}; checked in whisper.cpp (f16, FUTO's decoding) on"
          f" {len(samples)} clips of other sentences in voices never trained on{laid_out_as(args)};"
          f" device {args.device}")
    print(f"{'model':38} {'engine':7} {'train s':>7}{column} | {'term recall':^21} | {'WER':^15} | {'runaways':^9}")
    print(f"{'':54}{' ' * len(column)} | {'full':>10} {'futo':>10} | {'full':>7} {'futo':>7} | {'full':>4} {'futo':>4}")
    for engine in engines:
        for name, path, seconds, decoding in rows:
            trained_for = f"{seconds:7.0f}" if seconds is not None else f"{'-':>7}"
            for layout, laid in layouts.items():
                result = verify(path, laid, threads=args.threads, decoding=decoding, engines=[engine]).model
                recall = []
                for context in ("full", "futo"):
                    heard, said = term_recall(result, domain.TERMS, context)
                    recall.append(f"{heard:>2}/{said:<2} {heard / said:4.0%}")
                c = result.contexts
                named = f" {layout:9}" if args.layouts else ""
                print(f"{name:38} {engine.name:7} {trained_for}{named} | {recall[0]:>10} {recall[1]:>10} |"
                      f" {c['full'].wer:7.1%} {c['futo'].wer:7.1%} | {c['full'].runaways:4d} {c['futo'].runaways:4d}",
                      flush=True)


def metadata_rows(folder: Path) -> list[dict]:
    with open(folder / "metadata.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def split_person(source: Path, folder: Path) -> tuple[Path, Path]:
    """One person's recordings (an audiofolder): two of every three to train on, the third held out."""
    rows = metadata_rows(source)
    parts = {"mine": [r for i, r in enumerate(rows) if i % 3], "mine-held-out": rows[::3]}
    for name, part in parts.items():
        (folder / name).mkdir()
        for row in part:
            shutil.copyfile(source / row["file_name"], folder / name / row["file_name"])
        write_metadata(folder / name, ((r["file_name"], r["text"]) for r in part))
    return folder / "mine", folder / "mine-held-out"


def person_table(args: argparse.Namespace, folder: Path) -> None:
    person = (Path(args.person_dataset) if args.person_dataset else read_sentences_dataset() if args.sentences
              else real_words_dataset())
    mine, held_out = split_person(person, folder)
    sets = {"the person, held out": read(held_out), "real speech, others": read(real_speech_dataset()),
            "espeak-ng, others": read(make_speech_dataset(folder / "test", TEST_SENTENCES, voices=TEST_VOICES))}
    layouts = family(sets, args)
    [engine] = choose_engines("both", print)[:1]
    common = dict(model=str(tiny_en_dir()), dataset=str(mine), device=args.device)
    two_stage = dict(finetune_epochs=args.finetune_epochs, epochs=args.epochs)
    runs = {"two-stage": two_stage,
            # stage-1 candidates for keeping the other speakers: it is stage 1 that costs them (docs/quality.md)
            "decoder only": dict(two_stage, freeze_encoder=True),
            "stage-1 lr halved": dict(two_stage, finetune_lr=finetune.SIZE_LR[384] / 2),
            "specaugment": dict(two_stage, spec_augment=True),
            "all kept": dict(two_stage, finetune_keep=1.0),
            "acft": dict(epochs=args.epochs),
            "other voices": dict(two_stage, other_voices=True),  # the ACFT table's sentences mixed in
            "alone": dict(two_stage, other_voices=False),  # the person's clips alone, however the folder was made
            # with the others held by their voices, how much of stage 1 the person can keep (issue 38)
            "other voices all kept": dict(two_stage, other_voices=True, finetune_keep=1.0),
            "other voices 70% kept": dict(two_stage, other_voices=True, finetune_keep=0.7),
            "joint": dict(finetune_epochs=args.joint_epochs or args.finetune_epochs + args.epochs, epochs=0,
                          objective="joint")}
    said = args.person_dataset or (SENTENCES if args.sentences
                                   else "the real recorded words (tests/fixtures/real_words.py)")
    print(f"tiny.en trained on one person's voice: {len(metadata_rows(mine))} clips of {said},"
          f" {args.finetune_epochs} + {args.epochs} epochs; decoded as FUTO"
          f" Keyboard does (beam 5) in {engine.label}, f16, on the person's {len(sets['the person, held out'])}"
          f" others and on other speakers: {len(sets['real speech, others'])} real recorded clips and"
          f" {len(sets['espeak-ng, others'])} espeak-ng clips{laid_out_as(args)}")
    header(layouts, contexts(args))
    [base] = convert(str(tiny_en_dir()), plan_outputs(folder / "base.bin", ["f16"]))
    models = [("base", base.path, None)]
    for i, key in enumerate((args.runs or "two-stage").split(",")):
        for seed in args.seeds:
            config = TrainConfig(out=str(folder / f"run{i}-{seed}"), seed=seed, **{**common, **runs[key]})
            label = key if len(args.seeds) == 1 else f"{key}, seed {seed}"
            models.append((label, *trained(f"person{i}-{seed}", config, folder)))
    others, first = list(sets).index("real speech, others"), next(iter(layouts))
    measured = [(label, row(label, path, seconds, layouts, engine, args.threads,
                            judged_at=contexts(args))[first][others])
                for label, path, seconds in models]
    print("the other speakers' real clips that a row heard better or worse than the base, at full context"
          f"{f' ({first})' if first else ''}:")
    changed_words(measured)


def any_table(args: argparse.Namespace, folder: Path) -> None:
    """--model on --dataset: the base model and the default `wacft train` on the dataset's --train-split,
    verified on its --test-split in --language."""
    language = language_code(args.language) or "en"

    def clips(split: str, limit: int | None) -> list:
        return load_clips(DatasetSpec(args.dataset, args.dataset_config, split, args.audio_column,
                                      args.text_column, limit, LONGEST)).clips

    layouts = family({f"{args.test_split} ({language})": clips(args.test_split, args.test_clips)}, args)
    [engine] = choose_engines("both", print)[:1]
    print(f"{args.model} on {args.dataset} {args.dataset_config or ''}: the default `wacft train` on"
          f" {args.train_clips or 'all the'} {args.train_split} clips, {args.epochs} epochs; decoded in {language}"
          f" as FUTO Keyboard does (beam 5) in {engine.label}, f16, on {len(*next(iter(layouts.values())).values())}"
          f" {args.test_split} clips ({rate_name(language)}){laid_out_as(args)}")
    header(layouts, contexts(args))
    [base] = convert(args.model, plan_outputs(folder / "base.bin", ["f16"]))
    row("base", base.path, None, layouts, engine, args.threads, language, contexts(args))
    for seed in args.seeds:
        config = TrainConfig(model=args.model, dataset=args.dataset, dataset_config=args.dataset_config,
                             split=args.train_split, audio_column=args.audio_column, text_column=args.text_column,
                             language=args.language, max_clips=args.train_clips, epochs=args.epochs, lr=args.lr,
                             device=args.device, seed=seed, out=str(folder / f"run-{seed}"))
        label = "default" if len(args.seeds) == 1 else f"default, seed {seed}"
        row(label, *trained(f"run-{seed}", config, folder), layouts, engine, args.threads, language, contexts(args))


def main() -> None:
    parser = argparse.ArgumentParser()
    table = parser.add_mutually_exclusive_group()
    table.add_argument("--domain", action="store_true", help="the domain table instead of the ACFT one")
    table.add_argument("--person", action="store_true", help="the one-person table instead of the ACFT one")
    table.add_argument("--model", help="any model (hub id or folder): base and trained on --dataset, in --language")
    parser.add_argument("--dataset", help="with --model: the dataset (hub id or folder)")
    parser.add_argument("--dataset-config", help="with --model: the hub dataset's config, e.g. de_de")
    parser.add_argument("--audio-column", help="with --model: the dataset's audio column (default: found)")
    parser.add_argument("--text-column", help="with --model: the dataset's transcript column (default: found)")
    parser.add_argument("--language", help="with --model: the dataset's language, e.g. de (default: en)")
    parser.add_argument("--train-split", default="train", help="with --model: the split trained on")
    parser.add_argument("--train-clips", type=int, help="with --model: at most this many clips trained on")
    parser.add_argument("--test-split", default="test", help="with --model: the split verified on")
    parser.add_argument("--test-clips", type=int, default=100, help="with --model: clips verified on")
    person = parser.add_mutually_exclusive_group()
    person.add_argument("--person-dataset", help="with --person: one person's recordings (an audiofolder) in place"
                        " of the real words, two of every three trained on")
    person.add_argument("--sentences", action="store_true",
                        help=f"with --person: the person reads sentences: {SENTENCES}")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="ACFT epochs")
    parser.add_argument("--finetune-epochs", type=int, default=4, help="stage-1 epochs (--domain, --person)")
    parser.add_argument("--joint-epochs", type=int, help="joint objective's epochs (--domain, --person; default:"
                        " as many as the two stages together)")
    parser.add_argument("--runs", help="the trained rows of --domain, of acft, two-stage, glossary-trained, joint,"
                        " all kept (default: all but all kept); of --person, of acft, two-stage, decoder only,"
                        " stage-1 lr halved, specaugment, all kept, other voices, joint (default: two-stage)")
    parser.add_argument("--glossary-share", type=float, default=TrainConfig.glossary_share,
                        help="share of the clips the glossary-trained row prompts (--domain)")
    parser.add_argument("--lr", type=float, default=TrainConfig.lr, help="per clip, as in `wacft train` (not --domain)")
    parser.add_argument("--rows", nargs="+", default=["base", *CANDIDATES], choices=["base", *CANDIDATES],
                        help="the ACFT table's rows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="train each row once per seed (not --domain)")
    parser.add_argument("--per-epoch", action="store_true", help="each ACFT row after each of its epochs")
    laid = parser.add_mutually_exclusive_group()
    laid.add_argument("--phone-silence", action="store_true", help="the test clips laid out as the phone records a"
                      " dictation (0.6 s before the speech, 1.98 s after), as the real words are")
    laid.add_argument("--layouts", nargs="*", choices=LAYOUTS, help="judge every row under each of these layouts of"
                      " the test clips (default, with none named: all) at full and FUTO context")
    parser.add_argument("--quick", action="store_true", help="4 epochs, half the espeak-ng test clips")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2, help="whisper.cpp threads")
    parser.add_argument("--engine", choices=ENGINE_CHOICES, default="both",
                        help="whisper.cpp to verify in (--domain)")
    args = parser.parse_args()
    if args.layouts == []:
        args.layouts = list(LAYOUTS)
    if bool(args.model) != bool(args.dataset):
        parser.error("--model and --dataset go together")
    table = any_table if args.model else domain_table if args.domain else person_table if args.person else acft_table
    with tempfile.TemporaryDirectory() as tmp:
        table(args, Path(tmp))


if __name__ == "__main__":
    main()
