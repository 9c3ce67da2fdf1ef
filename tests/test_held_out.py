"""The clips a run sets aside for `wacft verify`: a rule from 15 clips to thousands, fixed by the seed, kept in
the run record, and found again in the dataset."""

from pathlib import Path

import pytest

from wacft.acft import held_out
from wacft.acft.backends import absorb
from wacft.acft.data import Clip
from wacft.acft.runs import RunRecord
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
