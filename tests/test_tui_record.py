"""The record step driven with Pilot over the real capture path (PortAudio over ALSA's file plugin, fed with
espeak-ng speech; see test_record_capture): propose, record, play back, redo, skip, reword, keep, quit with a
take not kept, reopen where it stopped, and hand the folder to the dataset step."""

import csv

import numpy as np
import pytest
import soundfile
from test_record_capture import FedMicrophone, speech_extent
from test_tui import settle, text
from textual.widgets import Input

from wacft.tui.app import WacftApp
from wacft.tui.session import Session

pytestmark = pytest.mark.usefixtures("wacft_home")


@pytest.fixture
def microphone(tmp_path, monkeypatch):
    return FedMicrophone(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def said(speak):
    samples, _ = soundfile.read(speak("I pushed the fix to GitHub."), dtype="float32")
    return samples


def rows(folder):
    with open(folder / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


def found_in(heard, clip) -> int:
    """Where `clip` lies in `heard`, sample for sample."""
    for start in np.flatnonzero(heard[: len(heard) - len(clip) + 1] == clip[0]):
        if np.array_equal(heard[start:start + len(clip)], clip):
            return int(start)
    raise AssertionError("the clip is not a stretch of what the microphone heard")


def prompt_text(app) -> str:
    return text(app, "#prompt").splitlines()[-1]


async def test_record_play_redo_skip_reword_quit_and_resume(microphone, said, tmp_path):
    fed = microphone.feed(said)
    folder = tmp_path / "mine"
    app = WacftApp(Session())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "ctrl+t")
        assert app.screen.TITLE == "0 · Record your own"
        app.screen.query_one("#folder", Input).value = str(folder)
        app.screen.query_one("#terms", Input).value = "GitHub, Grafana"
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "to go" in text(app, "#prompt"))
        assert app.screen.query_one("#terms", Input).value == "GitHub, Grafana"  # the words stay where they were typed
        first = prompt_text(app)
        await pilot.press("space")
        await settle(pilot, app, lambda: "k keeps" in text(app, "#take"))  # stopped at the pause after speech
        assert "✓" in text(app, "#take")
        await pilot.press("p")
        await settle(pilot, app, lambda: microphone.played.exists() and np.any(microphone.played_back()))
        await pilot.press("r")  # redo: a new take of the same sentence
        await settle(pilot, app, lambda: "k keeps" in text(app, "#take"))
        await pilot.press("k")
        await settle(pilot, app, lambda: prompt_text(app) != first)
        [kept] = rows(folder)
        assert kept["text"] == first
        audio, _ = soundfile.read(folder / kept["file_name"], dtype="int16")
        start = found_in(fed, audio)  # the clip is a stretch of what was heard, sample for sample
        assert start <= int(0.6 * 16000) + speech_extent(said)[0]
        assert "1 clips, 0.0 min" in text(app, "#summary")

        skipped = prompt_text(app)
        await pilot.press("s")
        await settle(pilot, app, lambda: prompt_text(app) != skipped)
        await pilot.press("e")
        app.screen.query_one("#edit", Input).value = "my own way to say GitHub"
        await pilot.press("enter")
        await settle(pilot, app, lambda: prompt_text(app) == "my own way to say GitHub")
        await pilot.press("space")
        await settle(pilot, app, lambda: "k keeps" in text(app, "#take"))
        await pilot.press("k")
        await settle(pilot, app, lambda: len(rows(folder)) == 2)
        assert rows(folder)[1]["text"] == "my own way to say GitHub"
        now = prompt_text(app)
        await pilot.press("space")  # a take never kept, then quit
        await pilot.press("ctrl+q")
    assert len(rows(folder)) == 2

    again = WacftApp(Session.load())
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")  # carry on: the record step, where it stopped
        await settle(pilot, again, lambda: "to go" in text(again, "#prompt"))
        assert prompt_text(again) == now
        assert again.screen.query_one("#terms", Input).value == "GitHub, Grafana"
        assert "2 clips" in text(again, "#summary")
        await pilot.press("ctrl+n")
        assert again.screen.TITLE == "1 · Dataset"
        assert again.screen.query_one("#dataset", Input).value == str(folder)
        await pilot.press("ctrl+r")
        await settle(pilot, again, lambda: "✓ 2 clips" in text(again, "#report"))
        assert again.session.finetune_epochs > 0  # recorded words need stage 1
        assert again.session.glossary == "GitHub, Grafana"  # and are the personal dictionary's glossary


async def test_wacft_record_opens_on_the_step_and_a_missing_microphone_is_one_line(tmp_path, monkeypatch):
    from wacft.record.folder import RecordingFolder
    from wacft.record.prompts import propose

    (tmp_path / "none").write_text("pcm.!default { type hw card 99 }\n")  # no sound card at all
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(tmp_path / "none"))
    RecordingFolder(tmp_path / "mine").start(["GitHub"], propose(["GitHub"], per_term=1, dictations=1))
    app = WacftApp(Session(record_folder=str(tmp_path / "mine")), first="record")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.TITLE == "0 · Record your own"
        await pilot.press("space")
        await settle(pilot, app, lambda: "No microphone found" in text(app, "#take"))
        assert app.screen.take is None


async def test_a_silent_take_cannot_be_kept(microphone, said, tmp_path):
    from wacft.record.folder import RecordingFolder
    from wacft.record.prompts import propose

    microphone.feed(said * 0)  # the microphone is muted: room noise only
    RecordingFolder(tmp_path / "mine").start(["GitHub"], propose(["GitHub"], per_term=1, dictations=1))
    app = WacftApp(Session(record_folder=str(tmp_path / "mine")), first="record")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("space")
        await settle(pilot, app, lambda: "Nothing was heard" in text(app, "#take"))
        await pilot.press("k")
        await pilot.pause()
        assert RecordingFolder(tmp_path / "mine").rows == []
        assert "Nothing was heard" in text(app, "#take")


def test_the_meter_shows_the_level_between_silence_and_full_scale():
    from wacft.tui.screens.record import METER_WIDTH, meter

    assert meter(-90, 0.0).count("█") == 0 and meter(-90, 0.0).count("░") == METER_WIDTH
    assert meter(-30, 1.5).count("█") == METER_WIDTH // 2 and "1.5 s" in meter(-30, 1.5)
    assert "[red]" + "█" * METER_WIDTH in meter(-1, 2.0)  # near full scale: red, as clipping is near
