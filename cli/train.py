"""`wacft train`: ACFT training from the command line, with a progress bar fed by the event stream."""

from __future__ import annotations

import argparse

from wacft.cli.glossary import add_glossary_options
from wacft.cli.terminal import TerminalSink, watch_in_terminal
from wacft.facts import DEFAULT_GPU, GPUS, OTHER_VOICE_CLIPS, OTHER_VOICES
from wacft.services.datasets import AUDIO_COLUMNS, TEXT_COLUMNS
from wacft.services.outputs import DEFAULT_TYPES
from wacft.services.settings import OBJECTIVES, TrainConfig

MODAL_CONVERT = ",".join(DEFAULT_TYPES)
# options that only mean something where the run goes (`--on`): given elsewhere, they are refused, not ignored
ONLY_ON = {"gpu": ("modal",), "convert": ("modal",), "max_hours": ("modal",), "yes": ("modal",),
           "detach": ("local", "modal")}


def register(steps: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = steps.add_parser("train", help="ACFT-train a Whisper model so it copes with dynamic audio context")
    p.add_argument("--model", required=True, help="base model: hub id (openai/whisper-base.en) or a folder")
    p.add_argument("--dataset", required=True, help="hub dataset id or a folder of audio + metadata.csv")
    p.add_argument("--out", help="output folder (checkpoints, then the trained model); default: a folder of its own"
                   " under the user data folder's runs/ (WACFT_HOME moves it)")
    p.add_argument("--dataset-config", help="the hub dataset's config (subset), e.g. en_us")
    p.add_argument("--split", default=TrainConfig.split, help="the hub dataset's split")
    p.add_argument("--audio-column", help="default: the first of " + ", ".join(AUDIO_COLUMNS))
    p.add_argument("--text-column", help="default: the first of " + ", ".join(TEXT_COLUMNS))
    p.add_argument("--language", help="language of the data, for multilingual models (e.g. en)")
    p.add_argument("--task", default=TrainConfig.task, choices=["transcribe", "translate"],
                   help="for multilingual models: transcribe, or translate into English")
    p.add_argument("--keep-case", dest="lowercase", action="store_false", help="don't lower-case transcripts")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="ACFT epochs")
    p.add_argument("--lr", type=float, default=TrainConfig.lr, help="ACFT learning rate per clip, as published")
    stage1 = p.add_argument_group("stage 1: learn the data's words before ACFT (off unless --finetune-epochs)")
    stage1.add_argument("--finetune-epochs", type=int, default=TrainConfig.finetune_epochs,
                        help="epochs of training on the transcripts before ACFT")
    stage1.add_argument("--objective", choices=OBJECTIVES, default=TrainConfig.objective,
                        help="two-stage: cross-entropy, then ACFT from that model; joint: cross-entropy at the"
                             " clip's own context plus an ACFT term towards the base model")
    stage1.add_argument("--finetune-lr", type=float, help="default: the usual rate for the model's size")
    stage1.add_argument("--joint-weight", type=float, default=TrainConfig.joint_weight,
                        help="weight of the ACFT term in the joint objective")
    stage1.add_argument("--finetune-keep", type=float, default=TrainConfig.finetune_keep,
                        help="share of stage 1's change to the base weights kept (the rest is blended back), so"
                             " other voices keep what the base model knew")
    stage1.add_argument("--freeze-encoder", action="store_true", help="train the decoder only")
    stage1.add_argument("--spec-augment", action="store_true", help="mask time and frequency bands")
    add_glossary_options(stage1, "your terms, as FUTO Keyboard's personal dictionary sends them: a share of the"
                                 " clips train with the prompt (Glossary: A, B) in both stages")
    stage1.add_argument("--glossary-share", type=float, default=TrainConfig.glossary_share,
                        help="share of the clips that train with the glossary prompt")
    stage1.add_argument("--eval-split", help="score each epoch on this split (default: hold out a slice)")
    stage1.add_argument("--eval-share", type=float, default=TrainConfig.eval_share,
                        help="share of the data held out to score each epoch")
    p.add_argument("--no-hold-out", dest="hold_out", action="store_false",
                   help="train on every clip; by default a fifth of them (from 15 clips on, at most 50) is set aside"
                        " for `wacft verify --run`")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="clips per step")
    p.add_argument("--max-audio-length", type=float, default=TrainConfig.max_audio_length,
                   help="skip clips longer than this (seconds)")
    p.add_argument("--max-clips", type=int, help="use at most this many clips")
    p.add_argument("--exact-reference", action="store_true", help="the published loop: batch 1, no cache")
    p.add_argument("--full-context-share", type=float, default=TrainConfig.full_context_share,
                   help="share of batches the student sees at the full 30 s context")
    p.add_argument("--phone-silence-share", type=float, default=TrainConfig.phone_silence_share,
                   help="share of clips given the silence the phone records around a dictation (0.6 s before,"
                        " 2 s after)")
    p.add_argument("--other-voices", action=argparse.BooleanOptionalAction,
                   help=f"mix {OTHER_VOICE_CLIPS} clips of other voices (espeak-ng saying everyday sentences in the"
                        f" data's language: {', '.join(OTHER_VOICES)}) into the training, so other speakers"
                        " keep what the base model heard; default: on for a folder of one voice (one `wacft record`"
                        " made, or whose metadata names one speaker or none), off for one that names several"
                        " (a speaker, speaker_id, client_id or spk_id column) and for hub datasets")
    p.add_argument("--cache-mb", type=int, default=TrainConfig.cache_mb,
                   help="memory for what is computed once per clip (reference states, mel frames)")
    p.add_argument("--checkpoint-every", type=int, default=TrainConfig.checkpoint_every,
                   help="steps between checkpoints")
    p.add_argument("--device", default=TrainConfig.device, help="auto, cuda, mps or cpu")
    p.add_argument("--seed", type=int, default=TrainConfig.seed, help="for the jitter, the order and the hold-out")
    p.add_argument("--push-to", metavar="REPO", help="Hugging Face repo to push the trained model to")
    p.add_argument("--public", dest="private", action="store_false", help="make the pushed repo public")
    p.add_argument("--resume", action="store_true", help="continue the unfinished run in --out")
    p.add_argument("--force", action="store_true",
                   help="train over a model or a finished run in --out, or start its unfinished run over")
    p.add_argument("--on", choices=["here", "local", "modal"], default="here",
                   help="here: in this process; local: a background process; modal: a Modal GPU")
    p.add_argument("--gpu", help=f"Modal GPU: {', '.join(GPUS)} (default: {DEFAULT_GPU})")
    p.add_argument("--convert", help=f"with --on modal: types to convert to there (default: {MODAL_CONVERT})")
    p.add_argument("--detach", action="store_true", help="launch and return; `wacft watch RUN` follows it")
    p.add_argument("--max-hours", type=float, help="with --on modal: the run's budget of GPU hours, across every"
                   " container Modal starts for it (default: 24)")
    p.add_argument("--yes", action="store_true", help="with --on modal: launch without asking")
    p.set_defaults(func=run_train)

    p = steps.add_parser("runs", help="list training runs")
    p.set_defaults(func=run_runs)
    p = steps.add_parser("watch", help="follow a run's progress (a Modal run goes on if you stop watching)")
    p.add_argument("run", help="the run's id (see `wacft runs`)")
    p.set_defaults(func=run_watch)
    p = steps.add_parser("cancel", help="stop a run")
    p.add_argument("run", help="the run's id (see `wacft runs`)")
    p.set_defaults(func=run_cancel)
    p = steps.add_parser("resume", help="continue a cancelled or failed run from its last checkpoint")
    p.add_argument("run", help="the run's id (see `wacft runs`)")
    p.add_argument("--max-hours", type=float, help="a Modal run's new budget of GPU hours (default: the one it had)")
    p.add_argument("--yes", action="store_true", help="a Modal run: resume without asking")
    p.add_argument("--detach", action="store_true", help="resume and return; `wacft watch RUN` follows it")
    p.set_defaults(func=run_resume)
    p = steps.add_parser("fetch", help="download a Modal run's trained model (or only one converted .bin)")
    p.add_argument("run", help="the run's id (see `wacft runs`)")
    p.add_argument("--to", default=".", help="destination folder")
    p.add_argument("--only", metavar="TYPE", help="only the converted .bin of this type, e.g. q5_0")
    p.set_defaults(func=run_fetch)


def refuse_ignored(args: argparse.Namespace) -> None:
    """An option the run would not use is a mistake to say, not to ignore: the person meant something by it."""
    from wacft.errors import WacftError

    for name, where in ONLY_ON.items():
        if getattr(args, name) not in (None, False) and args.on not in where:
            flag = "--" + name.replace("_", "-")
            raise WacftError(f"{flag} is for --on {' or '.join(where)}, and this run is --on {args.on}; drop {flag}"
                             f" or run it --on {where[0]}.")
    if not args.private and not args.push_to:
        raise WacftError("--public makes the repo --push-to creates public, and no --push-to was given; drop"
                         " --public or add --push-to REPO.")
    if args.resume and not args.out:
        raise WacftError("Resuming continues the run in a folder: give that folder with --out.")


def run_train(args: argparse.Namespace) -> None:
    from wacft.services import runs
    from wacft.services.settings import train_settings

    refuse_ignored(args)
    args.gpu, args.convert = args.gpu or DEFAULT_GPU, args.convert or MODAL_CONVERT
    config = train_settings(vars(args))
    if args.on != "modal" and not args.out:
        from wacft.extras import require_extra

        require_extra("train")  # refused before it says where it would train
        print(f"training into {config.out}")
    if args.on == "here":
        runs.train_here(config, TerminalSink(), resume=args.resume, force=args.force)
        return
    backend = runs.backend(args.on, args.gpu, [t for t in args.convert.split(",") if t], args.max_hours)
    ask = (lambda: confirm_spend(config, args)) if args.on == "modal" else None
    record = backend.launch(config, resume=args.resume, force=args.force, confirm=ask)
    print(f"run {record.id} started ({args.on}); `wacft watch {record.id}` follows it,"
          f" `wacft cancel {record.id}` stops it")
    if not args.detach:
        watch_in_terminal(backend, record)


def confirm_spend(config: TrainConfig, args: argparse.Namespace) -> None:
    """The time and cost estimate before a Modal launch, and the question (`--yes` answers it)."""
    from wacft.services.runs import spend

    ask_to_spend(spend(config, args.gpu, args.max_hours), args.yes)


def ask_to_spend(what: str, yes: bool) -> None:
    import sys

    from wacft.errors import WacftError

    print(what)
    if yes:
        return
    if not sys.stdin.isatty():
        raise WacftError("A Modal run costs money; pass --yes to launch it without a question.")
    if input("Launch it? [y/N] ").strip().lower() not in ("y", "yes"):
        raise WacftError("Not launched.")


def run_runs(args: argparse.Namespace) -> None:
    import time

    from wacft.services.runs import list_runs, settle

    records = [settle(r) for r in list_runs()]
    if not records:
        print("no runs yet: start one with `wacft train`")
    for r in records:
        loss = r.last.get("loss")
        progress = f"step {r.last.get('step')}/{r.last.get('total_steps')} loss {loss:.4g}" if isinstance(
            loss, int | float) else ""
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
        print(f"{r.id}  {r.backend:5}  {r.status:9}  {started}  {r.config.get('model')}  {progress}")


def run_watch(args: argparse.Namespace) -> None:
    from wacft.services.runs import backend_for, load_run

    record = load_run(args.run)
    watch_in_terminal(backend_for(record), record)


def run_cancel(args: argparse.Namespace) -> None:
    from wacft.services import runs

    record = runs.load_run(args.run)
    runs.cancel(record)
    print(f"run {record.id} cancelled")


def run_resume(args: argparse.Namespace) -> None:
    from wacft.services import runs

    record = runs.load_run(args.run)
    cost = runs.resume_cost(record, args.max_hours)
    if cost:
        ask_to_spend(cost, args.yes)
    resumed = runs.resume(record, args.max_hours)
    print(f"run {record.id} resumed as {resumed.id}; `wacft watch {resumed.id}` follows it")
    if not args.detach:
        watch_in_terminal(runs.backend_for(resumed), resumed)


def run_fetch(args: argparse.Namespace) -> None:
    from pathlib import Path

    from wacft.services import runs

    record = runs.load_run(args.run)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc="fetch")
        bar.update(done - bar.n)

    paths = runs.fetch(record, Path(args.to), args.only, progress=progress)
    if bar:
        bar.close()
    for path in paths:
        print(path)
