"""`wacft verify`: the .bin in the phone's whisper.cpp, decoded as FUTO Keyboard does, at FUTO's context and the
full one, against its base model on the clips its run held out, before it goes to the phone."""

from __future__ import annotations

import argparse

from wacft.cli.glossary import add_glossary_options
from wacft.services.datasets import AUDIO_COLUMNS, MAX_CLIP_SECONDS, TEXT_COLUMNS, DatasetSpec

DEFAULT_LIMIT = 50  # clips: enough to see loops, minutes not hours on a laptop CPU
NOT_READY = 2  # the exit status when the verdict is "not ready", so a script can gate on it
TOO_FEW = 3  # ... and when there are too few clips to tell


def register(steps: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from wacft.services.verify import ENGINE_CHOICES, RULE, Request

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
    p.add_argument("--engine", choices=ENGINE_CHOICES, default=Request.engine,
                   help="phone (default): whisper.cpp 1.5.4, the generation FUTO Keyboard ships (installed on first"
                        " use; where it cannot be, the current one, said in a sentence); current: wacft's"
                        " whisper.cpp; both: the verdict from the phone's")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from wacft.atomic import write_bytes_atomic
    from wacft.services.verify import Request, verify_file

    dataset = DatasetSpec(args.dataset, args.dataset_config, args.split, args.audio_column, args.text_column,
                          args.max_clips, args.max_audio_length) if args.dataset else None
    request = Request(args.model, args.run, dataset, args.max_clips, args.language, args.languages,
                      tuple(args.glossary), args.baseline, args.f16, args.engine, args.greedy, args.as_recorded,
                      args.dynamic, args.threads)
    bars: list[tqdm] = []  # opened at the first transcription, so a model whisper.cpp refuses prints no bar

    def progress(done: int, total: int, label: str) -> None:
        if bars and (bars[0].total != total or done < bars[0].n):  # the next model's decoding
            bars.pop().close()
        if not bars:
            bars.append(tqdm(total=total, unit="clip"))
        bars[0].set_description(label, refresh=False)
        bars[0].update(done - bars[0].n)

    try:
        result = verify_file(request, progress, say=print)
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
    from wacft.services.verify import NOT_READY as NOT_READY_STATE
    from wacft.services.verify import READY

    return {READY: 0, NOT_READY_STATE: NOT_READY}.get(state, TOO_FEW)
