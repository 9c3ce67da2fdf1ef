"""Bad inputs and faults, as a careful user would try them: each one a sentence, an exit code, and nothing
left behind."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from wacft.acft.config import TrainConfig
from wacft.acft.validate import RULES, check, problem
from wacft.cli import main
from wacft.dataset.spec import DatasetSpec
from wacft.errors import WacftError
from wacft.run_folder import CHECKPOINT, NEW

# (setting, value as typed or given, words the sentence must hold); None: accepted
SETTINGS = [
    ("batch_size", 0, "--batch-size is 0; it must be a whole number of at least 1"),
    ("batch_size", "abc", "--batch-size is 'abc'"),
    ("batch_size", "3", None),
    ("full_context_share", 2, "--full-context-share is 2; it must be a number in [0, 1]"),
    ("full_context_share", 1.0, None),
    ("phone_silence_share", -0.5, "--phone-silence-share is -0.5; it must be a number in [0, 1]"),
    ("checkpoint_every", 0, "--checkpoint-every is 0; it must be a whole number of at least 1"),
    ("lr", -1.0, "--lr is -1.0; it must be a number in (0, 0.1]"),
    ("lr", 1e12, "--lr is 1000000000000.0; it must be a number in (0, 0.1]"),
    ("seed", 2**64, "--seed is 18446744073709551616; it must be a whole number of at least 0 and at most"),
    ("lr", math.nan, "--lr is nan"),
    ("lr", "1e-6", None),
    ("finetune_lr", None, None),
    ("finetune_lr", math.inf, "--finetune-lr is inf"),
    ("finetune_keep", 0, "--finetune-keep is 0; it must be a number in (0, 1]"),
    ("finetune_keep", 0.5, None),
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
    with pytest.raises(WacftError, match="--batch-size is '8'; it must be a whole number"):  # as JSON may hold it
        text = TrainConfig(model="m", dataset="d", out="o").to_json()
        check(TrainConfig.from_json(text.replace('"batch_size": 8', '"batch_size": "8"')))


def train_argv(model, dataset, out, *extra):
    return ["train", "--model", str(model), "--dataset", str(dataset), "--out", str(out), *map(str, extra)]


# (extra train flags, words of the sentence); every one exits 1 before anything starts
TRAIN_FLAGS = [
    (["--batch-size", 0], "--batch-size is 0"),
    (["--full-context-share", 2], "--full-context-share is 2.0"),
    (["--phone-silence-share", 1.5], "--phone-silence-share is 1.5"),
    (["--checkpoint-every", 0], "--checkpoint-every is 0"),
    (["--lr", -1], "--lr is -1.0"),
    (["--lr", "nan"], "--lr is nan"),
    (["--epochs", 0], "both 0"),
    (["--finetune-epochs", 1, "--eval-share", 1], "--eval-share is 1.0"),
    (["--objective", "joint"], "--objective joint is how stage 1 trains, and --finetune-epochs is 0 (no stage 1)"),
    (["--finetune-epochs", 1, "--eval-split", "train"], "--eval-split train is the split training reads too"),
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


# (flags, the sentence): an option the run would not use is refused, never ignored
IGNORED = [
    (["--detach"], "--detach is for --on local or modal, and this run is --on here; drop --detach"),
    (["--on", "local", "--gpu", "H100"], "--gpu is for --on modal, and this run is --on local"),
    (["--on", "local", "--convert", "q8_0"], "--convert is for --on modal, and this run is --on local"),
    (["--max-hours", "2"], "--max-hours is for --on modal"),
    (["--public"], "--public makes the repo --push-to creates public, and no --push-to was given"),
    (["--dataset-config", "en_us"], "--dataset-config is for hub datasets, and {data} is a folder of recordings; drop"
                                  " --dataset-config."),
]


@pytest.mark.parametrize(("flags", "words"), IGNORED, ids=["detach", "gpu", "convert", "hours", "public", "config"])
def test_an_option_the_run_would_ignore_is_refused(flags, words, speech_dataset, random_whisper, tmp_path,
                                                   wacft_home, capsys):
    data = speech_dataset(["Hello world."], voices=["en-us"])
    out = tmp_path / "out"
    assert main(train_argv(random_whisper(), data, out, "--epochs", 1, *flags)) == 1
    assert words.format(data=data) in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(("flags", "words"), [
    (["--language", "de"], "{model} is English-only and cannot learn German; start from a multilingual model"),
    (["--task", "translate"], "{model} is English-only: it has no task tokens, so --task translate would be ignored"),
], ids=["language", "task"])
def test_language_and_task_on_an_english_only_model_are_refused(flags, words, speech_dataset, random_whisper,
                                                                 tmp_path, wacft_home, capsys):
    model = random_whisper()
    assert main(train_argv(model, speech_dataset(["Hello."], voices=["en-us"]), tmp_path / "out", *flags)) == 1
    assert words.format(model=model) in capsys.readouterr().err


def test_resume_of_a_finished_run_and_convert_of_an_unfinished_one(tmp_path, wacft_home, capsys):
    finished = folder_with(tmp_path / "done", "config.json", "model.safetensors", "training_config.json")
    assert main(train_argv(folder_with(tmp_path / "m"), tmp_path, finished, "--resume")) == 1
    assert f"--out {finished} holds a finished run, so there is nothing to resume" in capsys.readouterr().err
    unfinished = folder_with(tmp_path / "run", "checkpoint/progress.json", "run_config.json")
    assert main(["convert", str(unfinished), "--out", str(tmp_path / "x.bin")]) == 1
    assert f"{unfinished} holds a training run that has not finished" in capsys.readouterr().err


def test_a_glossary_file_that_is_no_utf_8_text_is_named(tmp_path, wacft_home, capsys):
    glossary = tmp_path / "terms.txt"
    glossary.write_bytes("Caf\u00e9\nGrafana\n".encode("latin-1"))
    with pytest.raises(SystemExit):
        main(train_argv("m", "d", tmp_path / "out", "--glossary-file", glossary))
    err = capsys.readouterr().err
    assert f"The glossary file {glossary} is not UTF-8 text; save it as UTF-8." in err and "invalid" not in err


def test_an_eval_split_of_a_folder_is_no_hold_out(random_whisper, speech_dataset, tmp_path, wacft_home, capsys):
    data = speech_dataset(["Hello world.", "What time is it?"], voices=["en-us"])
    argv = train_argv(random_whisper(), data, tmp_path / "out", "--finetune-epochs", 1, "--epochs", 0)
    assert main([*argv, "--eval-split", "test"]) == 1
    assert "--eval-split test holds clips that training reads too" in capsys.readouterr().err


def test_training_config_records_the_batch_the_run_used(random_whisper, speech_dataset, tmp_path, wacft_home):
    data = speech_dataset(["Hello world.", "What time is it?"], voices=["en-us"])
    out = tmp_path / "out"
    assert main(train_argv(random_whisper(), data, out, "--epochs", 1, "--exact-reference", "--batch-size", 4)) == 0
    assert json.loads((out / "training_config.json").read_text())["batch_size"] == 1


def test_a_clip_too_short_to_hold_a_word_and_one_file_listed_again_are_skipped_and_said(speech_dataset):
    import soundfile

    from wacft.dataset.clips import load_clips

    folder = speech_dataset(["Hello world."], voices=["en-us"])
    [clip] = folder.glob("*.wav")
    soundfile.write(folder / "tick.wav", np.zeros(1, np.float32), 16000)
    rows = [f"{clip.name},Hello world."] * 5 + ["tick.wav,Hi."]
    (folder / "metadata.csv").write_text("file_name,text\n" + "\n".join(rows) + "\n")
    clips = load_clips(DatasetSpec(str(folder)))
    assert len(clips.clips) == 1
    assert clips.summary().endswith("skipped: 4 audio file listed again, 1 under 0.1 s")


def test_silent_clips_are_skipped_and_said_and_an_all_silent_dataset_is_refused(speech_dataset):
    import soundfile

    from wacft.dataset.clips import load_clips

    folder = speech_dataset(["Hello world."], voices=["en-us"])
    [clip] = folder.glob("*.wav")
    soundfile.write(folder / "zeros.wav", np.zeros(32000, np.float32), 16000)
    soundfile.write(folder / "hiss.wav", np.full(32000, 1e-4, np.float32), 16000)  # -80 dBFS: no speech either
    (folder / "metadata.csv").write_text(f"file_name,text\n{clip.name},Hello world.\nzeros.wav,Hi.\nhiss.wav,Ho.\n")
    clips = load_clips(TrainConfig(model="m", dataset=str(folder), out="o"))
    assert [c.source.name for c in clips.clips] == [clip.name]
    assert clips.summary().endswith("skipped: 2 silent (no speech: no sample above -50 dBFS)")
    (folder / "metadata.csv").write_text("file_name,text\nzeros.wav,Hi.\nhiss.wav,Ho.\n")
    with pytest.raises(WacftError, match=r"has no usable clips \(0 clips .* skipped: 2 silent"):
        load_clips(TrainConfig(model="m", dataset=str(folder), out="o"))


def test_a_multilingual_config_with_an_english_only_tokenizer_is_refused(random_whisper, speech_dataset, tmp_path,
                                                                          wacft_home, capsys):
    import shutil

    model = copy_model(random_whisper(multilingual=True), tmp_path / "model")
    for name in ("added_tokens.json", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"):
        if (random_whisper() / name).is_file():
            shutil.copyfile(random_whisper() / name, model / name)
    out = tmp_path / "out"
    data = speech_dataset(["Hello."], voices=["en-us"])
    assert main(train_argv(model, data, out, "--language", "en", "--on", "local", "--detach")) == 1
    assert f"{model}'s tokenizer does not fit its multilingual config (<|notimestamps|> is token 50362" in (
        capsys.readouterr().err)
    assert not out.exists()


def test_a_file_given_as_a_dataset_is_no_hub_id(tmp_path):
    from wacft.dataset.clips import load_clips

    file = tmp_path / "clips.zip"
    file.write_bytes(b"PK")
    with pytest.raises(WacftError, match="clips.zip is a file; give the folder that holds the recordings"):
        load_clips(DatasetSpec(str(file)))


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


def contents(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("where", ["here", "local"])
def test_the_persons_own_files_in_out_are_never_overwritten(where, tmp_path, wacft_home, capsys):
    """A project folder with a README.md and a config.json of its own: refused, --force or not."""
    out = tmp_path / "project"
    out.mkdir()
    (out / "README.md").write_text("# my notes\n")
    (out / "config.json").write_text('{"mine": true}')
    before = contents(out)
    for flags in ([], ["--force"]):
        assert main(train_argv(folder_with(tmp_path / f"m{len(flags)}"), tmp_path, out, "--on", where, *flags)) == 1
        err = capsys.readouterr().err
        assert f"--out {out} holds README.md, config.json of your own, which the trained model would overwrite" in err
        assert contents(out) == before


def test_out_with_other_files_needs_force_and_keeps_them(random_whisper, speech_dataset, tmp_path, wacft_home,
                                                        capsys):
    out = tmp_path / "project"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "clips").mkdir()
    (out / "clips" / "a.wav").write_bytes(b"RIFF")
    data = speech_dataset(["Hello world."], voices=["en-us"])
    argv = train_argv(random_whisper(), data, out, "--epochs", 1, "--batch-size", 1)
    assert main(argv) == 1
    assert f"--out {out} holds files no run wrote (clips, notes.txt); pick a new or empty folder" in (
        capsys.readouterr().err)
    assert sorted(p.name for p in out.iterdir()) == ["clips", "notes.txt"]
    assert main([*argv, "--force"]) == 0
    assert (out / "model.safetensors").is_file()
    assert (out / "notes.txt").read_text() == "mine" and (out / "clips" / "a.wav").read_bytes() == b"RIFF"


def test_the_dataset_folder_is_never_the_output(speech_dataset, tmp_path, wacft_home, capsys):
    data = speech_dataset(["Hello world."], voices=["en-us"])
    before = contents(data)
    for flags in ([], ["--force"]):
        assert main(train_argv(folder_with(tmp_path / f"m{len(flags)}"), data, data, *flags)) == 1
        assert f"--out {data} is the --dataset folder itself" in capsys.readouterr().err
    assert contents(data) == before


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

    from wacft.run_folder import RUNNING

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
    assert "not Whisper; pick a Whisper model" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


# --- NaN: never trained into a model, converted, called fine or sent -----------------------------------

def with_nan(folder, name="model.decoder.layer_norm.weight"):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    tensors[name] = tensors[name].copy()
    tensors[name][0] = np.nan
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def test_training_stops_on_a_clip_with_nan_samples(random_whisper, speech_dataset, tmp_path, wacft_home, capsys):
    import soundfile

    data = speech_dataset(["Hello world.", "What time is it?"], voices=["en-us"])
    clip = sorted(data.glob("*.wav"))[1]
    audio, rate = soundfile.read(clip, dtype="float32")
    audio[100:200] = np.nan
    soundfile.write(clip, audio, rate, subtype="FLOAT")
    out = tmp_path / "out"
    assert main(train_argv(random_whisper(), data, out, "--epochs", 1, "--batch-size", 1)) == 1
    err = capsys.readouterr().err
    assert f"{clip} holds NaN or infinite samples; fix or remove that clip." in err and "nan)" not in err
    assert not (out / "model.safetensors").exists()


def test_training_refuses_a_model_with_nan_weights(random_whisper, speech_dataset, tmp_path, wacft_home, capsys):
    model = with_nan(copy_model(random_whisper(), tmp_path / "model"))
    out = tmp_path / "out"
    assert main(train_argv(model, speech_dataset(["Hello world."], voices=["en-us"]), out, "--epochs", 1)) == 1
    err = capsys.readouterr().err
    assert f"{model} holds 1 NaN or infinite weights (in 1 tensors, e.g. model.decoder.layer_norm.weight)" in err
    assert not out.exists()


def test_training_stops_at_the_first_non_finite_loss(random_whisper, speech_dataset, tmp_path, wacft_home, capsys):
    """Samples that are finite but far beyond full scale: their mel features overflow, and so does the loss."""
    import soundfile

    data = speech_dataset(["Hello world."], voices=["en-us"])
    [clip] = data.glob("*.wav")
    audio, rate = soundfile.read(clip, dtype="float32")
    soundfile.write(clip, audio * np.float32(1e30), rate, subtype="FLOAT")
    out = tmp_path / "out"
    # the clip alone (no other voices beside this one voice), so the first step is the one that overflows
    assert main(train_argv(random_whisper(), data, out, "--epochs", 1, "--batch-size", 1, "--no-other-voices")) == 1
    err = capsys.readouterr().err
    assert f"Training stopped at step 1: the loss is nan on {clip}; lower the learning rate" in err
    assert not (out / "model.safetensors").exists()


def test_convert_inspect_and_push_refuse_nan_weights(random_whisper, tmp_path, wacft_home, capsys, monkeypatch):
    from wacft.convert.convert import convert, plan_outputs
    from wacft.convert.ggml import read_ggml

    model = with_nan(copy_model(random_whisper(), tmp_path / "model"))
    out = tmp_path / "nan.bin"
    assert main(["convert", str(model), "--out", str(out), "--type", "q8_0"]) == 1
    err = capsys.readouterr().err
    assert "tensor decoder.ln.weight holds NaN or infinite values; the model is damaged" in err
    assert nothing_beside(out)

    [good] = convert(str(random_whisper()), plan_outputs(tmp_path / "tiny_en_acft_f16.bin", ["f16"]))
    norm = read_ggml(good.path).tensor("decoder.ln.weight")
    bad = damaged(good.path, tmp_path / "tiny_en_acft_f16_x.bin", norm.offset, np.array([np.inf], "<f4").tobytes())
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "1")  # nothing listens: push must stop before adb
    for argv in (["inspect", str(bad)], ["push", str(bad)]):
        assert main(argv) == 1
        assert "tensor decoder.ln.weight holds 1 non-finite value(s)" in capsys.readouterr().err


# --- runs, watch, cancel: a record is believed only as far as the process and the files bear it out ---------

def local_record(tmp_path, pid, *events):
    """A local run's record whose trainer is `pid`, with its events file as the trainer left it."""
    from wacft.acft.runs import RunRecord

    out = tmp_path / "run"
    out.mkdir(exist_ok=True)
    path = out / "events-1.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    config = TrainConfig(model="openai/whisper-tiny.en", dataset="google/fleurs", out=str(out))
    return RunRecord("20260101-000000-tiny.en-0001", "local", json.loads(config.to_json()), status="running",
                     pid=pid, events=str(path)).save()


STEP = {"type": "step", "stage": "acft", "step": 1, "total_steps": 4, "epoch": 1, "epochs": 2, "loss": 0.5,
        "lr": 1e-6, "context": 300, "clips": 1, "audio_seconds": 2.0, "clips_per_second": 1.0, "eta_seconds": 3.0}


def a_dead_pid():
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_cancel_never_signals_a_process_that_took_the_runs_pid(tmp_path, wacft_home, capsys):
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)  # the pid, given to another program
    try:
        record = local_record(tmp_path, other.pid, STEP)
        assert main(["cancel", record.id]) == 1
        assert f"Run {record.id} is failed; only a running run can be cancelled." in capsys.readouterr().err
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_run_that_ended_unwatched_is_listed_as_ended_and_not_cancelled(tmp_path, wacft_home, capsys):
    from wacft.acft.runs import load_run

    record = local_record(tmp_path, a_dead_pid(), STEP, {"type": "done", "out": str(tmp_path / "run")})
    assert main(["runs"]) == 0
    assert f"{record.id}  local  done " in capsys.readouterr().out
    assert main(["cancel", record.id]) == 1
    assert f"Run {record.id} is done; only a running run can be cancelled." in capsys.readouterr().err
    assert load_run(record.id).status == "done" and not record.path.with_suffix(".cancelled").exists()


# --- the dataset reader: a sentence for every file a person can hand over --------------------------------

def metadata_of(folder, name, data: bytes):
    for old in folder.glob("metadata.*"):
        old.unlink()
    (folder / name).write_bytes(data)
    return folder / name


# (file, its bytes, words of the sentence)
BAD_METADATA = [
    ("metadata.csv", "file_name,text\nclip000_en-us.wav,Caf\u00e9\n".encode("latin-1"),
     "is not UTF-8 text (line 2 has the byte 0xe9); save it as UTF-8"),
    ("metadata.jsonl", b'{"file_name": "clip000_en-us.wav", "text": "Hello."}\n{"file_name": \n',
     "Line 2 of {path} is not JSON (Expecting value at column 15); fix that line"),
    ("metadata.jsonl", b'["clip000_en-us.wav", "Hello."]\n', "Line 1 of {path} is not a JSON object"),
    ("metadata.jsonl", b'{"file_name": 7, "text": 5}\n', "has no usable clips (0 clips (0.0 min of audio); skipped: 1"
                                                        " missing audio file)"),
    ("metadata.csv", b"file_name,text\nclip000_en-us.wav\n,\n", "skipped: 2 empty transcript"),
]


@pytest.mark.parametrize(("name", "data", "words"), BAD_METADATA, ids=["latin-1", "bad-json", "json-list",
                                                                      "json-numbers", "short-rows"])
def test_the_dataset_reader_names_what_is_wrong_with_the_metadata(name, data, words, speech_dataset):
    folder = speech_dataset(["Hello."], voices=["en-us"])
    path = metadata_of(folder, name, data)
    from wacft.dataset.clips import load_clips

    with pytest.raises(WacftError) as caught:
        load_clips(DatasetSpec(str(folder)))
    assert words.format(path=path) in str(caught.value)


def test_a_transcript_longer_than_the_decoder_reads_is_named(random_whisper, tmp_path, wacft_home, capsys, speak):
    from fixtures.speech import write_metadata

    data = tmp_path / "data"
    data.mkdir()
    clip = data / "long.wav"
    clip.write_bytes(speak("Hello world.", voice="en-us").read_bytes())
    write_metadata(data, [("long.wav", "word " * 500)])
    assert main(train_argv(random_whisper(), data, tmp_path / "out", "--epochs", 1)) == 1
    err = capsys.readouterr().err
    assert f"The transcript of {clip} is 50" in err and "reads at most 448: shorten it, or leave that clip out." in err


def test_a_bom_in_metadata_csv_is_no_part_of_a_column(speech_dataset):
    from wacft.dataset.clips import load_clips

    folder = speech_dataset(["Hello."], voices=["en-us"])
    metadata = folder / "metadata.csv"
    metadata.write_bytes(b"\xef\xbb\xbf" + metadata.read_bytes())
    assert len(load_clips(DatasetSpec(str(folder))).clips) == 1


def test_watch_names_a_deleted_or_garbled_events_file(tmp_path, wacft_home, capsys):
    record = local_record(tmp_path, a_dead_pid(), STEP)
    events = Path(record.events)
    events.write_text(json.dumps(STEP) + '\n{"type": "st\x00\n')
    assert main(["watch", record.id]) == 1
    assert f"The events file of run {record.id}, {events}, holds a line that is no event" in capsys.readouterr().err
    events.unlink()
    assert main(["watch", record.id]) == 1
    err = capsys.readouterr().err
    assert f"The events file of run {record.id}, {events}, cannot be read (No such file or directory)" in err


# (a field of a record, a value that a hand edit or a broken disk left there)
BAD_FIELDS = [("status", 7), ("last", [1]), ("config", "x"), ("pid", "123"), ("created", "yesterday"),
              ("id", "../x")]


@pytest.mark.parametrize(("name", "value"), BAD_FIELDS)
def test_a_record_with_a_wrongly_typed_field_is_named_not_a_crash(name, value, tmp_path, wacft_home, capsys):
    record = local_record(tmp_path, a_dead_pid(), {"type": "done", "out": str(tmp_path / "run")})
    data = json.loads(record.path.read_text())
    record.path.write_text(json.dumps({**data, name: value}))
    assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    assert record.id not in out and f"skipped {record.path}, which holds no run record this wacft can read" in err
    assert main(["watch", record.id]) == 1
    assert f"The run record {record.path} cannot be read" in capsys.readouterr().err


def test_a_run_id_is_never_a_path(tmp_path, wacft_home, capsys):
    record = local_record(tmp_path, a_dead_pid(), {"type": "done", "out": str(tmp_path / "run")})
    for step in ("watch", "cancel", "fetch"):
        assert main([step, f"../runs/{record.id}"]) == 1
        assert f"'../runs/{record.id}' is not a run id" in capsys.readouterr().err


def test_runs_into_a_closed_pipe_is_no_crash(tmp_path, wacft_home):
    import os

    from wacft.acft.runs import RunRecord

    for i in range(1500):  # more than a pipe holds
        RunRecord(f"20260101-000000-tiny.en-{i:04x}", "local", {"model": "openai/whisper-tiny.en"},
                  status="done").save()
    child = subprocess.Popen([sys.executable, "-m", "wacft.cli", "runs"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=os.environ)
    assert child.stdout.readline().startswith(b"20260101-000000-tiny.en-")
    child.stdout.close()  # as `head -1` does
    err = child.stderr.read().decode()
    assert child.wait() == 141 and err == ""
    assert not (tmp_path / "home" / "logs").exists()


def test_an_import_names_each_bad_file_and_keeps_the_rest(speak, tmp_path, wacft_home, capsys):
    import shutil

    source = tmp_path / "mine"
    source.mkdir()
    for name, text in (("a", "Hello world."), ("b", "What time is it?"), ("c", "Call me back.")):
        shutil.copyfile(speak(text, voice="en-us"), source / f"{name}.wav")
        (source / f"{name}.txt").write_text(text)
    (source / "b.txt").write_bytes("Caf\u00e9 au lait.".encode("latin-1"))
    (source / "c.wav").write_bytes(b"RIFF not audio")
    assert main(["record", str(tmp_path / "dataset"), "--import-clips", str(source)]) == 0
    out = capsys.readouterr().out
    assert "kept 1, left out 2" in out and "✗ b.wav: b.txt is not UTF-8 text; save it as UTF-8" in out
    assert "✗ c.wav: " in out and "cannot be decoded as audio" in out


def test_record_leaves_no_empty_folder_and_fails_when_nothing_is_imported(tmp_path, wacft_home, capsys):
    dataset, source = tmp_path / "dataset", folder_with(tmp_path / "mine", "a.txt")
    (source / "a.wav").write_bytes(b"RIFF not audio")
    assert main(["record", str(dataset), "--summary"]) == 1
    assert f"There is no folder {dataset}; give the folder `wacft record` recorded into." in capsys.readouterr().err
    assert main(["record", str(dataset), "--import-clips", str(tmp_path / "nope")]) == 1
    assert f"There is no folder {tmp_path / 'nope'}" in capsys.readouterr().err
    assert main(["record", str(dataset), "--import-clips", str(source)]) == 1
    out, err = capsys.readouterr()
    assert "kept 0, left out 1" in out and "No clip was imported (each one left out says why above)" in err
    assert not dataset.exists()


def test_a_mistyped_terms_file_is_no_term(tmp_path, wacft_home, capsys):
    for typo in ("./my-terms.txt", "wrods.txt"):
        assert main(["record", str(tmp_path / "d"), "--terms", typo]) == 1
        assert f"There is no file {typo}; give the path of an existing file, or the words" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_record_without_a_terminal_says_so_at_once(tmp_path, wacft_home):
    done = subprocess.run([sys.executable, "-m", "wacft.cli", "record", str(tmp_path / "d"), "--terms", "Grafana"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "The recorder needs a terminal to run in; from a script, use --summary" in (
        done.stderr)


# --- convert, inspect, push: a file whisper.cpp would refuse is never written, called fine or sent ----------

def nothing_beside(out):
    """Neither the output nor any partial file of it."""
    return not out.exists() and not list(out.parent.glob(f".{out.name}*"))


def copy_model(source, folder):
    import shutil

    shutil.copytree(source, folder)
    return folder


def reshape_tensor(folder, name, shape):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    tensors[name] = tensors[name].reshape(-1)[: int(np.prod(shape))].reshape(shape).copy()
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


CONVERT_BREAKAGES = [
    (lambda f: reshape_tensor(f, "model.decoder.layers.0.self_attn.q_proj.weight", (64, 10)),
     "q_proj.weight has shape [64, 10] but the config says [64, 64] (d_model x d_model)"),
    (lambda f: edit_config(f, decoder_layers=1), "has 24 tensor(s) beyond what its config describes"),
    (lambda f: edit_config(f, decoder_layers=3), "lacks 24 Whisper tensor(s)"),
    (lambda f: edit_config(f, encoder_layers="four"), "gives encoder_layers (encoder layers) as 'four'"),
    (lambda f: edit_config(f, encoder_ffn_dim=100) or reshape_tensor(f, "model.encoder.layers.1.fc1.weight",
                                                                     (100, 64)),
     "fc1.weight has shape [100, 64] but the config says [256, 64] (4 x d_model x d_model)"),
]


@pytest.mark.parametrize(("breakage", "words"), CONVERT_BREAKAGES,
                         ids=["wrong-shape", "more-layers", "fewer-layers", "layers-as-text", "mlp-width"])
def test_convert_refuses_weights_that_disagree_with_the_config(breakage, words, random_whisper, tmp_path, capsys,
                                                               wacft_home):
    folder = copy_model(random_whisper(), tmp_path / "model")
    breakage(folder)
    out = tmp_path / "out.bin"
    assert main(["convert", str(folder), "--out", str(out), "--type", "q8_0"]) == 1
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert nothing_beside(out)


def test_convert_inputs_and_outputs_that_cannot_be(random_whisper, tmp_path, capsys, wacft_home):
    assert main(["convert", "./nope", "--out", str(tmp_path / "a.bin")]) == 1
    assert "./nope is neither a folder nor a Hugging Face model id" in capsys.readouterr().err
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert main(["convert", str(random_whisper()), "--out", str(folder), "--force"]) == 1
    assert f"{folder} is a folder; give a file name" in capsys.readouterr().err
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob(".a-folder*"))


@pytest.fixture(scope="module")
def good_bin(random_whisper, tmp_path_factory):
    from wacft.convert.convert import convert, plan_outputs

    [result] = convert(str(random_whisper()), plan_outputs(tmp_path_factory.mktemp("bin") / "tiny.bin", ["q8_0"]))
    return result.path


def patched(source, target, offset, value):
    data = bytearray(source.read_bytes())
    struct.pack_into("<i", data, offset, value)
    target.write_bytes(bytes(data))
    return target


HPARAM = {name: 4 + 4 * i for i, name in enumerate(["n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head",
                                                     "n_audio_layer", "n_text_ctx", "n_text_state",
                                                     "n_text_head", "n_text_layer", "n_mels", "ftype"])}
BAD_BINS = [
    ("n_text_layer", 1, "has 24 tensor(s) its header does not describe, e.g. decoder.blocks.1"),
    ("n_audio_layer", 3, "lacks 15 tensor(s), e.g. encoder.blocks.2"),
    ("n_audio_ctx", 1000, "encoder.positional_embedding has shape [1500, 64] where its header makes it [1000, 64]"),
    ("ftype", 2008, "is stored as q8_0 where a q5_0 file holds q5_0"),
]


@pytest.mark.parametrize(("field", "value", "words"), BAD_BINS, ids=[b[0] for b in BAD_BINS])
def test_inspect_and_push_refuse_a_bin_whisper_cpp_would_refuse(field, value, words, good_bin, tmp_path, capsys,
                                                                  monkeypatch, wacft_home):
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "1")  # nothing listens: push must stop before adb
    bad = patched(good_bin, tmp_path / "tiny_en_acft_q8_0.bin", HPARAM[field], value)
    assert main(["inspect", str(good_bin)]) == 0
    capsys.readouterr()
    for argv in (["inspect", str(bad)], ["push", str(bad)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert words in err and "whisper.cpp would refuse it" in err and err.count("\n") == 1


def test_a_bad_adb_port_is_a_sentence(monkeypatch, wacft_home):
    """In a fresh process, as a person runs it: adbutils reads the port as it is imported, which in this process
    another test may already have done."""
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "abc")
    done = subprocess.run([sys.executable, "-m", "wacft.cli", "devices"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "ANDROID_ADB_SERVER_PORT is 'abc'; set it to a port number" in done.stderr


@pytest.mark.parametrize("answers", ["never", "refused"])
def test_modal_that_cannot_be_reached_is_said_in_seconds(answers, random_whisper, speech_dataset, tmp_path,
                                                         wacft_home, capsys, monkeypatch):
    from wacft.acft.runs import runs_dir

    server = socket.create_server(("127.0.0.1", 0))  # the kernel accepts its connections; nothing ever answers
    monkeypatch.setenv("MODAL_SERVER_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
    if answers == "refused":
        server.close()
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-bogus")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-bogus")
    out, started = tmp_path / "out", time.monotonic()
    with server:
        code = main(train_argv(random_whisper(), speech_dataset(["Hello."], voices=["en-us"]), out, "--on", "modal",
                               "--yes"))
    assert time.monotonic() - started < 30  # the SDK alone retried for 58 s, more where nothing answers
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "Modal does not answer at http://127.0.0.1:" in err and "check this machine is online" in err
    assert not out.exists() and not runs_dir().exists()


def test_a_misspelt_type_to_convert_on_modal_is_refused_before_the_gpu_is_paid_for(random_whisper, speech_dataset,
                                                                                     tmp_path, wacft_home, capsys,
                                                                                     monkeypatch):
    """The job converts after training: a type it does not know would fail there, the GPU time spent."""
    from wacft.acft.runs import runs_dir

    server = socket.create_server(("127.0.0.1", 0))  # Modal, were it asked: it would not answer
    monkeypatch.setenv("MODAL_SERVER_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
    out = tmp_path / "out"
    with server:
        code = main(train_argv(random_whisper(), speech_dataset(["Hello."], voices=["en-us"]), out, "--on", "modal",
                               "--yes", "--convert", "q8_0,q5_O"))
    err = capsys.readouterr().err
    assert code == 1 and err.endswith("wacft converts to f32, f16, q4_0, q4_1, q5_0, q5_1 or q8_0, not q5_O.\n"), err
    assert "Modal does not answer" not in err and not out.exists() and not runs_dir().exists()


@pytest.mark.parametrize(("hub", "model", "dataset", "words"), [
    ("refused", None, "someone/no-such-dataset", "The hub dataset someone/no-such-dataset cannot be reached (there is"
                                                 " no network connection to the hub: "),
    ("never", None, "my-recordigns", "There is no folder my-recordigns here, and no hub dataset of that name could"
                                     " be loaded (there is no network connection to the hub: timed out)"),
    ("never", "openai/whisper-tinny.en", None, "openai/whisper-tinny.en cannot be downloaded (there is no network"
                                               " connection to the hub) and is not in the local cache"),
], ids=["dataset-refused", "dataset-never", "model-never"])
def test_a_hub_name_offline_is_one_quiet_sentence_in_seconds(hub, model, dataset, words, random_whisper,
                                                             speech_dataset, tmp_path):
    server = socket.create_server(("127.0.0.1", 0))  # the kernel accepts its connections; nothing ever answers
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{server.getsockname()[1]}", "HF_HOME": str(tmp_path / "hf"),
           "WACFT_HOME": str(tmp_path / "home")}
    env.pop("HF_HUB_OFFLINE", None)
    if hub == "refused":
        server.close()
    model, dataset = model or random_whisper(), dataset or speech_dataset(["Hello."], voices=["en-us"])
    command = [sys.executable, "-m", "wacft.cli", *train_argv(model, dataset, tmp_path / "run")]
    with server:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()  # `datasets` printed a line per retry for 32 s first; a model waited minutes
    assert line.startswith(f"wacft: {words}") and line.endswith(".")
    assert not (tmp_path / "run").exists()


# --- faults: SIGTERM, kill -9 then rerun, a full disk -------------------------------------------------------

def parts_of(out):
    return list(out.parent.glob(f".{out.stem}*.part"))


def convert_in_a_child(model, out):
    command = [sys.executable, "-m", "wacft.cli", "convert", str(model), "--out", str(out)]
    command += [arg for t in ("f32", "f16", "q8_0", "q5_0", "q4_0") for arg in ("--type", t)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_parts(child, out):
    """The conversion is writing: its partial files are there (whatever it has written into them)."""
    while not parts_of(out):
        assert child.poll() is None, child.communicate()
        time.sleep(0.01)


def test_sigterm_stops_a_conversion_cleanly(tiny_en_dir, tmp_path, wacft_home):
    out = tmp_path / "tiny.bin"
    child = convert_in_a_child(tiny_en_dir, out)
    wait_for_parts(child, out)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert "stopped; nothing was left half-written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_kill_9_then_rerun_removes_the_partial_files_and_says_so(tiny_en_dir, tmp_path, wacft_home):
    out = tmp_path / "tiny.bin"
    child = convert_in_a_child(tiny_en_dir, out)
    wait_for_parts(child, out)
    child.kill()
    child.communicate(timeout=60)
    left = parts_of(out)
    assert left  # what kill -9 leaves: nothing can clean up after it
    rerun = convert_in_a_child(tiny_en_dir, out)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert all(f"removed {part}" in err for part in left) and "left by a stopped run" in err
    assert parts_of(out) == [] and len(list(tmp_path.glob("tiny_*.bin"))) == 5


def train_in_a_child(config, *flags, file_limit=None):
    """`python -m wacft.acft`, optionally with a limit on the size of every file it writes (a full disk, as
    the child sees it: writes past the limit fail with EFBIG)."""
    settings = Path(config.out).parent / "run.json"
    settings.write_text(config.to_json())

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    command = [sys.executable, "-m", "wacft.acft", "--config", str(settings), *flags]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=limit if file_limit else None)


def events_of(child):
    out, err = child.communicate(timeout=600)
    assert "Traceback" not in err
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.slow
def test_sigterm_then_a_file_size_limit_at_a_checkpoint_then_resume(random_whisper, speech_dataset, tmp_path,
                                                                    wacft_home):
    data = speech_dataset(["Hello world.", "Please call me back later.", "What time is it?"])
    out = tmp_path / "run"
    config = TrainConfig(model=str(random_whisper()), dataset=str(data), out=str(out), epochs=2, batch_size=2,
                         lr=1e-4, checkpoint_every=1)
    child = train_in_a_child(config)
    for line in child.stdout:  # stopped as `timeout` or a service manager stops it, after a checkpoint
        if json.loads(line)["type"] == "checkpoint":
            child.send_signal(signal.SIGTERM)
            break
    last = events_of(child)[-1]
    assert child.returncode == 130 and last["type"] == "error"
    assert last["message"].startswith("Training was stopped; run it again with --resume")
    kept = json.loads((out / CHECKPOINT / "progress.json").read_text())["step"]
    assert not (out / ".running").exists()

    # the weights fit under the limit (`ulimit -f`), the optimizer's two moments do not: the next checkpoint fails
    weights = (out / CHECKPOINT / "student.safetensors").stat().st_size
    full = train_in_a_child(config, "--resume", file_limit=weights + 1_000_000)
    last = events_of(full)[-1]
    assert full.returncode == 1 and last["type"] == "error"
    assert f"A file in {out} reached this shell's file-size limit (" in last["message"]
    assert f"The checkpoint of step {kept} is kept: raise that limit and run again with --resume." in last["message"]
    assert not (out / NEW).exists() and not (out / ".output.new").exists()
    assert json.loads((out / CHECKPOINT / "progress.json").read_text())["step"] == kept

    resumed = events_of(train_in_a_child(config, "--resume"))
    assert resumed[-1]["type"] == "done" and (out / "model.safetensors").is_file()
    assert [e["step"] for e in resumed if e["type"] == "step"][0] == kept + 1


@pytest.mark.parametrize("flag", ["--epochs", "--finetune-epochs"])
def test_a_huge_epoch_count_starts_at_once(flag, random_whisper, speech_dataset, tmp_path, wacft_home):
    """A trillion epochs: planned as they come, so the first step comes as soon as with one (no memory runaway)."""
    import threading

    data = speech_dataset(["Hello world.", "What time is it?"], voices=["en-us"])
    config = TrainConfig(model=str(random_whisper()), dataset=str(data), out=str(tmp_path / "run"), batch_size=1,
                         **{flag[2:].replace("-", "_"): 10**12})
    child = train_in_a_child(config)
    deadline = threading.Timer(120, child.kill)
    deadline.start()
    try:
        step = next((e for e in map(json.loads, child.stdout) if e["type"] == "step"), None)
    finally:
        deadline.cancel()
        child.kill()
        child.communicate()
    assert step is not None and step["step"] == 1 and step["total_steps"] >= 10**12


def test_a_glossary_longer_than_the_phone_sends_is_said_in_one_short_line(random_whisper, speech_dataset, tmp_path,
                                                                          wacft_home, capsys):
    terms = tmp_path / "terms.txt"
    terms.write_text("\n".join(f"Term{i}" for i in range(10_000)))
    data = speech_dataset(["Hello world.", "What time is it?"], voices=["en-us"])
    argv = train_argv(random_whisper(), data, tmp_path / "out", "--epochs", 1, "--glossary-file", terms)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "glossary prompt (10000 terms: Term0, Term1, Term2, Term3, Term4 and 9995 more)" in out
    assert "and FUTO Keyboard sends about 200 of them: most terms never reach the model on the phone" in out
    assert max(map(len, out.splitlines())) < 300


def test_resuming_on_changed_data_is_refused(random_whisper, speech_dataset, tmp_path, wacft_home, capsys):
    data = speech_dataset(["Hello world.", "Please call me back later.", "What time is it?"], voices=["en-us"])
    out = tmp_path / "run"
    config = TrainConfig(model=str(random_whisper()), dataset=str(data), out=str(out), epochs=3, batch_size=1,
                         checkpoint_every=1)
    child = train_in_a_child(config)
    for line in child.stdout:
        if json.loads(line)["type"] == "checkpoint":
            child.send_signal(signal.SIGTERM)
            break
    child.communicate(timeout=300)
    metadata = data / "metadata.csv"
    metadata.write_text("\n".join(metadata.read_text().splitlines()[:-1]) + "\n")  # a clip taken out
    assert main(train_argv(config.model, data, out, "--epochs", 3, "--batch-size", 1, "--checkpoint-every", 1,
                           "--resume")) == 1
    assert f"The clips of {data} changed since the checkpoint in {out} was taken" in capsys.readouterr().err
    assert (out / CHECKPOINT).is_dir()


# --- verify ----------------------------------------------------------------------------------------------

def damaged(source, target, at, data):
    raw = bytearray(source.read_bytes())
    raw[at : at + len(data)] = data
    target.write_bytes(bytes(raw))
    return target


def test_verify_refuses_a_damaged_model(good_bin, speech_dataset, tmp_path, wacft_home, capsys):
    """Random bytes written into the tensor data: the structure is whole, the values are not."""
    data = speech_dataset(["Hello world."], voices=["en-us"])
    size = good_bin.stat().st_size
    bad = damaged(good_bin, tmp_path / "bad.bin", size // 2, np.random.default_rng(0).bytes(size // 4))
    assert main(["inspect", str(bad)]) == 1  # whisper.cpp would load it: described, then refused
    assert "non-finite value(s)" in capsys.readouterr().err
    assert main(["verify", str(bad), "--dataset", str(data)]) == 1
    err = capsys.readouterr().err
    assert "non-finite value(s) (NaN or infinity); the file is damaged" in err and err.count("\n") == 1


def test_verify_refuses_nan_in_a_float_tensor(random_whisper, speech_dataset, tmp_path, wacft_home, capsys):
    from wacft.convert.convert import convert, plan_outputs
    from wacft.convert.ggml import read_ggml

    [result] = convert(str(random_whisper()), plan_outputs(tmp_path / "f16.bin", ["f16"]))
    norm = read_ggml(result.path).tensor("decoder.ln.weight")  # F32 in every type
    bad = damaged(result.path, tmp_path / "nan.bin", norm.offset + 8, np.array([np.nan], "<f4").tobytes())
    assert main(["verify", str(bad), "--dataset", str(speech_dataset(["Hello."], voices=["en-us"]))]) == 1
    assert "tensor decoder.ln.weight holds 1 non-finite value(s)" in capsys.readouterr().err


def test_verify_and_train_name_what_the_dataset_lacks(good_bin, random_whisper, tmp_path, wacft_home, capsys):
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / "a.wav").write_bytes(b"RIFF")
    for argv in (["verify", str(good_bin), "--dataset", str(recordings)],
                 train_argv(random_whisper(), recordings, tmp_path / "out")):
        assert main(argv) == 1
        assert f"{recordings} has audio files but no metadata.csv or metadata.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["verify", str(good_bin), "--dataset", str(recordings), "--limit", "-1"]) == 1
    assert "--limit is -1; give a number of clips, or 0 for all of them." in capsys.readouterr().err


def test_verify_blames_a_thread_count_not_the_model(good_bin, speech_dataset, wacft_home, capsys):
    data = speech_dataset(["Hello world."], voices=["en-us"])
    for threads in ("-3", "0"):
        assert main(["verify", str(good_bin), "--dataset", str(data), "--threads", threads]) == 1
        err = capsys.readouterr().err
        assert f"--threads is {threads}; give a number of threads of at least 1" in err and "file" not in err


def test_verify_on_silent_clips_says_they_hold_no_speech(good_bin, tmp_path, wacft_home, capsys):
    import soundfile

    folder = tmp_path / "silent"
    folder.mkdir()
    for i in range(3):
        soundfile.write(folder / f"{i}.wav", np.zeros(16000 * 2, np.float32), 16000)
    (folder / "metadata.csv").write_text("file_name,text\n" + "".join(f"{i}.wav,Hello there.\n" for i in range(3)))
    assert main(["verify", str(good_bin), "--dataset", str(folder), "--baseline", "none"]) == 1
    err = capsys.readouterr().err
    assert "no speech" in err and "broken model" not in err


def test_a_phone_engine_that_cannot_be_installed_verifies_in_the_current_one_as_it_says(
        good_bin, speech_dataset, tmp_path, wacft_home, capsys, monkeypatch):
    """It used to say it would verify in the current whisper.cpp alone, then stop with exit 1."""
    from wacft.cli.verify import exit_status
    from wacft.verify import phone_engine

    monkeypatch.setattr(phone_engine, "PYTHONS", ((2, 7),))
    report = tmp_path / "report.json"
    status = main(["verify", str(good_bin), "--dataset", str(speech_dataset(["Hello world."], voices=["en-us"])),
                   "--greedy", "--baseline", "none", "--threads", "2", "--json", str(report)])
    out = capsys.readouterr().out
    assert "cannot be installed here (its wheels are for CPython 2.7); verifying in the current whisper.cpp alone." in (
        out)
    assert "in whisper.cpp of pywhispercpp" in out and status == exit_status(json.loads(report.read_text())["state"])


@pytest.mark.parametrize(("options", "words"), [({"seed": 1}, "holds other values"),
                                                ({"layers": 1}, "its n_audio_layer is 1, not 2")],
                         ids=["other weights", "other dimensions"])
def test_verify_compares_only_with_the_f16_file_of_the_same_model(options, words, good_bin, random_whisper,
                                                                  speech_dataset, tmp_path, wacft_home, capsys):
    """An f16 file of another model once printed WER -677.8% against it, and "ready"."""
    from wacft.convert.convert import convert, plan_outputs
    from wacft.convert.ggml import read_ggml
    from wacft.verify.check import check_same_model

    [same] = convert(str(random_whisper()), plan_outputs(tmp_path / "same_f16.bin", ["f16"]))
    check_same_model(read_ggml(good_bin), read_ggml(same.path))  # its own f16 file passes
    [other] = convert(str(random_whisper(**options)), plan_outputs(tmp_path / "other_f16.bin", ["f16"]))
    data = speech_dataset(["Hello world."], voices=["en-us"])
    capsys.readouterr()
    assert main(["verify", str(good_bin), "--dataset", str(data), "--f16", str(other.path), "--baseline", "none",
                 "--engine", "current"]) == 1
    err = capsys.readouterr().err
    said = f"wacft: {other.path} is not the f16 file tiny_q8_0.bin was quantized from (its "
    assert err.startswith(said) and err.count("\n") == 1
    assert f"{words}); give that model's f16 file with --f16, or leave --f16 out." in err


# --- what no sentence foresaw ----------------------------------------------------------------------------

def test_an_unexpected_error_is_a_short_report_with_its_traceback_in_a_log(tmp_path, wacft_home, capsys,
                                                                            monkeypatch):
    import wacft.cli.convert

    def broken(model, outputs, **options):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("wacft.services.outputs.convert", broken)  # what `wacft convert` calls
    assert wacft.cli.convert  # the handler is the one `wacft` runs, around any step
    assert main(["convert", "openai/whisper-tiny.en", "--out", str(tmp_path / "x.bin")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wacft: stopped on an unexpected error (ZeroDivisionError: division by zero); the full"
                          " report is in ") and "Traceback" not in err
    [log] = (tmp_path / "home" / "logs").iterdir()
    assert f"{log}." in err
    assert "Traceback" in log.read_text() and "in broken" in log.read_text()


def test_train_names_a_truncated_model_and_leaves_nothing(random_whisper, tmp_path, wacft_home, capsys):
    import os

    model = copy_model(random_whisper(), tmp_path / "model")
    os.truncate(model / "model.safetensors", (model / "model.safetensors").stat().st_size // 2)
    out = tmp_path / "out"
    assert main(train_argv(model, folder_with(tmp_path / "data"), out)) == 1
    err = capsys.readouterr().err
    assert "model.safetensors" in err and "truncated or corrupt" in err and err.count("\n") == 1
    assert not out.exists()


def test_what_a_killed_run_was_writing_is_removed_and_said(tmp_path, wacft_home, capsys):
    from wacft.run_folder import OUTPUT_NEW

    out = folder_with(tmp_path / "out", f"{NEW}/optimizer.pt", f"{OUTPUT_NEW}/model.safetensors")
    model = folder_with(tmp_path / "model")
    assert main(train_argv(model, folder_with(tmp_path / "data"), out)) == 1  # refused later: no model in it
    err = capsys.readouterr().err
    assert f"removed {out / NEW}, left half-written by a stopped run" in err
    assert f"removed {out / OUTPUT_NEW}" in err and "has no config.json" in err and list(out.iterdir()) == []


def test_a_read_only_output_folder_is_a_sentence(read_only_folder, random_whisper, tmp_path, wacft_home, capsys):
    out = read_only_folder / "x.bin"
    assert main(["convert", str(random_whisper()), "--out", str(out)]) == 1
    assert f"{read_only_folder} cannot be written to (Read-only file system)" in capsys.readouterr().err
    run = read_only_folder / "run"
    assert main(train_argv(folder_with(tmp_path / "model"), tmp_path, run)) == 1
    assert f"--out {run} cannot be written ({read_only_folder} is not a folder you can write to)" in (
        capsys.readouterr().err)


def test_a_detached_local_run_checks_its_model_and_data_before_it_starts(random_whisper, speech_dataset, tmp_path,
                                                                         wacft_home, capsys):
    from wacft.paths import runs_dir

    data, out = speech_dataset(["Hello."], voices=["en-us"]), tmp_path / "run"
    assert main(train_argv(folder_with(tmp_path / "model"), data, out, "--on", "local", "--detach")) == 1
    assert f"{tmp_path / 'model'} has no config.json" in capsys.readouterr().err
    (data / "metadata.csv").write_text("file_name,text\nnone.wav,Hello.\n")
    assert main(train_argv(random_whisper(), data, out, "--on", "local", "--detach")) == 1
    assert "has no usable clips" in capsys.readouterr().err
    assert not out.exists() and not runs_dir().exists()


def test_a_local_run_is_never_started_without_its_record(read_only_folder, random_whisper, speech_dataset, tmp_path,
                                                         monkeypatch, capsys):
    monkeypatch.setenv("WACFT_HOME", str(read_only_folder))
    out = tmp_path / "run"
    argv = train_argv(random_whisper(), speech_dataset(["Hello."], voices=["en-us"]), out, "--on", "local")
    assert main([*argv, "--detach"]) == 1
    err = capsys.readouterr().err
    assert f"The run record cannot be written in {read_only_folder / 'runs'} (Read-only file system)" in err
    assert not out.exists()  # nothing started: no trainer runs on with no record


@pytest.fixture
def as_nobody(wacft_home):
    """`wacft` run as the user nobody, for whom a folder of mode 000 is unreadable (root reads everything): a
    folder both can reach, and a runner whose WACFT_HOME is in it."""
    import os
    import shutil
    import tempfile

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run as another user")
    shared = Path(tempfile.mkdtemp(prefix="wacft-nobody-"))
    shared.chmod(0o777)

    def run(*argv):
        env = {**os.environ, "WACFT_HOME": str(shared / "home"), "HOME": str(shared)}
        return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                               "wacft.cli", *map(str, argv)], capture_output=True, text=True, env=env, cwd=shared)

    yield shared, run
    shutil.rmtree(shared)


def test_an_unreadable_runs_folder_is_not_no_runs(as_nobody):
    shared, run = as_nobody
    runs = shared / "home" / "runs"
    runs.mkdir(parents=True)
    runs.chmod(0)
    listed = run("runs")
    assert listed.returncode == 1 and "no runs yet" not in listed.stdout
    assert listed.stderr == (f"wacft: The runs folder {runs} cannot be read (Permission denied); make it readable,"
                             " or set WACFT_HOME to the folder that holds your runs.\n")


# what is unreadable -> the sentence
UNREADABLE = [("model", "The folder {path} cannot be read (permission denied); make it readable (chmod u+rx)"),
              ("model/model.safetensors", "{path} cannot be read (Permission denied); make it readable"),
              ("data", "The folder {path} cannot be read (permission denied); make it readable (chmod u+rx)")]


@pytest.mark.parametrize(("unreadable", "words"), UNREADABLE, ids=["model", "weights", "data"])
def test_an_unreadable_model_or_dataset_is_a_sentence(unreadable, words, as_nobody, random_whisper, speech_dataset):
    import shutil

    shared, run = as_nobody
    model = shutil.copytree(random_whisper(), shared / "model")
    data = shutil.copytree(speech_dataset(["Hello world."], voices=["en-us"]), shared / "data")
    for path in (model, *model.iterdir()):
        path.chmod(0o755)
    (shared / unreadable).chmod(0)
    trained = run(*train_argv(model, data, shared / "out", "--epochs", 1))
    assert trained.returncode == 1, trained.stderr
    assert words.format(path=shared / unreadable) in trained.stderr


def test_a_full_disk_and_a_file_size_limit_are_told_apart(random_whisper, tmp_path, wacft_home, capsys):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)]).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        assert main(["convert", str(random_whisper()), "--out", str(small / "x.bin"), "--type", "f32"]) == 1
        assert f"The disk holding {small} is full; it needs about" in capsys.readouterr().err
    finally:
        subprocess.run(["umount", str(small)], check=True)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    limited = subprocess.run([sys.executable, "-m", "wacft.cli", "convert", str(random_whisper()), "--out",
                              str(tmp_path / "x.bin"), "--type", "f32"], capture_output=True, text=True,
                             preexec_fn=limit)
    assert limited.returncode == 1
    assert f"A file in {tmp_path} reached this shell's file-size limit (1.0 MB, see `ulimit -f`)" in limited.stderr


def children_of(pid, running: str):
    """The processes `pid` started whose command line holds `running` (a library may start a short-lived helper of
    its own, such as ctypes' `ldconfig -p`, which is no whisper.cpp)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):  # (it may have ended since)
                if running in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(child))
    return found


def test_sigterm_stops_a_verification_and_its_whisper_cpp(tiny_en_dir, speech_dataset, tmp_path, wacft_home):
    from wacft.convert.convert import convert, plan_outputs

    [model] = convert(str(tiny_en_dir), plan_outputs(tmp_path / "tiny.bin", ["q8_0"]))
    data = speech_dataset(["Hello world.", "Please call me back later.", "What time is it?"])
    report = tmp_path / "report.json"
    child = subprocess.Popen([sys.executable, "-m", "wacft.cli", "verify", str(model.path), "--dataset", str(data),
                              "--json", str(report)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not children_of(child.pid, "whispercpp_child"):  # whisper.cpp runs in a process of its own
        assert child.poll() is None, child.communicate()
        time.sleep(0.01)
    [engine] = children_of(child.pid, "whispercpp_child")
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and "stopped" in err and "Traceback" not in err
    assert not Path(f"/proc/{engine}").exists() and not report.exists() and not list(tmp_path.glob(".report*"))


# --- fuzz: no option a person can type and no file they can hand over reaches the crash handler ------------

def hostile_values(tmp_path):
    """What a careless or hostile person types for any option: numbers out of every range, paths to nothing, to
    a folder, to a file of the wrong kind, text that is no name (a file name's non-UTF-8 byte arrives as a lone
    surrogate)."""
    folder = folder_with(tmp_path / "a folder")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    return ["", " ", "-3", "0", "1", "1e12", "1000000000000", "99999999999999999999999", "nan", "-inf", "0.5",
            "abc", "a,b,,c", "../runs/x", "/nonexistent/x", "~", ".", str(folder), str(text), "x" * 5000,
            "caf\udce9", "\u202eevil", "-", "--", "q8_0", "openai/whisper-tiny.en"]


# steps and options left out: the recorder and Modal (their own tests), and what reaches a network or a phone
FUZZ_SKIPS = {"--on", "--yes", "--gpu", "--max-hours", "--convert", "--detach", "--push-to", "--open-futo"}


def fuzzed_argv(rng, parser, values):
    """A step with its positionals and required options, and up to three more options, each given a hostile value
    or (half the time, where it has them) one of its choices."""
    steps = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    step = rng.choice(sorted(steps))
    actions = [a for a in steps[step]._actions if a.dest != "help" and not FUZZ_SKIPS & set(a.option_strings)]
    optional = [a for a in actions if a.option_strings and not a.required]
    chosen = [a for a in actions if a not in optional] + rng.sample(optional, min(len(optional), rng.randint(0, 3)))
    argv = [step]
    for action in chosen:
        if action.option_strings:
            argv.append(rng.choice(action.option_strings))
        if action.nargs != 0:
            argv.append(rng.choice(list(action.choices) if action.choices and rng.random() < 0.5 else values))
    return argv


def test_fuzz_no_option_reaches_the_crash_handler(tmp_path, wacft_home, capsys, monkeypatch):
    import random

    from wacft.cli import build_parser

    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "1")  # nothing listens there,
    monkeypatch.setenv("ADBUTILS_ADB_PATH", str(tmp_path / "no-adb"))  # and no adb starts a server there
    monkeypatch.chdir(tmp_path)
    rng, parser, values = random.Random(32), build_parser(), hostile_values(tmp_path)
    found = []
    for _ in range(400):
        argv = fuzzed_argv(rng, parser, values)
        with contextlib.suppress(SystemExit):  # argparse's own usage error: a sentence and exit 2, before any step
            main(argv)
        err = capsys.readouterr().err
        if "unexpected error" in err or "Traceback" in err:
            found.append(([a[:40] for a in argv], err[:300]))
    assert not found, "\n".join(map(str, found[:10]))


def fuzzed_metadata(rng, good_clip):
    """Bytes of a metadata.csv or metadata.jsonl as people and broken tools write them."""
    columns = ["file_name", "text"] if rng.random() < 0.6 else rng.sample(
        ["file_name", "text", "audio", "path", "sentence", "notes", "", "text"], rng.randint(0, 4))
    names = [good_clip, good_clip, "missing.wav", "junk.wav", "empty.wav", "sub", "../x.wav", "/etc/passwd", "",
             "x" * 300, "caf\u00e9.wav", None, 7]
    texts = ["Hello world.", "Hello world.", "", "  ", "word " * 600, "\u202e\u0000", None, 3.5, "a,b;\"c\"",
             "\U0001f600"]
    rows = [[rng.choice(names), rng.choice(texts), *rng.sample(names + texts, rng.randint(0, 2))][
        : rng.randint(0, len(columns) + 1)] for _ in range(rng.randint(0, 4))]
    if rng.random() < 0.5:
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
        name, text = "metadata.csv", out.getvalue()
    else:
        lines = [json.dumps(dict(zip(columns, row, strict=False))) if rng.random() < 0.8 else rng.choice(
            ["[1, 2]", "null", "{", '"text"', "{}"]) for row in rows]
        name, text = "metadata.jsonl", "\n".join(lines)
    data = (b"\xef\xbb\xbf" if rng.random() < 0.2 else b"") + text.encode("utf-16" if rng.random() < 0.1 else "utf-8")
    if data and rng.random() < 0.2:  # a byte or two broken, or the file cut short
        data = bytearray(data)
        data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data[: rng.randint(0, len(data))])
    return name, data


def test_fuzz_the_dataset_reader_raises_only_sentences(speech_dataset, tmp_path):
    import random
    import shutil

    from wacft.dataset.clips import load_clips

    source = speech_dataset(["Hello world."], voices=["en-us"])
    [good] = [p.name for p in source.glob("*.wav")]
    rng = random.Random(32)
    found = []
    for case in range(400):
        folder = tmp_path / f"d{case}"
        shutil.copytree(source, folder)
        (folder / "metadata.csv").unlink()
        (folder / "junk.wav").write_bytes(rng.randbytes(rng.randint(0, 200)))
        (folder / "empty.wav").write_bytes(b"")
        (folder / "sub").mkdir()
        name, data = fuzzed_metadata(rng, good)
        (folder / name).write_bytes(data)
        spec = DatasetSpec(str(folder), audio_column=rng.choice([None] * 4 + ["x"]),
                           text_column=rng.choice([None] * 4 + ["file_name"]))
        try:
            for clip in load_clips(spec).clips:
                assert clip.audio.dtype == np.float32
        except WacftError:
            pass
        except Exception as e:  # what the crash handler would get
            found.append((name, data[:80], f"{type(e).__name__}: {e}"))
        shutil.rmtree(folder)
    assert not found, "\n".join(map(str, found[:10]))
