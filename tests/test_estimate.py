"""The estimate before launch: real registry files in a temporary WACFT_HOME, real arithmetic."""

import json
import time

import pytest

from wacft.acft.config import TrainConfig
from wacft.acft.estimate import BF16_PEAK, FP32_PEAK, RANGE, STARTUP_SECONDS, Dims, duration, estimate, model_dims
from wacft.acft.runs import RunRecord
from wacft.errors import WacftError
from wacft.facts import GPUS

TINY = "openai/whisper-tiny.en"


pytestmark = pytest.mark.usefixtures("wacft_home")


def config(**changes) -> TrainConfig:
    return TrainConfig(model=changes.pop("model", TINY), dataset="clips", out="run", **changes)


def steps(count: int, seconds_per_step: float, clips: int = 8, length: float = 2.0, start: float = 1e9,
          stage: str = "acft", epoch: int = 2) -> list[dict]:
    """Step events as the trainer writes them (JSON lines stamped with their time)."""
    return [{"time": start + i * seconds_per_step, "type": "step", "stage": stage, "step": i + 1, "epoch": epoch,
             "context": 100, "clips": clips * (i + 1), "audio_seconds": clips * length * (i + 1)}
            for i in range(count)]


def record(run_id: str, events: list[dict], tmp_path, model: str = TINY, gpu: str | None = None,
           created: float | None = None) -> RunRecord:
    path = tmp_path / f"{run_id}.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    backend = "modal" if gpu else "local"
    return RunRecord(run_id, backend, {"model": model, "out": str(tmp_path)}, status="done", gpu=gpu,
                     events=str(path), created=created or time.time()).save()


def test_the_prior_says_so_and_costs_gpu_time_and_its_container_at_modals_price():
    e = estimate(config(), 1000, 5000.0, "A100-40GB")
    assert not e.measured
    assert "rough prior, not measured" in e.describe() and "30% of the A100-40GB's bf16 peak" in e.describe()
    # the GPU ($0.000583/s), 4 cores ($0.0000131/s each) and 16 GiB ($0.00000222/s each)
    assert e.cost == pytest.approx(e.seconds * (0.000583 + 4 * 0.0000131 + 16 * 0.00000222))
    assert f"${e.cost:.2f}" in e.describe() and "$2.42/h: the GPU, and the container's 4 cores and 16 GiB" \
        in e.describe()


def test_a_local_run_has_a_time_and_no_cost():
    e = estimate(config(), 100, 300.0, None)
    assert e.cost is None and "$" not in e.describe() and "on this machine" in e.describe()


def test_doubling_epochs_doubles_the_time():
    # the published loop recomputes the reference every step, so every epoch costs the same
    one = estimate(config(epochs=4, exact_reference=True, finetune_epochs=2), 400, 1200.0, "A100-40GB")
    two = estimate(config(epochs=8, exact_reference=True, finetune_epochs=4), 400, 1200.0, "A100-40GB")
    assert two.stage("acft") == pytest.approx(2 * one.stage("acft"))
    assert two.stage("finetune") == pytest.approx(2 * one.stage("finetune"))
    start = STARTUP_SECONDS["modal"]
    assert two.seconds - start == pytest.approx(2 * (one.seconds - start))
    assert two.cost > one.cost


def test_the_cached_reference_is_paid_once_so_epochs_add_a_constant():
    times = [estimate(config(epochs=e), 200, 800.0, None).stage("acft") for e in (4, 8, 12)]
    assert times[2] - times[1] == pytest.approx(times[1] - times[0])
    assert times[1] < 2 * times[0]  # the first epoch also runs the frozen reference


def test_twice_the_data_takes_twice_as_long():
    small, large = (estimate(config(), n, 3.0 * n, "H100") for n in (512, 1024))
    assert large.stage("acft") == pytest.approx(2 * small.stage("acft"))


def test_stage_one_costs_more_than_acft_and_a_frozen_encoder_less():
    two_stage = estimate(config(epochs=4, finetune_epochs=4), 500, 1500.0, None)
    frozen = estimate(config(epochs=4, finetune_epochs=4, freeze_encoder=True), 500, 1500.0, None)
    joint = estimate(config(epochs=4, finetune_epochs=4, objective="joint"), 500, 1500.0, None)
    assert two_stage.stage("finetune") > two_stage.stage("acft")  # 30 s of context for every clip
    assert frozen.stage("finetune") < two_stage.stage("finetune")
    assert [name for name, _ in joint.stages] == ["joint", "acft"]
    assert estimate(config(epochs=4), 500, 1500.0, None).seconds < two_stage.seconds


def test_faster_gpus_take_less_time_and_the_80gb_a100_costs_more():
    big = config(model="openai/whisper-medium.en", finetune_epochs=2)
    a100, a100_80, h100 = (estimate(big, 5000, 40000.0, gpu) for gpu in ("A100-40GB", "A100-80GB", "H100"))
    assert h100.seconds < a100.seconds == a100_80.seconds
    assert a100_80.cost > a100.cost


def test_a_measured_run_wins_over_the_prior_and_its_speed_sets_the_time(tmp_path):
    prior = estimate(config(), 400, 800.0, None)
    record("20261120-slow", steps(20, 0.5), tmp_path, created=1000)
    slow = estimate(config(), 400, 800.0, None)
    assert slow.measured and slow.describe().endswith(
        "from your run 20261120-slow (this machine, 16 clips/s), scaled to this run by a compute model.")
    assert slow.stage("acft") != pytest.approx(prior.stage("acft"))
    record("20261121-fast", steps(20, 0.25), tmp_path, created=2000)  # the newest run is the one used
    fast = estimate(config(), 400, 800.0, None)
    assert "20261121-fast (this machine, 32 clips/s)" in fast.source
    assert fast.stage("acft") == pytest.approx(slow.stage("acft") / 2)


def test_only_runs_of_the_same_size_on_the_same_gpu_count(tmp_path):
    base = "openai/whisper-base.en"
    record("20261122-base-a100", steps(10, 0.1), tmp_path, model=base, gpu="A100-40GB")
    assert not estimate(config(), 400, 800.0, "A100-40GB").measured  # another size
    assert not estimate(config(model=base), 400, 800.0, "H100").measured  # another GPU
    assert not estimate(config(model=base), 400, 800.0, None).measured  # not this machine
    measured = estimate(config(model=base), 400, 800.0, "A100-40GB")
    assert measured.measured and "(A100-40GB, 80 clips/s)" in measured.source


def test_gaps_between_processes_and_short_runs_are_not_speed(tmp_path):
    events = steps(4, 1.0)
    resumed = steps(4, 1.0, start=events[-1]["time"] + 600)  # ten minutes later, after a resume
    for i, e in enumerate(resumed):
        e.update(step=5 + i, clips=8 * (5 + i), audio_seconds=16.0 * (5 + i))
    log = {"time": resumed[0]["time"] - 1, "type": "log", "message": "resuming acft at epoch 2, step 4"}
    record("20261123-resumed", events + [log] + resumed, tmp_path)
    assert "(this machine, 8 clips/s)" in estimate(config(), 400, 800.0, None).source
    RunRecord("20261123-resumed", "local", {}).path.unlink()
    record("20261124-short", steps(3, 1.0), tmp_path)  # two timed steps: start-up, not speed
    assert not estimate(config(), 400, 800.0, None).measured


def test_model_size_from_its_config_or_its_name(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"d_model": 256, "encoder_layers": 2, "decoder_layers": 3, "encoder_ffn_dim": 1024, "num_mel_bins": 80,
         "vocab_size": 51864}))
    assert model_dims(str(tmp_path)) == Dims(256, 2, 3, 1024, 80, 51864)
    assert model_dims("openai/whisper-base.en").size == (512, 6, 6)
    assert model_dims("openai/whisper-large-v3-turbo") == Dims(1280, 32, 4, 5120, 128, 51866)
    with pytest.raises(WacftError, match="cannot be told"):
        model_dims(str(tmp_path / "nothing"))


def test_bad_input_is_one_sentence():
    with pytest.raises(WacftError, match=r"^T4 is not a GPU wacft runs on; pick one of A100-40GB, A100-80GB, H100\.$"):
        estimate(config(), 10, 30.0, "T4")
    with pytest.raises(WacftError, match="no clips"):
        estimate(config(), 0, 0.0, None)


def test_the_compute_model_knows_every_gpu_wacft_offers():
    assert set(BF16_PEAK) == set(FP32_PEAK) == set(GPUS)


def test_the_estimate_says_its_range():
    """Before launch the person sees how far off it may be: wider for the prior than for a measured speed."""
    e = estimate(config(), 400, 800.0, None)
    low, high = RANGE[False]
    assert f"({duration(e.seconds * low)} to {duration(e.seconds * high)})" in e.describe()
    assert RANGE[True][0] > low and RANGE[True][1] < high
