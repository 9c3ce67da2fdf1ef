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
