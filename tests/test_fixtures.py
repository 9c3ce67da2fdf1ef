"""The offline fixtures are what they claim: tiny.en's real dimensions, and speech as Whisper wants it."""

import json

import soundfile
from fixtures.speech import make_speech_dataset
from safetensors import safe_open


def test_tiny_en_rebuild_has_the_real_dimensions(tiny_en_dir):
    config = json.loads((tiny_en_dir / "config.json").read_text())
    assert (config["d_model"], config["encoder_layers"], config["vocab_size"]) == (384, 4, 51864)
    with safe_open(tiny_en_dir / "model.safetensors", "numpy") as f:
        names = set(f.keys())
        assert f.get_slice("model.decoder.embed_tokens.weight").get_shape() == [51864, 384]
        assert f.get_slice("model.encoder.layers.0.self_attn.q_proj.weight").get_shape() == [384, 384]
    assert "model.encoder.layers.0.self_attn.k_proj.bias" not in names  # Whisper's keys have no bias
    assert len(names) == 167
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "preprocessor_config.json", "generation_config.json"):
        assert (tiny_en_dir / name).is_file()


def test_speech_is_16khz_mono_and_cached(speak):
    path = speak("Hello there, how are you?", voice="en-gb")
    info = soundfile.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert 1.0 < info.duration < 4.0
    assert speak("Hello there, how are you?", voice="en-gb") == path
    assert speak("Hello there, how are you?", voice="en-us") != path


def test_speech_dataset_is_an_audiofolder(tmp_path):
    folder = make_speech_dataset(tmp_path / "ds", ["One two three.", "Good morning."], voices=["en-us", "en-gb"])
    lines = (folder / "metadata.csv").read_text().splitlines()
    assert lines[0] == "file_name,text" and len(lines) == 5
    assert all((folder / line.split(",")[0]).is_file() for line in lines[1:])


def test_random_whisper_options(random_whisper):
    sharded = random_whisper(sharded=True)
    assert (sharded / "model.safetensors.index.json").is_file()
    only_json = random_whisper(tokenizer="tokenizer.json")
    assert (only_json / "tokenizer.json").is_file() and not (only_json / "vocab.json").exists()
    multilingual = json.loads((random_whisper(multilingual=True) / "config.json").read_text())
    assert multilingual["vocab_size"] == 51865 and "max_length" not in multilingual
