"""Issue 33's "done when", for real: tiny.en trained by `wacft train` as it comes on 40 espeak-ng clips, which sets
8 of them aside; `wacft verify --run` judges the trained file on those 8 in the phone's whisper.cpp against the base
tiny.en (converted once to the same type, its results cached), and a model that lost accuracy is judged not ready."""

import json
import shutil

import numpy as np
import pytest

from wacft.acft import held_out
from wacft.acft.config import TrainConfig
from wacft.acft.events import CallbackSink
from wacft.cli import main
from wacft.convert.convert import convert, plan_outputs
from wacft.convert.verdict import NOT_READY, READY, WORSE

SENTENCES = [
    "The weather is nice today.", "Please send me the report.", "We should meet at the station tomorrow.",
    "Call my mother this evening.", "Where is the nearest pharmacy?", "I would like a cup of coffee.",
    "The train leaves at nine.", "Can you help me with this?", "Good morning, everyone.", "Let us go for a walk.",
    "Sure.", "Okay, see you later.", "What time is it?", "Please call me back later.", "Thanks, that works for me.",
    "No thanks.", "Turn left at the next corner.", "The meeting moved to Thursday.", "Bring an umbrella.",
    "I will be there in ten minutes.",
]
VOICES = ("en-us", "en-gb")
HELD = 8  # a fifth of 40


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WACFT_HOME", str(tmp_path_factory.mktemp("home")))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def trained(home, tiny_en_dir, speech_dataset, tmp_path_factory):
    """The run's folder, its q5_0 file (as the wizard converts it, beside the model) and its events."""
    from wacft.acft.trainer import train

    dataset = speech_dataset(SENTENCES, voices=VOICES)
    out = tmp_path_factory.mktemp("acft") / "run"
    events = []
    train(TrainConfig(model=str(tiny_en_dir), dataset=str(dataset), out=str(out)), CallbackSink(events.append))
    [result] = convert(str(out), plan_outputs(out / "tiny_en_acft_q5_0.bin", ["q5_0"]))
    return out, result.path, events


def verify_run(model, run, tmp_path, capsys, *more):
    report = tmp_path / "report.json"
    code = main(["verify", str(model), "--run", str(run), "--threads", "2", "--json", str(report), *more])
    said = capsys.readouterr()
    assert report.is_file(), said.err
    return code, said.out, json.loads(report.read_text())


def test_training_never_sees_the_held_out_clips_and_verify_judges_the_model_ready_on_them(trained, phone_engine,
                                                                                            tmp_path, capsys):
    out, model, events = trained
    [slice_] = [{k: e[k] for k in ("of", "clips")} for e in events if e["type"] == "held_out"]
    assert slice_["of"] == 2 * len(SENTENCES) and len(slice_["clips"]) == HELD
    assert held_out.read(out) == slice_
    assert any(e["type"] == "log" and f"{HELD} clips set aside" in e["message"] for e in events)
    code, said, data = verify_run(model, out, tmp_path, capsys)
    print(said)
    assert f"Measured on {HELD} clips the run held out: training never saw them." in said
    assert [c["reference"] for c in data["model"]["clips"]] == [c["text"] for c in slice_["clips"]]
    assert list(data["model"]["contexts"]) == ["full", "futo"]  # FUTO's context and the full one, no more
    assert "whisper.cpp 1.5.4" in data["model"]["engine"] and data["baseline"]["model"].endswith("_q5_0.bin")
    assert data["state"] == READY and code == 0, said
    again = verify_run(model, out, tmp_path, capsys)
    assert "cached results" in again[1] and again[2]["baseline"] == data["baseline"]


@pytest.fixture(scope="module")
def damaged(tiny_en_dir, tmp_path_factory):
    """tiny.en with noise in its decoder's feed-forward weights: a model that lost accuracy."""
    from safetensors.numpy import load_file, save_file

    folder = tmp_path_factory.mktemp("damaged") / "model"
    shutil.copytree(tiny_en_dir, folder)
    weights = load_file(str(folder / "model.safetensors"))
    rng = np.random.default_rng(0)
    for name, w in weights.items():
        if ".decoder.layers." in name and ".fc" in name and name.endswith("weight"):
            weights[name] = (w + rng.normal(0, 0.6 * w.std(), w.shape)).astype(w.dtype)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    [result] = convert(str(folder), plan_outputs(folder.parent / "damaged_q5_0.bin", ["q5_0"]))
    return result.path


def test_a_model_that_lost_accuracy_is_not_ready(trained, damaged, phone_engine, tmp_path, capsys):
    out, _, _ = trained
    code, said, data = verify_run(damaged, out, tmp_path, capsys)
    print(said)
    assert data["answers"][2]["outcome"] == WORSE and data["state"] == NOT_READY and code == 2, said
