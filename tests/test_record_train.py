"""A recorded folder is a dataset `wacft train` takes: OpenAI's tiny.en learns from four clips kept the way
the record step keeps them (espeak-ng speech between room noise, trimmed at the speech), with the other voices
a recording trains beside, stage 1 then ACFT, one epoch each."""

import numpy as np
import pytest
import soundfile

from wacft.cli import main
from wacft.record.capture import trimmed
from wacft.record.folder import RecordingFolder
from wacft.record.prompts import propose

pytestmark = pytest.mark.slow

TERMS = ["GitHub", "Grafana"]


def test_tiny_en_trains_on_a_recorded_folder(tiny_en_dir, speak, tmp_path, capsys):
    folder = RecordingFolder(tmp_path / "mine")
    folder.start(TERMS, propose(TERMS, per_term=1, dictations=1, seed=1))
    noise = np.random.default_rng(0).normal(0, 1e-3, 8000).astype(np.float32)
    for prompt in folder.state.prompts:
        said, _ = soundfile.read(speak(prompt.text), dtype="float32")
        folder.keep(trimmed(np.concatenate([noise, said, noise]))[0], prompt.text)
    out = tmp_path / "run"
    assert main(["train", "--model", str(tiny_en_dir), "--dataset", str(folder.path), "--out", str(out),
                 "--epochs", "1", "--finetune-epochs", "1", "--batch-size", "2", "--device", "cpu"]) == 0
    printed = capsys.readouterr()
    assert "dataset: 4 clips" in printed.out + printed.err
    assert "36 clips of other voices (espeak-ng) mixed in" in printed.out + printed.err  # one voice: the default
    assert (out / "model.safetensors").is_file()
