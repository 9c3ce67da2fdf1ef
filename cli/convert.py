"""`wacft convert` and `wacft inspect`."""

from __future__ import annotations

import argparse

from wacft.services.outputs import CONVERSION_TYPES, DEFAULT_TYPES


def register(steps: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = steps.add_parser("convert", help="convert a Hugging Face Whisper model to whisper.cpp .bin file(s)")
    p.add_argument("model", help="local model folder or Hugging Face hub id (e.g. openai/whisper-base.en)")
    p.add_argument("--out", required=True, metavar="FILE.bin",
                   help="output file name: each --type is written beside it as FILE_<type>.bin"
                        " (FILE_q8_0.bin for --out FILE.bin or FILE_q8_0.bin)")
    p.add_argument("--type", dest="types", action="append", choices=CONVERSION_TYPES,
                   help=f"output type; repeat for several files in one pass (default: {', '.join(DEFAULT_TYPES)}, as"
                        " the wizard and a Modal run make)")
    p.add_argument("--force", action="store_true", help="replace output files that already exist")
    p.set_defaults(func=run_convert)

    p = steps.add_parser("inspect", help="show what a whisper.cpp .bin holds")
    p.add_argument("file", metavar="FILE.bin", help="the whisper.cpp model file")
    p.set_defaults(func=run_inspect)


def run_convert(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from wacft.services.outputs import convert, plan_outputs

    outputs = plan_outputs(args.out, args.types or list(DEFAULT_TYPES))
    bars: list[tqdm] = []  # opened at the first progress report, so a refused input prints no bar

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="B", unit_scale=True, desc="converting"))
        bars[0].update(done - bars[0].n)

    try:
        results = convert(args.model, outputs, force=args.force, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    for r in results:
        print(f"{r.path}  {r.file_type.name}  {r.size / 1e6:.1f} MB  sha256 {r.sha256}")


def run_inspect(args: argparse.Namespace) -> None:
    from collections import Counter

    from wacft.services.outputs import check_finite, read_ggml

    model = read_ggml(args.file)
    h = model.hparams
    print(f"{model.path}: {model.size / 1e6:.1f} MB, {model.file_type.name} (ftype {h.ftype}),"
          f" {'multilingual' if h.multilingual else 'English-only'}")
    print(f"  audio: {h.n_audio_layer} layers, width {h.n_audio_state}, {h.n_audio_head} heads,"
          f" context {h.n_audio_ctx}, {h.n_mels} mel bins")
    print(f"  text:  {h.n_text_layer} layers, width {h.n_text_state}, {h.n_text_head} heads,"
          f" context {h.n_text_ctx}, vocabulary {h.n_vocab} ({model.n_tokens} byte-level tokens stored)")
    types = Counter(t.type.name.lower() for t in model.tensors)
    print(f"  {len(model.tensors)} tensors: " + ", ".join(f"{n} {name}" for name, n in types.most_common()))
    check_finite(model)  # described, then refused: whisper.cpp would load it and write garbage
