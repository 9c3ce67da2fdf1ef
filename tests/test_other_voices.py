"""Other voices mixed into one person's recordings: espeak-ng speaks them at training time, a folder of one voice
(`wacft record`'s, or one that names one speaker or none) gets them unless told otherwise, and a machine without
espeak-ng is told what to do."""

import json
import shutil

import numpy as np
import pytest
from fixtures.events import run
from fixtures.speech import make_speech_dataset

from wacft.acft import other_voices
from wacft.acft.config import TrainConfig
from wacft.acft.estimate import model_dims, plan
from wacft.acft.events import CallbackSink
from wacft.acft.trainer import Trainer
from wacft.audio import load_audio
from wacft.errors import WacftError
from wacft.facts import OTHER_VOICE_CLIPS, OTHER_VOICE_SENTENCES, OTHER_VOICES
from wacft.record.folder import RecordingFolder

SAID = ["Hello world.", "What time is it?"]


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    return make_speech_dataset(tmp_path_factory.mktemp("spoken"), SAID, voices=["en-us"])


@pytest.fixture
def recording(spoken, tmp_path):
    """A folder as the record step leaves it: the session started, two takes kept."""
    folder = RecordingFolder(tmp_path / "mine")
    folder.start([], [])
    for i, text in enumerate(SAID):
        folder.keep(load_audio(spoken / f"clip{i:03d}_en-us.wav"), text)
    return folder.path


def settings(model, dataset, out, **overrides):
    return TrainConfig(model=str(model), dataset=str(dataset), out=str(out), epochs=1, batch_size=4, **overrides)


@pytest.mark.parametrize("language", list(OTHER_VOICES))
def test_every_sentence_in_every_voice_as_16khz_speech(language):
    clips = other_voices.other_voice_clips(language)
    sentences, voices = other_voices.sentences(language), OTHER_VOICES[language]
    assert len(sentences) == OTHER_VOICE_SENTENCES and len(voices) * len(sentences) == OTHER_VOICE_CLIPS
    assert [c.text for c in clips] == [s for s in sentences for _ in voices]
    audio = [c.audio for c in clips]
    assert all(a.dtype == np.float32 and 0.5 < len(a) / 16000 < 5 for a in audio)
    assert [c.seconds for c in clips] == [len(a) / 16000 for a in audio]
    assert all(np.abs(a).max() > 0.1 for a in audio)  # speech, not silence
    first = audio[: len(voices)]  # one sentence, each voice: three different recordings
    assert len({(len(a), round(float(np.abs(a).mean()), 4)) for a in first}) == len(first)
    # the time estimate counts on their length; espeak-ng releases may say them a little faster or slower
    assert sum(c.seconds for c in clips) == pytest.approx(other_voices.SECONDS[language], rel=0.2)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """A folder whose metadata names two speakers, as a corpus of many voices does."""
    return make_speech_dataset(tmp_path_factory.mktemp("many"), SAID, voices=["en-us", "en-gb"])


@pytest.fixture
def unnamed(spoken, tmp_path):
    """One person's recordings made elsewhere: file_name and text, no speaker named."""
    folder = tmp_path / "unnamed"
    shutil.copytree(spoken, folder)
    lines = (folder / "metadata.csv").read_text().splitlines()
    (folder / "metadata.csv").write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    return folder


def test_a_recording_trains_with_them_and_a_folder_of_many_voices_does_not(random_whisper, recording, many,
                                                                           tmp_path):
    model = random_whisper()
    mixed = run(settings(model, recording, tmp_path / "recorded"))
    messages = [e.get("message", "") for e in mixed.events]
    assert f"{OTHER_VOICE_CLIPS} clips of other voices (espeak-ng) mixed in (the dataset is a folder `wacft record`" \
           " made)" in "\n".join(messages)
    assert mixed.of("step")[-1]["clips"] == len(SAID) + OTHER_VOICE_CLIPS
    assert "36 clips of other voices (espeak-ng) mixed into the dataset" in (
        tmp_path / "recorded" / "README.md").read_text()
    plain = run(settings(model, many, tmp_path / "plain"))
    assert plain.of("step")[-1]["clips"] == 2 * len(SAID)
    assert not any("other voices" in e.get("message", "") for e in plain.events)


def test_a_folder_is_one_voice_unless_it_names_several_speakers(recording, spoken, unnamed, many, tmp_path):
    assert "speaker" not in (unnamed / "metadata.csv").read_text() and ",en-us" in (
        spoken / "metadata.csv").read_text()
    assert [other_voices.one_voice(str(d)) for d in (recording, unnamed, spoken, many)] == [
        "a folder `wacft record` made", "a folder that names no speaker", "a folder that names one speaker", None]
    # a hub id, or a folder without metadata (files `datasets` reads itself), is not taken as one voice
    assert other_voices.one_voice("openslr/librispeech_asr") is None and other_voices.one_voice(str(tmp_path)) is None
    speakers = tmp_path / "jsonl"
    speakers.mkdir()
    (speakers / "metadata.jsonl").write_text('{"file_name": "a.wav", "text": "a", "client_id": 7}\n'
                                             '{"file_name": "b.wav", "text": "b", "client_id": 7}\n')
    assert other_voices.one_voice(str(speakers)) == "a folder that names one speaker"
    (speakers / "metadata.jsonl").write_text('{"file_name": "a.wav", "text": "a", "client_id": 7}\n'
                                             '{"file_name": "b.wav", "text": "b", "client_id": 8}\n')
    assert other_voices.one_voice(str(speakers)) is None
    # a run in a language they are not spoken in, or one that says, decides for itself
    assert not other_voices.wanted(TrainConfig(model="m", dataset=str(unnamed), out="o", language="ja"))
    assert not other_voices.wanted(TrainConfig(model="m", dataset=str(unnamed), out="o", other_voices=False))


@pytest.mark.parametrize("asked", [False, True])
def test_the_setting_overrides_what_the_dataset_decides(random_whisper, recording, many, tmp_path, asked):
    for dataset, clips in ((recording, len(SAID)), (many, 2 * len(SAID))):
        trainer = Trainer(settings(random_whisper(), dataset, tmp_path / "run", other_voices=asked),
                          CallbackSink(lambda event: None))
        trainer.load_data()
        assert len(trainer.clips) == clips + OTHER_VOICE_CLIPS * asked


def test_without_espeak_ng_training_says_what_to_do_before_it_starts(random_whisper, recording, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))
    with pytest.raises(WacftError, match=r"espeak-ng.* is not installed; install it \(sudo apt-get install "
                                         r"espeak-ng\), or train with --no-other-voices\.$"):
        run(settings(random_whisper(), recording, tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_the_estimate_counts_them(recording, many, tiny_en_dir):
    dims = model_dims(str(tiny_en_dir))
    [recorded] = plan(settings(tiny_en_dir, recording, "o"), dims, clips=2, audio_seconds=3.0)
    [plain] = plan(settings(tiny_en_dir, many, "o"), dims, clips=2, audio_seconds=3.0)
    assert (recorded.steps_per_epoch, plain.steps_per_epoch) == (10, 1)  # 38 clips in batches of 4, and 2


def test_the_command_line_asks_for_them_or_leaves_them_to_the_dataset():
    from wacft.cli import build_parser
    from wacft.services.settings import train_settings

    def asked(*flags):
        args = build_parser().parse_args(["train", "--model", "m", "--dataset", "d", *flags])
        return train_settings(vars(args)).other_voices

    assert (asked(), asked("--other-voices"), asked("--no-other-voices")) == (None, True, False)


def test_the_start_screen_says_whether_espeak_ng_is_here(tmp_path, monkeypatch):
    from wacft.checks import environment

    real = shutil.which("espeak-ng")
    programs = tmp_path / "programs"
    programs.mkdir()
    monkeypatch.setenv("PATH", str(programs))
    [missing] = [c for c in environment() if c.name == "espeak-ng"]
    assert not missing.ok and "install your distribution's `espeak-ng` package" in missing.fix
    (programs / "espeak-ng").symlink_to(real)
    [found] = [c for c in environment() if c.name == "espeak-ng"]
    assert found.ok and found.detail == str(programs / "espeak-ng") and not found.fix


def test_a_recording_in_a_language_they_do_not_speak_trains_without_them(recording):
    def config(**settings):
        return TrainConfig(model="m", dataset=str(recording), out="o", **settings)

    assert other_voices.wanted(config(language="en")) and other_voices.wanted(config(language="German"))
    assert not other_voices.wanted(config(language="sv")) and not other_voices.wanted(config(language="de",
                                                                                             other_voices=False))
    with pytest.raises(WacftError, match=r"^The other voices speak English, German, .*, not Swedish; train with"
                                         r" --no-other-voices\.$"):
        other_voices.other_voice_clips("sv")


def test_a_run_saved_before_them_resumes_without_them(recording):
    written = json.loads(TrainConfig(model="m", dataset=str(recording), out="o").to_json())
    assert written.pop("other_voices") is None
    assert other_voices.wanted(TrainConfig.from_json(json.dumps(written)))  # a new run of a recording: with them
    assert not other_voices.wanted(TrainConfig.from_json(json.dumps(written), saved=True))  # as it trained
