"""The model check before training (convert.source, as conversion does it): a hub id without a network is
said as such in seconds, a folder missing only preprocessor_config.json trains (its settings follow from
config.json), and any other missing file is named."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from wacft.acft.batch_inputs import load_processor
from wacft.acft.config import TrainConfig
from wacft.acft.events import CallbackSink
from wacft.acft.trainer import train
from wacft.audio import load_audio
from wacft.convert.source import PROCESSOR_CONFIG, check_model_folder, read_config
from wacft.errors import WacftError


@pytest.fixture
def folder(random_whisper, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(random_whisper(), copy)
    return copy


def test_training_a_hub_id_without_a_network_says_so_before_loading_anything(tmp_path):
    """The hub is a closed port on this machine: connections are refused, as with no network at all."""
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"),
           "WACFT_HOME": str(tmp_path / "home")}
    env.pop("HF_HUB_OFFLINE", None)
    (tmp_path / "data").mkdir()
    command = [sys.executable, "-m", "wacft.cli", "train", "--model", "openai/whisper-tiny.en",
               "--dataset", str(tmp_path / "data"), "--out", str(tmp_path / "run")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "wacft: openai/whisper-tiny.en cannot be downloaded (there is no network connection to the hub) and is"
        " not in the local cache; connect to the internet once to download it, or give a local model folder.")
    assert "Traceback" not in done.stderr


def test_a_folder_without_its_processor_config_gets_one_from_config_json(folder, tmp_path, speech_dataset):
    complete = load_processor(folder, read_config(folder))
    (folder / PROCESSOR_CONFIG).unlink()
    config = check_model_folder(folder)
    derived = load_processor(folder, config)
    assert derived.feature_extractor.feature_size == config["num_mel_bins"]
    dataset = speech_dataset(["Hello world.", "What time is it?"], voices=["en-us"])
    audio = load_audio(next(dataset.glob("*.wav")))
    features = [p.feature_extractor(audio, sampling_rate=16000).input_features for p in (complete, derived)]
    np.testing.assert_array_equal(*features)
    out = train(TrainConfig(model=str(folder), dataset=str(dataset), out=str(tmp_path / "run"), epochs=1,
                            batch_size=2), CallbackSink(lambda event: None))
    assert load_processor(out, read_config(out)).feature_extractor.to_dict() == complete.feature_extractor.to_dict()


@pytest.mark.parametrize(("removed", "said"), [
    ("merges.txt", "lacks merges.txt (the tokenizer); copy it from the base model's folder."),
    ("model.safetensors", "has no model.safetensors; it is not a complete Hugging Face model folder."),
    ("config.json", "has no config.json; it is not a Hugging Face model folder."),
])
def test_any_other_missing_file_is_named(folder, removed, said):
    (folder / removed).unlink()
    with pytest.raises(WacftError) as caught:
        check_model_folder(folder)
    assert str(caught.value) == f"{folder} {said}"
