"""What a person meets after the first run (issue 35): the monitor's chart and ETA, the start screen's progress,
and the small things that read wrong; each through the real wizard (`run_test()`) or the real command."""

import json

import pytest
from test_tui import log_text, settle, text
from textual.widgets import Sparkline

from wacft.acft.runs import RunRecord
from wacft.tui.app import WacftApp
from wacft.tui.session import Session

T0 = 1_795_000_000.0


def step(stage, n, total, loss, at, epoch=1, epochs=2):
    return {"type": "step", "stage": stage, "step": n, "total_steps": total, "epoch": epoch, "epochs": epochs,
            "loss": loss, "lr": 1e-6, "context": 180, "clips": 4 * n, "audio_seconds": 6.0 * n,
            "clips_per_second": 2.0, "eta_seconds": 999.0, "time": at}


def a_run(tmp_path, events, status="running") -> RunRecord:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return RunRecord("20261207-080000-tiny.en-a1b2", "local", {"model": "openai/whisper-tiny.en", "out": "runs/tiny"},
                     status=status, created=T0, events=str(path)).save()


async def test_each_stage_is_charted_on_its_own_scale_and_the_eta_comes_from_the_steps(tmp_path, monkeypatch):
    """Stage 1's cross-entropy then ACFT's distance: the chart starts again at the switch, labelled, and the log
    says so once; the ETA is the measured rate after the first step (its 60 s of start-up left out), never the
    trainer's 999 s; each stage 1 epoch is logged once; short audio is in minutes."""
    monkeypatch.setenv("WACFT_HOME", str(tmp_path / "home"))
    events = [step("finetune", 1, 10, 0.8, T0 + 60), step("finetune", 2, 10, 0.5, T0 + 62)]
    events += [{"type": "eval", "stage": "finetune", "epoch": 1, "loss": 0.4, "wer": 0.2, "best": True},
               {"type": "log", "message": "stage 1 epoch 1: held-out loss 0.4, WER 20.0% (best so far)"}]
    events += [step("finetune", 3, 10, 0.3, T0 + 64, epoch=2), step("acft", 4, 10, 4.75, T0 + 70)]
    run = a_run(tmp_path, events)
    app = WacftApp(Session(step="monitor", run_id=run.id), first="monitor")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app, lambda: "ACFT" in text(app, "#loss-label"))
        assert app.screen.query_one("#loss", Sparkline).data == [4.75]  # not beside stage 1's 0.3
        assert log_text(app).count("epoch 1: held-out loss") == 1  # the trainer's line, not the event again
        assert log_text(app).count("ACFT (hidden-state distance) begins: a chart of its own") == 1
        stats = text(app, "#stats")
        assert "ETA after the next step" in stats and "0.4 min of audio seen" in stats  # ACFT's first step
        await pilot.press("ctrl+q")


async def test_the_eta_is_the_rate_of_the_steps_measured_so_far(tmp_path, monkeypatch):
    monkeypatch.setenv("WACFT_HOME", str(tmp_path / "home"))
    run = a_run(tmp_path, [step("acft", 1, 100, 5.0, T0 + 300), step("acft", 2, 100, 4.9, T0 + 302),
                           step("acft", 3, 100, 4.8, T0 + 304)])
    app = WacftApp(Session(step="monitor", run_id=run.id), first="monitor")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app, lambda: "ETA 0:" in text(app, "#stats"))
        assert "ETA 0:03:14" in text(app, "#stats")  # 97 steps left at 2 s each
        assert "loss · ACFT" in text(app, "#loss-label")
        await pilot.press("ctrl+q")


async def test_the_start_screen_shows_a_running_runs_progress(tmp_path, monkeypatch):
    """The record says nothing of its steps while only the trainer writes them: they are read from its events."""
    monkeypatch.setenv("WACFT_HOME", str(tmp_path / "home"))
    a_run(tmp_path, [step("acft", 1, 100, 5.0, T0), step("acft", 7, 100, 4.9, T0 + 2)])
    app = WacftApp(Session(), environment=lambda: [])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app, lambda: app.screen.query_one("#runs").row_count == 1)
        assert app.screen.query_one("#runs").get_row_at(0)[3] == "step 7/100"
        await pilot.press("ctrl+q")


async def test_ticked_and_unticked_differ_in_glyph_not_only_colour(tmp_path, monkeypatch, tiny_en_dir):
    """The model step's radio buttons and checkbox, the convert step's list of types: what is on is drawn
    otherwise than what is off, on a terminal without colour too."""
    from textual.widgets import RadioSet

    from wacft.tui.widgets import CHOSEN, TICKED, UNCHOSEN, UNTICKED, Tick, Ticks

    monkeypatch.setenv("WACFT_HOME", str(tmp_path / "home"))
    app = WacftApp(Session(step="model", model="openai/whisper-base.en"), first="model")
    async with app.run_test(size=(100, 30)) as pilot:
        buttons = list(app.screen.query_one("#size", RadioSet).query("Choice"))
        assert [str(b._button)[1] for b in buttons] == [CHOSEN if b.name == "base" else UNCHOSEN for b in buttons]
        english = app.screen.query_one("#english", Tick)
        assert str(english._button)[1] == TICKED
        english.value = False
        assert str(english._button)[1] == UNTICKED
        await pilot.press("ctrl+q")
    app = WacftApp(Session(step="convert", trained=str(tiny_en_dir)), first="convert")
    async with app.run_test(size=(100, 30)) as pilot:
        types = app.screen.query_one("#types", Ticks)
        await pilot.pause()
        drawn = {types.get_option_at_index(i).value: types.render_line(i).text[1] for i in range(types.option_count)}
        assert drawn == {t: TICKED if t in ("q8_0", "q5_0") else UNTICKED for t in drawn}
        await pilot.press("ctrl+q")


async def test_esc_closes_the_keys_panel_before_it_goes_back(tmp_path, monkeypatch):
    """The panel that ctrl+p's "Keys" opens: Esc closes it and the step stays; a second Esc goes back. Moving to
    another step takes it away."""
    monkeypatch.setenv("WACFT_HOME", str(tmp_path / "home"))
    app = WacftApp(Session(), environment=lambda: [])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        assert app.screen.TITLE.startswith("1 · Dataset")
        app.action_show_help_panel()
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("escape")
        assert not app.screen.query("HelpPanel") and app.screen.TITLE.startswith("1 · Dataset")
        app.action_show_help_panel()
        await pilot.pause()
        app.screen.go("start")
        await pilot.pause()
        app.screen.go("dataset")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")
        await pilot.press("escape")
        assert app.screen.TITLE.startswith("wacft")  # the dataset step's Esc: back to the start
        await pilot.press("ctrl+q")


@pytest.mark.parametrize("speakers, ticked", [("", True), (",speaker\na.wav,hi,ann\nb.wav,ho,bob", False)])
async def test_the_training_step_ticks_other_voices_for_a_folder_of_one_voice(tmp_path, monkeypatch, speakers,
                                                                              ticked):
    """Recordings made elsewhere: ticked where the metadata names no speaker (a person's own), not where it names
    several; either way the person can change it, said in the run's description and kept in the session."""
    from wacft.tui.widgets import Tick

    monkeypatch.setenv("WACFT_HOME", str(tmp_path / "home"))
    (tmp_path / "mine").mkdir()
    rows = "file_name,text\na.wav,hi\nb.wav,ho" if not speakers else f"file_name,text{speakers}"
    (tmp_path / "mine" / "metadata.csv").write_text(rows + "\n")
    app = WacftApp(Session(step="train", model="openai/whisper-tiny.en", dataset=str(tmp_path / "mine"),
                           dataset_clips=40, dataset_seconds=120.0), first="train")
    async with app.run_test(size=(100, 30)) as pilot:
        voices = app.screen.query_one("#voices", Tick)
        assert voices.value == ticked and ("clips of other voices" in text(app, "#what")) == ticked
        assert ("its metadata names no speaker; untick other voices if it holds several" in text(app, "#what")) \
            == ticked
        voices.value = not ticked
        await settle(pilot, app, lambda: ("clips of other voices" in text(app, "#what")) != ticked)
        assert app.session.other_voices is (not ticked) and app.session.settings().other_voices is (not ticked)
        voices.value = ticked
        await settle(pilot, app, lambda: ("clips of other voices" in text(app, "#what")) == ticked)
        assert app.session.other_voices is None  # back to what the dataset asks
        await pilot.press("ctrl+q")


async def test_a_focused_drop_down_stands_out_without_colour(tmp_path, monkeypatch):
    from textual.widgets import Select

    monkeypatch.setenv("WACFT_HOME", str(tmp_path / "home"))
    app = WacftApp(Session(step="train", dataset=str(tmp_path), dataset_clips=40, dataset_seconds=120.0),
                   first="train")
    async with app.run_test(size=(100, 30)) as pilot:
        where = app.screen.query_one("#where", Select)
        current = where.query_one("SelectCurrent")
        assert not current.styles.text_style.reverse
        where.focus()
        await pilot.pause()
        assert current.styles.text_style.reverse and current.styles.text_style.bold
        await pilot.press("ctrl+q")
