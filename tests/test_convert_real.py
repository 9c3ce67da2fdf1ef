"""OpenAI's real tiny.en weights: what whisper.cpp transcribes from our .bin is what transformers transcribes
from the Hugging Face folder it came from."""

import re

import jiwer
import pytest

from wacft.audio import load_audio
from wacft.convert.convert import convert, plan_outputs
from wacft.verify.whispercpp import Clip, transcribe

pytestmark = pytest.mark.slow

SENTENCES = [
    ("Please send the report to my manager before Friday.", "en-us"),
    ("Can you remind me to call my mother this evening?", "en-gb-x-rp"),
    ("We should meet at the station tomorrow morning.", "en-us"),
    ("The weather is nice today, so we are going for a walk in the park.", "en-gb"),  # tiny.en mishears the start
]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def words(text: str) -> str:
    return re.sub(r"[^\w\s']", "", text.lower())


@pytest.fixture(scope="module")
def clips(speak):
    return [speak(text, voice=voice) for text, voice in SENTENCES]


@pytest.fixture(scope="module")
def transformers_text(tiny_en_dir, clips):
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    processor = WhisperProcessor.from_pretrained(tiny_en_dir)
    model = WhisperForConditionalGeneration.from_pretrained(tiny_en_dir).eval()
    texts = []
    for clip in clips:
        features = processor(load_audio(clip), sampling_rate=16000, return_tensors="pt").input_features
        with torch.no_grad():
            tokens = model.generate(features, max_new_tokens=128)
        texts.append(normalise(processor.batch_decode(tokens, skip_special_tokens=True)[0]))
    return texts


@pytest.fixture(scope="module")
def whisper_cpp_text(tiny_en_dir, clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "tiny_en.bin"
    results = convert(str(tiny_en_dir), plan_outputs(out, ["f16", "q8_0", "q5_0"]))
    return {r.file_type.name: [normalise(t.text) for t in transcribe(r.path, [Clip(c) for c in clips])]
            for r in results}


def test_transformers_hears_the_sentences(transformers_text):
    """The rebuilt weights are really tiny.en: the reference side of the comparison is sound."""
    references = [words(text) for text, _ in SENTENCES]
    assert jiwer.wer(references, [words(t) for t in transformers_text]) < 0.15


@pytest.mark.parametrize("file_type", ["f16", "q8_0"])
def test_whisper_cpp_matches_transformers_exactly(transformers_text, whisper_cpp_text, file_type):
    assert whisper_cpp_text[file_type] == transformers_text


def test_q5_0_stays_close(transformers_text, whisper_cpp_text):
    assert jiwer.wer(transformers_text, whisper_cpp_text["q5_0"]) < 0.1
