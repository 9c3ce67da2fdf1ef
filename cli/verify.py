"""`wacft verify`: the .bin in the phone's whisper.cpp, decoded as FUTO Keyboard does, at FUTO's context and the
full one, against its base model on the clips its run held out, before it goes to the phone."""

from __future__ import annotations

import argparse

from wacft.acft.data import AUDIO_COLUMNS, TEXT_COLUMNS
from wacft.acft.dataset_spec import MAX_CLIP_SECONDS, DatasetSpec
from wacft.cli.glossary import add_glossary_options

DEFAULT_LIMIT = 50  # clips: enough to see loops, minutes not hours on a laptop CPU
ENGINES = ("phone", "current", "both")
NOT_READY = 2  # the exit status when the verdict is "not ready", so a script can gate on it
TOO_FEW = 3  # ... and when there are too few clips to tell


def register(steps: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from wacft.convert.verdict import RULE

    p = steps.add_parser("verify", help="check a .bin as the phone runs it, against its base model, on clips the"
                         " run held out; exits 2 when it is not ready for the phone", epilog=RULE)
    p.add_argument("model", metavar="MODEL.bin", help="the whisper.cpp model to check")
    p.add_argument("--run", metavar="RUN", help="the training run (an id from `wacft runs`, or its folder): verify on"
                   " the clips it held out, against its base model (default: the run whose folder holds MODEL.bin)")
    p.add_argument("--dataset", help="hub dataset id or local audiofolder (audio + metadata.csv) to verify with"
                   " instead of the run's held-out clips")
    p.add_argument("--dataset-config", help="the hub dataset's config (subset), e.g. en_us")
    p.add_argument("--split", default="test", help="the hub dataset's split")
    p.add_argument("--audio-column", help="default: the first of " + ", ".join(AUDIO_COLUMNS))
    p.add_argument("--text-column", help="default: the first of " + ", ".join(TEXT_COLUMNS))
    p.add_argument("--limit", dest="max_clips", type=int, default=DEFAULT_LIMIT,
                   help="clips to use (0: all)")
    p.add_argument("--max-audio-length", type=float, default=MAX_CLIP_SECONDS,
                   help="skip clips longer than this (seconds)")
    p.add_argument("--language", help="language of the dataset (a code such as de, or a name), forced as FUTO"
                   " Keyboard does with one language enabled; default: the run's, else en")
    p.add_argument("--languages", metavar="A,B",
                   help="decode as FUTO Keyboard does with several languages enabled: Whisper's language detection"
                        " chooses among these only, clip by clip (e.g. de,en); scored in --language, else the first")
    p.add_argument("--baseline", metavar="BASE", default="auto",
                   help="auto: the run's base model, converted to MODEL.bin's type once and its results cached;"
                        " none; or a base .bin to run beside it")
    p.add_argument("--f16", metavar="F16.bin", help="for a quantized MODEL.bin: the f16 file to compare with (auto:"
                   " its _f16 sibling)")
    p.add_argument("--threads", type=int, help="whisper.cpp threads (default: up to 4)")
    add_glossary_options(p, "terms of the personal dictionary, sent as FUTO Keyboard does: (Glossary: A, B)"
                            " (default: the run's)")
    p.add_argument("--greedy", action="store_true",
                   help="greedy decoding (faster) instead of FUTO Keyboard's beam search of 5")
    p.add_argument("--as-recorded", action="store_true",
                   help="decode each clip as the dataset has it; by default each is given the silence it lacks of"
                        " what the phone records around a dictation (0.6 s before the speech, 1.98 s after), as"
                        " training does, since the phone never sends a clip cut close to the speech (one it would"
                        " take past --max-audio-length stays as it is)")
    # the default now: scripts written when it was an option still run
    p.add_argument("--phone-silence", dest="as_recorded", action="store_false", help=argparse.SUPPRESS)
    p.add_argument("--dynamic", action="store_true",
                   help="also decode at the published ACFT evaluation's dynamic context (FUTO's and the full one"
                        " always)")
    p.add_argument("--engine", choices=ENGINES, default="phone",
                   help="phone (default): whisper.cpp 1.5.4, the generation FUTO Keyboard ships (installed on first"
                        " use; where it cannot be, the current one, said in a sentence); current: wacft's"
                        " whisper.cpp; both: the verdict from the phone's")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:  # noqa: C901 (split where verify moves into services: issue 33)
    from tqdm import tqdm

    from wacft.acft.data import as_the_phone_records, load_clips
    from wacft.atomic import write_bytes_atomic
    from wacft.convert.ggml import read_ggml
    from wacft.convert.languages import decoding_languages
    from wacft.convert.phone_engine import choose_engines
    from wacft.convert.verify import CONTEXTS, DEFAULT_CONTEXTS, f16_sibling
    from wacft.convert.whispercpp import FUTO_BEAM_SIZE, Decoding
    from wacft.errors import WacftError
    from wacft.extras import require_extra
    from wacft.facts import FUTO_LEAD_SECONDS, FUTO_TAIL_SECONDS
    from wacft.services.verify import AUTO, NONE, check, find_run, run_clips, run_of

    if args.max_clips < 0:
        raise WacftError(f"--limit is {args.max_clips}; give a number of clips, or 0 for all of them.")
    if args.threads is not None and args.threads < 1:  # whisper.cpp would fail on it, blaming the model
        raise WacftError(f"--threads is {args.threads}; give a number of threads of at least 1, or leave it out.")
    baseline = args.baseline if args.baseline in (AUTO, NONE) else None
    f16 = f16_sibling(args.model) if args.f16 == AUTO else args.f16
    for path in filter(None, (args.model, baseline is None and args.baseline, f16)):
        read_ggml(path)  # a bad file is named before the dataset is read
    run = find_run(args.run) if args.run else run_of(args.model)
    if run is None and not args.dataset:
        raise WacftError("Give the clips to verify with: --run RUN (the clips that run held out) or --dataset.")
    glossary = tuple(args.glossary) or tuple(run.config.glossary if run else ())
    decoding = Decoding(beam_size=1 if args.greedy else FUTO_BEAM_SIZE, glossary=glossary)
    language, languages = decoding_languages(args.model, args.language or (run and run.config.language) or None,
                                             args.languages)
    require_extra("verify")  # before the dataset, which would name only the 'data' part of it
    if args.dataset:
        clips = load_clips(DatasetSpec(args.dataset, args.dataset_config, args.split, args.audio_column,
                                       args.text_column, args.max_clips, args.max_audio_length))
        print(f"{args.dataset}: {clips.summary()}")
        samples, note = clips.clips, ""
    else:
        assert run is not None  # refused above
        samples, note = run_clips(run, args.max_clips)
        print(f"run {args.run or run.config.out}: {note}")
    engines = choose_engines(args.engine, print)
    if not args.as_recorded:
        samples = as_the_phone_records(samples, 1.0, 0, args.max_audio_length)
        print(f"each clip laid out as the phone records it: its silence made up to {FUTO_LEAD_SECONDS} s before"
              f" the speech and {FUTO_TAIL_SECONDS:.2f} s after")
    if f16:
        print(f"comparing with the f16 file {f16}")
    bars: list[tqdm] = []  # opened at the first transcription, so a model whisper.cpp refuses prints no bar

    def progress(done: int, total: int, label: str) -> None:
        if bars and (bars[0].total != total or done < bars[0].n):  # the next model's decoding
            bars.pop().close()
        if not bars:
            bars.append(tqdm(total=total, unit="clip"))
        bars[0].set_description(label, refresh=False)
        bars[0].update(done - bars[0].n)

    contexts = tuple(CONTEXTS) if args.dynamic else DEFAULT_CONTEXTS
    try:
        result = check(args.model, samples, engines=engines, baseline=args.baseline,
                       base_model=run.config.model if run else None, f16=f16, decoding=decoding,
                       contexts=contexts, language=language, languages=languages, threads=args.threads,
                       clips_note=note, progress=progress, say=print)
    finally:
        for bar in bars:
            bar.close()
    print(result.table())
    print(("✓ " if result.ready else "✗ ") + result.verdict)
    if args.json:
        write_bytes_atomic(args.json, result.to_json().encode())
    return exit_status(result.state)


def exit_status(state: str) -> int:
    """0 ready, 2 not ready, 3 too few clips to tell."""
    from wacft.convert.verdict import NOT_READY as NOT_READY_STATE
    from wacft.convert.verdict import READY

    return {READY: 0, NOT_READY_STATE: NOT_READY}.get(state, TOO_FEW)
