"""The clips a run sets aside for `wacft verify`: a rule from 15 clips to thousands, fixed by the seed, kept in
the run record, and found again in the dataset."""

import json
from pathlib import Path

import pytest

from wacft.acft import held_out
from wacft.acft.backends import absorb
from wacft.acft.runs import RunRecord
from wacft.dataset.clips import Clip
from wacft.errors import WacftError


def clips(n):
    return [Clip(Path(f"clip{i}.wav"), f"sentence {i}", 2.0) for i in range(n)]


@pytest.mark.parametrize("n, held", [(0, 0), (14, 0), (15, 3), (27, 5), (100, 20), (250, 50), (5000, 50)])
def test_a_fifth_is_held_out_from_15_clips_on_and_never_more_than_50(n, held):
    assert held_out.held_out_count(n) == held


def test_the_slice_is_fixed_by_the_seed_and_training_never_sees_it():
    data = clips(40)
    train, slice_ = held_out.set_aside(data, seed=0)
    again, same = held_out.set_aside(data, seed=0)
    assert slice_ == same and train == again
    held = [c["text"] for c in slice_["clips"]]
    assert len(held) == 8 and not set(held) & {c.text for c in train} and len(train) == 32
    assert slice_["clips"][0].keys() == {"index", "file", "text"} and slice_["of"] == 40
    assert held_out.set_aside(data, seed=1)[1] != slice_
    assert [c.text for c in held_out.pick(data, slice_, "d")] == held


def test_the_slice_is_kept_in_the_run_record_and_beside_the_model(tmp_path):
    _, slice_ = held_out.set_aside(clips(20), seed=0)
    record = RunRecord("r", "local", {})
    absorb(record, {"type": "held_out", **slice_})
    assert record.held_out == slice_
    held_out.write(tmp_path, slice_)
    assert held_out.read(tmp_path) == slice_ and held_out.read(tmp_path / "none") is None


def test_a_dataset_that_changed_since_the_run_is_said_in_one_sentence():
    _, slice_ = held_out.set_aside(clips(20), seed=0)
    changed = clips(20)
    changed[slice_["clips"][0]["index"]].text = "something else"
    for data in (changed, clips(21)):
        with pytest.raises(WacftError, match="has changed since the run set its held-out clips aside"):
            held_out.pick(data, slice_, "my-folder")


@pytest.fixture
def run_folder(speech_dataset, tmp_path):
    """A run's folder as training leaves it: its settings and the held-out slice of a 16-clip dataset."""
    from wacft.acft.config import TrainConfig
    from wacft.dataset.clips import load_clips

    dataset = speech_dataset(["Good morning.", "See you soon.", "What time is it?", "No thanks.", "Sure.",
                              "Call me later.", "Turn left here.", "Thanks a lot."])
    config = TrainConfig(model="openai/whisper-tiny.en", dataset=str(dataset), out=str(tmp_path / "run"))
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "training_config.json").write_text(config.to_json())
    _, slice_ = held_out.set_aside(load_clips(config.dataset_spec).clips, seed=0)
    held_out.write(folder, slice_)
    return folder, slice_


def test_verify_finds_a_runs_held_out_clips_by_its_folder_or_its_id(run_folder, wacft_home):
    from wacft.services.verify import find_run, run_clips, run_of

    folder, slice_ = run_folder
    run = find_run(str(folder))
    clips, note = run_clips(run)
    assert [c.text for c in clips] == [c["text"] for c in slice_["clips"]] and len(clips) == 3
    assert note == "Measured on 3 clips the run held out: training never saw them."
    assert run.config.model == "openai/whisper-tiny.en" and run_of(folder / "model_q5_0.bin").slice == slice_
    record = RunRecord("20261207-run", "local", json.loads((folder / "training_config.json").read_text()))
    record.held_out = slice_
    record.save()
    clips, note = run_clips(find_run(record.id), limit=2)
    assert len(clips) == 2 and note == "Measured on 2 clips the run held out: training never saw them."


def test_verify_says_when_its_clips_are_ones_the_model_trained_on(run_folder):
    from wacft.services.verify import find_run, run_clips

    folder, slice_ = run_folder
    held_out.write(folder, {"of": slice_["of"], "clips": []})
    clips, note = run_clips(find_run(str(folder)))
    assert len(clips) == 16 and note == ("Measured on clips the model trained on (the dataset had too few clips to hold"
                                         " any out): its figures flatter it.")
    (folder / held_out.FILE).unlink()
    assert "(the run held none out)" in run_clips(find_run(str(folder)))[1]


def test_a_folder_that_is_no_run_is_said_in_one_sentence(tmp_path, wacft_home):
    from wacft.services.verify import find_run

    with pytest.raises(WacftError, match=f"^{tmp_path} is not a run's folder .*give a run id from `wacft runs`"):
        find_run(str(tmp_path))
    with pytest.raises(WacftError, match="There is no run 2026-nope"):
        find_run("2026-nope")
