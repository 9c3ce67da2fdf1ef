"""Bad inputs and faults, as a careful user would try them: each one a sentence, an exit code, and nothing
left behind."""

from __future__ import annotations

import math

import pytest

from wacft.acft.config import TrainConfig
from wacft.acft.validate import RULES, check, problem
from wacft.cli import main
from wacft.errors import WacftError

# (setting, value as typed or given, words the sentence must hold); None: accepted
SETTINGS = [
    ("batch_size", 0, "--batch-size is 0; it must be a whole number of at least 1"),
    ("batch_size", "abc", "--batch-size is 'abc'"),
    ("batch_size", "3", None),
    ("full_context_share", 2, "--full-context-share is 2; it must be a number in [0, 1]"),
    ("full_context_share", 1.0, None),
    ("checkpoint_every", 0, "--checkpoint-every is 0; it must be a whole number of at least 1"),
    ("lr", -1.0, "--lr is -1.0; it must be a finite number above 0"),
    ("lr", math.nan, "--lr is nan"),
    ("lr", "1e-6", None),
    ("finetune_lr", None, None),
    ("finetune_lr", math.inf, "--finetune-lr is inf"),
    ("epochs", -1, "--epochs is -1; it must be a whole number of at least 0"),
    ("epochs", True, "--epochs is True"),
    ("eval_share", 1.0, "--eval-share is 1.0; it must be a number in (0, 1)"),
    ("eval_share", 0, "--eval-share is 0"),
    ("max_audio_length", 31.0, "--max-audio-length is 31.0; it must be a number in (0, 30]"),
    ("max_clips", 0, "--max-clips is 0"),
    ("max_clips", "", None),
    ("objective", "both", "--objective is 'both'; it must be one of two-stage, joint"),
    ("device", "gpu", "--device is 'gpu'"),
    ("device", "cuda:1", None),
    ("split", "", "--split is empty"),
    ("push_to", "my repo", "--push-to is 'my repo'"),
    ("dataset", "./my-recordngs", "there is no folder ./my-recordngs"),
    ("dataset", "google/fleurs", None),
    ("model", "runs/a/b", "there is no folder runs/a/b"),
    ("model", "openai/whisper-tiny.en", None),
]


@pytest.mark.parametrize(("name", "value", "words"), SETTINGS)
def test_each_setting_is_checked_as_typed(name, value, words):
    sentence = problem(name, value)
    if words is None:
        assert sentence is None
    else:
        assert words in sentence and sentence.endswith(".")


def test_every_setting_has_a_rule():
    assert set(RULES) == {f for f in TrainConfig.__dataclass_fields__}


def test_the_whole_config_check():
    config = TrainConfig(model="openai/whisper-tiny.en", dataset="google/fleurs", out="runs/x")
    check(config)
    with pytest.raises(WacftError, match="both 0; train at least one epoch"):
        check(TrainConfig(model="m", dataset="d", out="o", epochs=0, finetune_epochs=0))
    with pytest.raises(WacftError, match="--batch-size is 0"):
        check(TrainConfig(model="m", dataset="d", out="o", batch_size=0))


def train_argv(model, dataset, out, *extra):
    return ["train", "--model", str(model), "--dataset", str(dataset), "--out", str(out), *map(str, extra)]


# (extra train flags, words of the sentence); every one exits 1 before anything starts
TRAIN_FLAGS = [
    (["--batch-size", 0], "--batch-size is 0"),
    (["--full-context-share", 2], "--full-context-share is 2.0"),
    (["--checkpoint-every", 0], "--checkpoint-every is 0"),
    (["--lr", -1], "--lr is -1.0"),
    (["--lr", "nan"], "--lr is nan"),
    (["--epochs", 0], "both 0"),
    (["--finetune-epochs", 1, "--eval-share", 1], "--eval-share is 1.0"),
]


@pytest.mark.parametrize(("flags", "words"), TRAIN_FLAGS)
@pytest.mark.parametrize("where", ["here", "local"])
def test_train_refuses_settings_that_would_do_nothing(flags, words, where, tmp_path, wacft_home, capsys):
    model, data = tmp_path / "model", tmp_path / "data"
    model.mkdir()
    data.mkdir()
    out = tmp_path / "out"
    assert main(train_argv(model, data, out, "--on", where, *flags)) == 1
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not out.exists()


def test_a_mistyped_local_dataset_is_said_at_once(tmp_path, wacft_home, capsys):
    out = tmp_path / "out"
    assert main(train_argv("openai/whisper-tiny.en", "./my-recordngs", out)) == 1
    assert "there is no folder ./my-recordngs" in capsys.readouterr().err
    assert not out.exists()


def folder_with(path, *names):
    path.mkdir(parents=True)
    for name in names:
        (path / name).parent.mkdir(exist_ok=True)
        (path / name).write_text("{}")
    return path


# what --out holds -> the sentence; --force trains over all but a run still going
OUT_HOLDS = [
    (("config.json", "model.safetensors", "training_config.json"), "holds a finished run; pass --force"),
    (("config.json", "model.safetensors.index.json"), "holds a model; pass --force"),
    (("checkpoint/progress.json",), "holds an unfinished run; pass --resume to continue it, --force"),
]


@pytest.mark.parametrize(("names", "words"), OUT_HOLDS)
@pytest.mark.parametrize("where", ["here", "local"])
def test_train_never_overwrites_what_out_holds(names, words, where, tmp_path, wacft_home, capsys):
    data = folder_with(tmp_path / "data")
    out = folder_with(tmp_path / "out", *names)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    model = folder_with(tmp_path / "model")
    assert main(train_argv(model, data, out, "--on", where)) == 1
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_the_model_folder_is_never_the_output(tmp_path, wacft_home, capsys):
    model = folder_with(tmp_path / "model", "config.json", "model.safetensors")
    data = folder_with(tmp_path / "data")
    for flags in ([], ["--force"], ["--resume"]):
        assert main(train_argv(model, data, tmp_path / "x" / ".." / "model", *flags)) == 1
        assert "is the --model folder itself" in capsys.readouterr().err
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "model.safetensors"]


def test_a_run_still_going_is_never_trained_over(tmp_path, wacft_home, capsys):
    import socket
    import subprocess

    from wacft.acft.outdir import RUNNING

    out = folder_with(tmp_path / "out")
    other = subprocess.Popen(["sleep", "60"])
    try:
        (out / RUNNING).write_text(f"{socket.gethostname()} {other.pid}")
        for flags in ([], ["--force"]):
            assert main(train_argv(folder_with(tmp_path / f"m{len(flags)}"), tmp_path, out, *flags)) == 1
            assert f"is being trained into now (process {other.pid})" in capsys.readouterr().err
    finally:
        other.kill()
        other.wait()


def test_train_out_that_is_a_file(tmp_path, wacft_home, capsys):
    out = tmp_path / "out.bin"
    out.write_bytes(b"x")
    assert main(train_argv(folder_with(tmp_path / "m"), tmp_path, out)) == 1
    assert f"--out is '{out}'; it must be a folder, not a file" in capsys.readouterr().err


def test_a_failed_start_leaves_no_folder(tmp_path, wacft_home, capsys):
    """The model is no Whisper model: the run fails after it made --out (and its parent), and removes both."""
    model, data = folder_with(tmp_path / "model", "config.json"), folder_with(tmp_path / "data")
    out = tmp_path / "runs" / "first"
    assert main(train_argv(model, data, out)) == 1
    assert "is neither a Whisper model folder" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
