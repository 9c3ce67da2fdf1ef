"""Each run its own: a default folder under the user data dir, one trainer per folder (a mark with its pid),
and a watcher that follows only the attempt it watches, never an earlier attempt's end in the same folder."""

import os
import subprocess
import sys

import pytest

from wacft.acft.backends import LocalBackend
from wacft.acft.config import TrainConfig
from wacft.acft.events import CallbackSink
from wacft.acft.outdir import training_into
from wacft.acft.trainer import train
from wacft.cli import main
from wacft.errors import WacftError
from wacft.paths import runs_dir
from wacft.run_folder import RUNNING

HOLD = "import sys, time; from pathlib import Path; from wacft.acft.outdir import training_into\n" \
       "with training_into(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(120)\n"


@pytest.fixture
def other_trainer(tmp_path):
    """Another process holding the run folder, as a trainer does while it runs."""
    out = tmp_path / "run"
    out.mkdir()
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    yield out, process
    process.kill()
    process.wait()


def test_a_second_trainer_in_the_same_folder_is_refused_and_a_dead_ones_mark_is_taken_over(other_trainer,
                                                                                           wacft_home):
    out, process = other_trainer
    refusal = (f"--out {out} is being trained into now (process {process.pid}); wait for that run, cancel it, or"
               " pick another --out.")
    config = TrainConfig(model="openai/whisper-tiny.en", dataset=str(out), out=str(out))
    events = []
    with pytest.raises(WacftError) as caught:
        train(config, CallbackSink(events.append))
    assert str(caught.value) == refusal and events[-1]["message"] == refusal
    with pytest.raises(WacftError, match="is being trained into now"):
        LocalBackend().launch(config)
    assert not list(runs_dir().glob("*.json"))  # refused before any record or process
    process.kill()
    process.wait()
    with training_into(out):  # its process is gone: the mark is stale
        assert (out / RUNNING).read_text().split()[1] == str(os.getpid())
    assert not (out / RUNNING).exists()


@pytest.mark.e2e
def test_a_launch_into_an_earlier_runs_folder_is_watched_on_its_own(random_whisper, tmp_path, wacft_home, speak):
    """Two runs that fail once started (a transcript longer than the decoder reads), one after the other, in one
    folder: the second's watcher sees the second's error only, not the first's replayed."""
    import shutil

    from fixtures.speech import write_metadata

    backend, out = LocalBackend(), tmp_path / "run"
    ends = []
    for name in ("first", "second"):
        data = tmp_path / name
        data.mkdir()
        shutil.copyfile(speak("Hello world.", voice="en-us"), data / f"{name}.wav")
        write_metadata(data, [(f"{name}.wav", "word " * 500)])
        record = backend.launch(TrainConfig(model=str(random_whisper()), dataset=str(data), out=str(out), epochs=1))
        events = []
        record = backend.watch(record, CallbackSink(events.append))
        ends.append((record.status, [e["type"] for e in events][-1], f"{name}.wav" in record.error))
    assert ends == [("failed", "error", True)] * 2
    assert len(list(out.glob("events-*.jsonl"))) == 2


def test_train_without_out_writes_into_a_folder_of_its_own(tmp_path, wacft_home, capsys):
    """The folder is named after the model (as the wizard's), under the user data dir; a start that fails leaves
    none behind."""
    model = tmp_path / "model"
    model.mkdir()  # no config.json: the run fails once it has made its folder
    assert main(["train", "--model", str(model), "--dataset", str(tmp_path)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    folder = line.removeprefix("training into ")
    assert folder == f"{runs_dir()}/model"
    assert not [p for p in runs_dir().glob("*") if p.is_dir()]
    assert main(["train", "--model", str(model), "--dataset", str(tmp_path), "--resume"]) == 1
    assert "give that folder with --out" in capsys.readouterr().err
