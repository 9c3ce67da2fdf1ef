"""How far the figures test_verify checks move from one training run to another: tiny.en trained as that test's
model is (`wacft train`'s defaults on tests/fixtures/acft_run.py's clips) with several seeds, each verified in
whisper.cpp on the test's clips at full, dynamic and FUTO context beside the base model, and on the real recorded
words (tests/fixtures/real_words.py) in the phone's whisper.cpp. The test's bounds (FULL_CONTEXT_DRIFT, WORDS_DRIFT,
WORDS_RUNAWAYS) come from these figures.

    .venv/bin/python bench/bench_verify_seeds.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixtures import acft_run
from fixtures.real_words import real_words_dataset
from fixtures.speech import make_speech_dataset
from fixtures.tiny_en import tiny_en_dir
from test_verify import SENTENCES, VOICES, read_dataset

from wacft.convert.convert import convert, plan_outputs
from wacft.verify.check import CONTEXTS, verify
from wacft.verify.phone_engine import phone_engine


def row(name: str, check, on_words, seconds: str = "-") -> str:
    def cells(result) -> str:
        return " | ".join(f"{result.contexts[c].wer:.1%} / {result.contexts[c].runaways}" for c in CONTEXTS)

    ready = "yes" if check.ready else "no"
    return f"| {name} | {seconds} | {cells(check.model)} | {ready} | {cells(on_words.model)} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="whisper.cpp threads")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-verify-seeds-"))
    model = tiny_en_dir()
    samples = read_dataset(make_speech_dataset(tmp / "test", SENTENCES, voices=VOICES))
    words, phone = read_dataset(real_words_dataset()), [phone_engine()]
    training = make_speech_dataset(tmp / "train", acft_run.SENTENCES, voices=acft_run.VOICES)
    [base_bin] = convert(str(model), plan_outputs(tmp / "base.bin", ["f16"]))
    heads = [f"WER / runaways {c}" for c in CONTEXTS]
    print("| model | train s | " + " | ".join(heads) + " | ready | real words: " + " | ".join(heads) + " |")
    print("|---|---|" + "---|" * (2 * len(CONTEXTS) + 1))
    base = verify(base_bin.path, samples, threads=args.threads, contexts=CONTEXTS)
    on_words = verify(base_bin.path, words, threads=args.threads, engines=phone, contexts=CONTEXTS)
    print(row("base tiny.en", base, on_words), flush=True)
    for seed in args.seeds:
        started = time.time()
        out = tmp / f"run{seed}"
        acft_run.train_run(model, training, out, seed)
        took = f"{time.time() - started:.0f}"
        [trained] = convert(str(out), plan_outputs(tmp / f"seed{seed}.bin", ["f16"]))
        check = verify(trained.path, samples, threads=args.threads, contexts=CONTEXTS)
        check.baseline = base.model  # the verdict the test checks, beside the base model
        on_words = verify(trained.path, words, threads=args.threads, engines=phone, contexts=CONTEXTS)
        print(row(f"ACFT, seed {seed}", check, on_words, took), flush=True)


if __name__ == "__main__":
    main()
