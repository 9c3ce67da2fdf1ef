"""ACFT training for real: OpenAI's tiny.en weights, espeak-ng clips, the CPU."""

import json
import os
import signal
import subprocess
import sys

import pytest
from fixtures.speech import make_speech_dataset

from wacft.acft.config import TrainConfig
from wacft.acft.events import CallbackSink
from wacft.acft.trainer import train
from wacft.convert.convert import convert, plan_outputs
from wacft.run_folder import CHECKPOINT
from wacft.verify.whispercpp import Clip, transcribe

pytestmark = pytest.mark.slow

SENTENCES = [
    "Hello world.",
    "Please call me back later.",
    "The meeting starts at noon.",
    "Open the window, please.",
    "I am going home now.",
    "What time is it?",
    "Send the file to Anna.",
    "Turn left at the next corner.",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_speech_dataset(tmp_path_factory.mktemp("speech"), SENTENCES, voices=["en-us", "en-gb"])


def config(tiny_en_dir, dataset, out, **overrides):
    settings = dict(model=str(tiny_en_dir), dataset=str(dataset), out=str(out), batch_size=4, lr=1e-5)
    return TrainConfig(**{**settings, **overrides})


def test_short_run_lowers_the_loss_and_the_result_runs_in_whisper_cpp(tiny_en_dir, dataset, tmp_path, speak):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    events = []
    out = train(config(tiny_en_dir, dataset, tmp_path / "run", epochs=4), CallbackSink(events.append))
    steps = [e for e in events if e["type"] == "step"]
    first, last = ([s["loss"] for s in steps if s["epoch"] == epoch] for epoch in (1, 4))
    assert sum(last) / len(last) < 0.8 * sum(first) / len(first)
    assert steps[-1]["step"] == steps[-1]["total_steps"] == 16
    assert "16 clips" in events[0]["message"]

    assert not (out / CHECKPOINT).exists()
    files = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "preprocessor_config.json",
            "tokenizer_config.json", "README.md", "training_config.json"} <= files
    assert f"final loss: {steps[-1]['loss']:.6g}" in (out / "README.md").read_text()
    WhisperProcessor.from_pretrained(out)
    assert WhisperForConditionalGeneration.from_pretrained(out).dtype.is_floating_point

    [result] = convert(str(out), plan_outputs(tmp_path / "acft.bin", ["q8_0"]))
    [heard] = transcribe(result.path, [Clip(speak("Please call me back later."), audio_ctx=200)])
    assert heard.text.lower().startswith("please call me")


def test_kill_then_resume_in_a_real_process(tiny_en_dir, dataset, tmp_path):
    """`python -m wacft.acft` killed with SIGKILL after a checkpoint loses only what followed it."""
    settings = tmp_path / "run.json"
    run = config(tiny_en_dir, dataset, tmp_path / "out", epochs=1, checkpoint_every=1)
    settings.write_text(run.to_json())
    command = [sys.executable, "-m", "wacft.acft", "--config", str(settings)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        event = json.loads(line)
        if event["type"] == "checkpoint" and event["step"] == 2:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    rerun = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    events = [json.loads(line) for line in rerun.stdout.splitlines()]
    steps = [e["step"] for e in events if e["type"] == "step"]
    assert rerun.returncode == 0, rerun.stdout[-500:]
    assert steps == [3, 4] or steps == [4]  # at most the step in flight when killed is done again
    assert events[-1]["type"] == "done" and (tmp_path / "out" / "model.safetensors").is_file()
