"""`wacft verify`: the .bin in whisper.cpp, at full, dynamic and FUTO context, decoded as FUTO Keyboard does, in
the phone's whisper.cpp generation and the current one, before it goes to the phone."""

from __future__ import annotations

import argparse

from wacft.acft.data import AUDIO_COLUMNS, TEXT_COLUMNS
from wacft.glossary_cli import add_glossary_options

DEFAULT_LIMIT = 50  # clips: enough to see loops, minutes not hours on a laptop CPU
ENGINES = ("phone", "current", "both")
NOT_READY = 2  # the exit status when the verdict is "not ready", so a script can gate on it


def register(steps: argparse._SubParsersAction) -> None:
    p = steps.add_parser("verify", help="check a .bin in whisper.cpp at full and dynamic audio context;"
                         " exits 2 when it is not ready for the phone")
    p.add_argument("model", metavar="MODEL.bin", help="the whisper.cpp model to check")
    p.add_argument("--dataset", required=True, help="hub dataset id or local audiofolder (audio + metadata.csv)")
    p.add_argument("--dataset-config", help="the hub dataset's config (subset), e.g. en_us")
    p.add_argument("--split", default="test", help="the hub dataset's split")
    p.add_argument("--audio-column", help="default: the first of " + ", ".join(AUDIO_COLUMNS))
    p.add_argument("--text-column", help="default: the first of " + ", ".join(TEXT_COLUMNS))
    p.add_argument("--limit", dest="max_clips", type=int, default=DEFAULT_LIMIT,
                   help="clips to use (0: all)")
    p.add_argument("--max-audio-length", type=float, default=29.0, help="skip clips longer than this (seconds)")
    p.add_argument("--language", help="language of the dataset (a code such as de, or a name), forced as FUTO"
                   " Keyboard does with one language enabled; default en")
    p.add_argument("--languages", metavar="A,B",
                   help="decode as FUTO Keyboard does with several languages enabled: Whisper's language detection"
                        " chooses among these only, clip by clip (e.g. de,en); scored in --language, else the first")
    p.add_argument("--baseline", metavar="OTHER.bin", help="the base model, shown side by side")
    p.add_argument("--f16", metavar="F16.bin",
                   help="for a quantized MODEL.bin: the f16 file to compare with (default: its _f16 sibling)")
    p.add_argument("--threads", type=int, help="whisper.cpp threads (default: up to 4)")
    add_glossary_options(p, "terms of the personal dictionary, sent as FUTO Keyboard does: (Glossary: A, B)")
    p.add_argument("--greedy", action="store_true",
                   help="greedy decoding (faster) instead of FUTO Keyboard's beam search of 5")
    p.add_argument("--as-recorded", action="store_true",
                   help="decode each clip as the dataset has it; by default each is given the silence it lacks of"
                        " what the phone records around a dictation (0.6 s before the speech, 1.98 s after), as"
                        " training does, since the phone never sends a clip cut close to the speech (one it would"
                        " take past --max-audio-length stays as it is)")
    # the default now: scripts written when it was an option still run
    p.add_argument("--phone-silence", dest="as_recorded", action="store_false", help=argparse.SUPPRESS)
    p.add_argument("--engine", choices=ENGINES, default="both",
                   help="phone: whisper.cpp 1.5.4, the generation FUTO Keyboard ships (installed on first use);"
                        " current: wacft's whisper.cpp; both (default): the verdict from the phone's")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from wacft.acft.data import as_the_phone_records, load_clips
    from wacft.atomic import write_bytes_atomic
    from wacft.convert.ggml import read_ggml
    from wacft.convert.languages import decoding_languages
    from wacft.convert.phone_engine import choose_engines
    from wacft.convert.verify import f16_sibling, verify
    from wacft.convert.whispercpp import FUTO_BEAM_SIZE, Decoding
    from wacft.errors import WacftError
    from wacft.extras import require_extra
    from wacft.facts import FUTO_LEAD_SECONDS, FUTO_TAIL_SECONDS

    if args.max_clips < 0:
        raise WacftError(f"--limit is {args.max_clips}; give a number of clips, or 0 for all of them.")
    for path in filter(None, (args.model, args.baseline, args.f16)):
        read_ggml(path)  # a bad file is named before the dataset is read
    language, languages = decoding_languages(args.model, args.language, args.languages)
    decoding = Decoding(beam_size=1 if args.greedy else FUTO_BEAM_SIZE, glossary=tuple(args.glossary))
    f16 = args.f16 or f16_sibling(args.model)
    require_extra("verify")  # before the dataset, which would name only the 'data' part of it
    clips = load_clips(args)  # acft's loader: numpy and soundfile only, no torch
    engines = choose_engines(args.engine, print)
    print(f"{args.dataset}: {clips.summary()}")
    samples = clips.clips
    if not args.as_recorded:
        samples = as_the_phone_records(samples, 1.0, 0, args.max_audio_length)
        print(f"each clip laid out as the phone records it: its silence made up to {FUTO_LEAD_SECONDS} s before"
              f" the speech and {FUTO_TAIL_SECONDS:.2f} s after")
    if f16:
        print(f"comparing with the f16 file {f16}")
    bars: list[tqdm] = []  # opened at the first transcription, so a model whisper.cpp refuses prints no bar

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="clip", desc="transcribing"))
        bars[0].update(done - bars[0].n)

    try:
        result = verify(args.model, samples, baseline=args.baseline, f16=f16, language=language,
                        threads=args.threads, progress=progress, decoding=decoding, engines=engines,
                        languages=languages)
    finally:
        for bar in bars:
            bar.close()
    print(result.table())
    print(result.verdict)
    if args.json:
        write_bytes_atomic(args.json, result.to_json().encode())
    return 0 if result.ready else NOT_READY
