"""The real capture path: sounddevice over PortAudio over ALSA, whose default device is ALSA's `file`
plugin reading what the microphone "hears" from a file (espeak-ng speech between stretches of room noise)
and writing what is played to another. ALSA's null device under it runs unpaced, so a take takes
milliseconds; the recorder stops it at the pause after the speech, as it would with a person."""

import numpy as np
import pytest
import soundfile

from wacft.audio import PAD
from wacft.errors import WacftError
from wacft.record.capture import BLOCK, PAUSE_SECONDS, Take, play, trimmed
from wacft.record.folder import RecordingFolder
from wacft.record.levels import judge

pytestmark = pytest.mark.e2e

NOISE_DB = -60


class FedMicrophone:
    def __init__(self, folder, monkeypatch):
        self.fed, self.played = folder / "fed.raw", folder / "played.raw"
        conf = folder / "asoundrc"
        conf.write_text(f'pcm.!default {{ type file slave.pcm "null" file "{self.played}" infile "{self.fed}"'
                        ' format "raw" }\n')
        monkeypatch.setenv("ALSA_CONFIG_PATH", f"/usr/share/alsa/alsa.conf:{conf}")

    def feed(self, speech: np.ndarray, before=0.6, after=2.0, seed=0) -> np.ndarray:
        """What the microphone hears, as 16-bit samples: noise, the speech, noise. The file holds them as
        float32, the format the recorder opens the device in (the plugin passes the file's bytes as they are)."""
        rng = np.random.default_rng(seed)

        def noise(seconds):
            return rng.normal(0, 10 ** (NOISE_DB / 20), int(16000 * seconds))

        heard = np.concatenate([noise(before), speech, noise(after)])
        pcm = np.clip(np.round(heard * 32768), -32768, 32767).astype("<i2")
        (pcm / np.float32(32768)).astype("<f4").tofile(self.fed)
        return pcm

    def played_back(self) -> np.ndarray:
        return np.fromfile(self.played, dtype="<f4")  # PortAudio plays float32


@pytest.fixture
def microphone(tmp_path, monkeypatch):
    return FedMicrophone(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def said(speak):
    samples, rate = soundfile.read(speak("Please send the notes to Anja Müller."), dtype="float32")
    assert rate == 16000
    return samples


def speech_extent(samples):
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return loud[0], loud[-1]


def test_a_take_is_trimmed_to_the_speech_and_kept_sample_for_sample(microphone, said, tmp_path):
    fed = microphone.feed(said)
    take = Take().start()
    assert take.ended.wait(10)  # the pause after the speech ended it
    audio = take.stop()
    first, last = speech_extent(said)
    offset = int(0.6 * 16000)
    assert abs(take.seconds - (offset + last) / 16000 - PAUSE_SECONDS) <= 3 * BLOCK  # block-wise, not sample-wise
    # the meter's levels: the room's noise while nothing is said, then the speech
    assert take.levels[0] == pytest.approx(NOISE_DB, abs=1) and max(take.levels) > -25
    clip, (start, end) = trimmed(audio)
    assert offset + first - PAD * 16000 - 480 <= start <= offset + first
    assert offset + last < end <= offset + last + PAD * 16000 + 480
    assert judge(clip).problem == ""
    name = RecordingFolder(tmp_path / "mine").keep(clip, "Please send the notes to Anja Müller.")
    kept, rate = soundfile.read(tmp_path / "mine" / name, dtype="int16")
    assert rate == 16000
    np.testing.assert_array_equal(kept, fed[start:end])  # what was heard, unchanged


def test_playback_sends_the_clip_to_the_speaker(microphone, said):
    microphone.feed(said)
    clip = said[speech_extent(said)[0]:][:8000]  # starts with a sound, so it is found after the priming
    play(clip)
    import sounddevice

    sounddevice.wait()
    played = microphone.played_back()
    begin = np.flatnonzero(played)[0]  # PortAudio primes the device with silence
    np.testing.assert_array_equal(played[begin:begin + 8000], clip)


@pytest.mark.parametrize(("gain", "problem"), [(8.0, "clipped"), (0.02, "too quiet"), (0.0, "Nothing was heard")])
def test_clipped_quiet_and_silent_takes_are_flagged(microphone, said, gain, problem):
    microphone.feed(said * gain)
    take = Take(max_seconds=3.0).start()
    assert take.ended.wait(10)
    assert problem in judge(take.stop()).problem


def test_a_take_stops_when_asked_and_at_the_longest_clip(microphone, said):
    microphone.feed(np.tile(said, 4), after=0)
    take = Take(max_seconds=2.0, pause=None).start()
    assert take.ended.wait(10)
    assert len(take.stop()) == pytest.approx(2.0 * 16000, abs=800)


def test_no_microphone_is_one_sentence(monkeypatch, tmp_path):
    # an ALSA configuration whose only device is a sound card that is not there (alsa-lib aborts on an empty one)
    (tmp_path / "none").write_text("pcm.!default { type hw card 99 }\n")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(tmp_path / "none"))
    with pytest.raises(WacftError, match="No microphone found"):
        Take()


def test_without_sounddevice_the_recorder_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if the `record` extra were not installed
    with pytest.raises(WacftError, match=r"pip install 'wacft\[record\]'"):
        Take()
