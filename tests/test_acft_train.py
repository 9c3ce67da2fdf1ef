"""ACFT training for real: OpenAI's tiny.en weights, espeak-ng clips, the CPU."""

import csv
import json
import os
import signal
import subprocess
import sys

import pytest
from fixtures.speech import make_speech_dataset

from wacft.acft.config import TrainConfig
from wacft.acft.context import jitter_band
from wacft.acft.events import CallbackSink
from wacft.acft.trainer import CHECKPOINT, train
from wacft.convert.convert import convert, plan_outputs
from wacft.convert.whispercpp import Clip, transcribe
from wacft.errors import WacftError

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
    settings = dict(model=str(tiny_en_dir), dataset=str(dataset), out=str(out), epochs=2, batch_size=4, lr=1e-5)
    return TrainConfig(**{**settings, **overrides})


class Recorder:
    def __init__(self, stop_at: int | None = None):
        self.events, self.stop_at = [], stop_at

    def __call__(self, event):
        self.events.append(event)
        if event["type"] == "step" and event["step"] == self.stop_at:
            raise KeyboardInterrupt  # Ctrl-C in the middle of a run

    def of(self, kind):
        return [e for e in self.events if e["type"] == kind]


def test_short_run_lowers_the_loss_and_the_result_runs_in_whisper_cpp(tiny_en_dir, dataset, tmp_path, speak):
    events = Recorder()
    out = train(config(tiny_en_dir, dataset, tmp_path / "run", epochs=4), CallbackSink(events))
    steps = events.of("step")
    per_epoch = {e: [s["loss"] for s in steps if s["epoch"] == e] for e in (1, 4)}
    assert sum(per_epoch[4]) / len(per_epoch[4]) < 0.8 * sum(per_epoch[1]) / len(per_epoch[1])
    assert steps[-1]["step"] == steps[-1]["total_steps"] and steps[-1]["audio_seconds"] > 0
    assert all(s["clips_per_second"] > 0 and s["eta_seconds"] >= 0 for s in steps)
    assert "16 clips" in events.of("log")[0]["message"]
    assert events.of("done")[0]["final_loss"] == steps[-1]["loss"]

    assert not (out / CHECKPOINT).exists()
    assert {"model.safetensors", "config.json", "generation_config.json", "README.md", "training_config.json"} <= {
        p.name for p in out.iterdir()
    }
    assert "final loss" in (out / "README.md").read_text()
    [result] = convert(str(out), plan_outputs(tmp_path / "acft.bin", ["q8_0"]))
    [heard] = transcribe(result.path, [Clip(speak("Please call me back later."), audio_ctx=200)])
    assert heard.text.lower().startswith("please call me")


def test_resume_continues_with_the_identical_next_step(tiny_en_dir, dataset, tmp_path):
    whole = Recorder()
    train(config(tiny_en_dir, dataset, tmp_path / "whole", checkpoint_every=2), CallbackSink(whole))

    cut = Recorder(stop_at=3)
    interrupted = config(tiny_en_dir, dataset, tmp_path / "cut", checkpoint_every=2)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, CallbackSink(cut))
    assert (tmp_path / "cut" / CHECKPOINT).is_dir()  # the step-2 checkpoint survived the interrupt
    with pytest.raises(WacftError, match="--resume"):
        train(interrupted, CallbackSink(Recorder()))
    resumed = Recorder()
    train(interrupted, CallbackSink(resumed), resume=True)

    after = [(s["step"], s["loss"]) for s in resumed.of("step")]
    expected = [(s["step"], s["loss"]) for s in whole.of("step") if s["step"] > 2]
    assert [step for step, _ in after] == [step for step, _ in expected]
    assert [loss for _, loss in after] == pytest.approx([loss for _, loss in expected], rel=1e-5)


def test_kill_then_resume_in_a_real_process(tiny_en_dir, dataset, tmp_path):
    """`python -m wacft.acft` killed with SIGKILL after its first checkpoint loses only what followed it."""
    settings = tmp_path / "run.json"
    settings.write_text(config(tiny_en_dir, dataset, tmp_path / "out", checkpoint_every=1).to_json())
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
    steps = [e for e in events if e["type"] == "step"]
    assert rerun.returncode == 0, rerun.stdout[-500:]
    assert steps[0]["step"] in (3, 4)  # at most the step in flight when killed is done again
    assert steps[-1]["step"] == steps[-1]["total_steps"]
    assert events[-1]["type"] == "done" and (tmp_path / "out" / "model.safetensors").is_file()


def test_exact_reference_mode_is_the_published_loop(tiny_en_dir, dataset, tmp_path):
    events = Recorder()
    train(config(tiny_en_dir, dataset, tmp_path / "exact", epochs=1, exact_reference=True), CallbackSink(events))
    steps = events.of("step")
    assert len(steps) == 16  # batch 1: one step per clip
    with open(dataset / "metadata.csv") as f:
        assert len(list(csv.DictReader(f))) == 16
    assert all(1 <= s["context"] <= 1500 for s in steps)
    assert len({s["context"] for s in steps}) > 4  # each clip draws its own jittered context
    assert jitter_band(1.0)[0] <= min(s["context"] for s in steps)


def test_dataset_without_a_text_column_names_its_columns(tiny_en_dir, dataset, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.csv").write_text("file_name,words\nclip.wav,hello\n")
    with pytest.raises(WacftError, match="its columns are file_name, words"):
        train(config(tiny_en_dir, broken, tmp_path / "out"), CallbackSink(Recorder()))


def test_skipped_clips_are_counted(tiny_en_dir, dataset, tmp_path):
    events = Recorder()
    train(config(tiny_en_dir, dataset, tmp_path / "out", epochs=1, max_audio_length=1.5), CallbackSink(events))
    message = events.of("log")[0]["message"]
    assert "skipped:" in message and "over 1.5 s" in message
