"""What the ACFT bench measures at a person's scale: its dataset (spoken once, cached under what made it) and the
steady state it reads from a run's events (the first epoch left out, the phases' shares of the span)."""

import csv
import sys
from pathlib import Path

import pytest
from fixtures.user_scale import SECONDS, key, plan, user_scale_dataset

from wacft.acft.estimate import Dims, step_work

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from steady import Timeline  # (the bench folder is no package)


def test_the_dataset_is_spoken_once_within_its_lengths_and_cached_by_what_made_it(tmp_path, monkeypatch):
    import soundfile

    monkeypatch.setenv("WACFT_TEST_CACHE", str(tmp_path))
    folder = user_scale_dataset(24, seed=3)
    with open(folder / "metadata.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    lengths = [soundfile.info(folder / row["file_name"]).duration for row in rows]
    assert len(rows) == 24 and all(SECONDS[0] <= s <= SECONDS[1] for s in lengths)
    assert len({row["text"] for row in rows}) == 24 and max(lengths) > 3 * min(lengths)  # lengths spread
    stamp = (folder / "clip00000.wav").stat().st_mtime_ns
    assert user_scale_dataset(24, seed=3) == folder and (folder / "clip00000.wav").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no half-made folder beside it
    assert key(24, 3) != key(24, 4) and key(24, 3) != key(25, 3)
    assert plan(30, 3)[:24] == plan(24, 3)  # a smaller set is the start of a larger one


def events(epochs=3, steps_per_epoch=4):
    """A run's events as the trainer sends them: steps, a checkpoint at each epoch's end with the phases' sums."""
    timeline, clock, sums, step = Timeline(), 0.0, {"checkpoint": 0.0, "data": 0.0, "eval": 0.0}, 0
    for epoch in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            step += 1
            clock += 10.0 if epoch == 1 else 1.0  # the first epoch is slow (start-up), the rest steady
            sums["data"] += 0.1
            timeline.cpu.append(clock / 2)  # half the wall clock: a machine shared with other work
            timeline.events.append((clock, {"type": "step", "step": step, "epoch": epoch, "clips": 8 * step,
                                            "audio_seconds": 40.0 * step, "context": 300, "stage": "acft"}))
        clock += 0.5
        sums["checkpoint"] += 0.5
        timeline.cpu.append(clock / 2)
        timeline.events.append((clock, {"type": "checkpoint", "step": step, "phases": dict(sums)}))
    return timeline


def test_the_steady_state_leaves_the_first_epoch_out_and_counts_what_lies_between():
    dims = Dims(384, 4, 4, 1536)
    steady = events().steady(dims, {})
    assert steady.seconds == pytest.approx(2 * (4 * 1.0 + 0.5))  # epochs 2 and 3, each with its checkpoint
    assert steady.cpu_seconds == pytest.approx(steady.seconds / 2)
    assert steady.clips == 64 and steady.audio_seconds == 320
    assert steady.share("checkpoint") == pytest.approx(1.0 / 9) and steady.share("data") == pytest.approx(0.8 / 9)
    one = step_work(dims, {"clips": 8, "audio_seconds": 40.0, "context": 300, "stage": "acft", "epoch": 2},
                    {"clips": 0, "audio_seconds": 0.0}, {})
    assert steady.flops == pytest.approx(8 * one)  # no reference pass after the first epoch: the cache has it
    exact = events().steady(dims, {"exact_reference": True})
    assert exact.flops > steady.flops  # the published loop runs the reference at every step
    with pytest.raises(ValueError, match="--epochs 2"):
        events(epochs=1).steady(dims, {})
