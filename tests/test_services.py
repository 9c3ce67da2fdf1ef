"""The service layer that the CLI and the wizard share: one settings builder with TrainConfig's defaults, one
default output folder."""

from dataclasses import fields

import pytest

from wacft.acft.config import TrainConfig
from wacft.cli import build_parser
from wacft.errors import WacftError
from wacft.paths import runs_dir
from wacft.services.settings import default, train_settings
from wacft.tui.session import Session

pytestmark = pytest.mark.usefixtures("wacft_home")


def cli_settings(*flags: str) -> TrainConfig:
    return train_settings(vars(build_parser().parse_args(["train", "--model", "m", "--dataset", "d", *flags])))


def test_the_cli_and_the_wizard_build_the_same_run_with_trainconfigs_defaults():
    """Every setting the person leaves alone is TrainConfig's default, whoever builds the run."""
    wizard = Session(model="m", dataset="d").settings()
    assert wizard == cli_settings() == train_settings({"model": "m", "dataset": "d"})
    for f in fields(TrainConfig):
        if f.name not in ("model", "dataset", "out"):
            assert getattr(wizard, f.name) == default(f.name), f.name
    # what the wizard has no field for is carried through at its default, never dropped
    assert (wizard.spec_augment, wizard.eval_split, wizard.exact_reference) == (False, None, False)


def test_empty_or_missing_options_take_the_default_and_others_are_left_out():
    config = train_settings({"model": "m", "dataset": "d", "language": "", "eval_split": None, "epochs": 0,
                             "freeze_encoder": False, "step": "train", "where": "modal"})
    assert (config.language, config.eval_split, config.epochs) == (None, None, 0)  # 0 is given, not empty
    assert train_settings({"model": "m", "dataset": ""}).dataset == ""  # left for acft.validate to name


def test_the_wizards_settings_reach_the_run():
    session = Session(model="m", dataset="d", epochs=3, finetune_epochs=2, objective="joint", audio_column="clip",
                      push_to="", out="/tmp/mine")
    config = session.settings()
    assert (config.epochs, config.finetune_epochs, config.objective, config.audio_column) == (3, 2, "joint", "clip")
    assert (config.push_to, config.out) == (None, "/tmp/mine")
    assert cli_settings("--spec-augment", "--eval-split", "validation", "--exact-reference").spec_augment


def test_one_default_output_folder_named_for_the_model_for_the_cli_and_the_wizard():
    wizard = Session(model="openai/whisper-tiny.en", dataset="d").settings()
    cli = train_settings(vars(build_parser().parse_args(["train", "--model", "openai/whisper-tiny.en",
                                                         "--dataset", "d"])))
    assert wizard.out == cli.out == str(runs_dir() / "whisper-tiny.en")
    (runs_dir() / "whisper-tiny.en").mkdir(parents=True)  # an earlier run's
    assert cli_settings().out == str(runs_dir() / "m")
    assert Session(model="openai/whisper-tiny.en", dataset="d").settings().out == str(runs_dir() / "whisper-tiny.en-2")


# --- backends ---------------------------------------------------------------------------------------------


def test_both_backends_launch_alike_and_the_services_pick_them():
    import inspect

    from wacft.acft.backends import Backend, LocalBackend
    from wacft.acft.modal_backend import ModalBackend
    from wacft.services import runs

    for method in ("launch", "watch", "cancel", "resume", "fetch"):
        assert callable(getattr(LocalBackend, method)) and callable(getattr(ModalBackend, method)), method
    assert inspect.signature(LocalBackend.launch) == inspect.signature(ModalBackend.launch) == inspect.signature(
        Backend.launch)
    assert isinstance(runs.backend("local"), LocalBackend)
    modal = runs.backend("modal", "H100", ["q5_0"], 0.5)
    assert (modal.gpu, modal.convert_types, modal.max_hours) == ("H100", ["q5_0"], 0.5)
    with pytest.raises(WacftError, match="one of local, modal, not elsewhere"):
        runs.backend("elsewhere")


@pytest.mark.parametrize("hours", [0, -1, 25, float("nan")])
def test_a_modal_time_limit_is_checked_by_the_one_rule(hours):
    from wacft.acft.validate import problem
    from wacft.services import runs

    with pytest.raises(WacftError, match=r"--max-hours is .*; it must be a number in \(0, 24\]"):
        runs.backend("modal", max_hours=hours)
    assert problem("max_hours", str(hours)) is not None and problem("max_hours", "") is None


def test_what_a_run_cannot_do_is_one_sentence(tmp_path):
    from wacft.acft.runs import RunRecord
    from wacft.services import runs

    running = RunRecord("r-running", "local", {"model": "m", "out": str(tmp_path)}, status="running").save()
    done = RunRecord("r-done", "local", {"model": "m", "out": str(tmp_path)}, status="done").save()
    early = RunRecord("r-early", "local", {"model": "m", "out": str(tmp_path)}, status="cancelled").save()
    with pytest.raises(WacftError, match="Only a cancelled or failed run can be resumed; this one is running"):
        runs.resume(running)
    with pytest.raises(WacftError, match="Run r-done is done; only a running run can be cancelled"):
        runs.cancel(done)
    with pytest.raises(WacftError, match=f"ran locally; its model is already in {tmp_path}"):
        runs.fetch(done, tmp_path / "here")
    with pytest.raises(WacftError, match="Run r-early stopped before its first checkpoint, so there is nothing to"):
        runs.resume(early)


def test_the_spend_says_the_estimate_and_the_most_the_budget_can_cost():
    from wacft.acft.estimate import estimate
    from wacft.services import runs

    config = train_settings({"model": "openai/whisper-tiny.en", "dataset": "d"})
    said = runs.spend(config, "A100-40GB", 0.5, clips=400, seconds=1200.0)
    # 0.5 h of the A100-40GB ($0.000583/s) and its container (4 cores, 16 GiB: $0.0000879/s)
    assert said == estimate(config, 400, 1200.0, "A100-40GB").describe() + (
        "\nIts budget is 0.5 h of GPU time: it stops there, keeping its checkpoint, so it costs at most $1.21"
        " however often Modal restarts its container.")
    assert "Its budget is 24 h of GPU time (--max-hours sets less)" in runs.spend(config, "H100", None, 400, 1200.0)
    assert "at most $102.38" in runs.spend(config, "H100", None, 400, 1200.0)  # 24 h at $4.27/h


# --- conversion outputs -----------------------------------------------------------------------------------


def test_a_conversion_is_named_beside_the_trained_model_or_in_the_runs_folder(tmp_path):
    from wacft.services.outputs import default_file

    trained = tmp_path / "whisper-base.en-2"
    trained.mkdir()
    assert default_file(str(trained), str(trained)) == trained / "whisper_base_en_2.bin"
    assert default_file("/vol/runs/r1", "/vol/runs/r1", str(tmp_path / "mine")) == tmp_path / "mine" / "r1.bin"
    assert default_file("openai/whisper-tiny.en") == runs_dir() / "converted" / "whisper_tiny_en.bin"
