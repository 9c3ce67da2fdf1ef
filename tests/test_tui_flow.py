"""The wizard end to end, and where it must say no, driven with Pilot: a real local training process, real
conversion, whisper.cpp, the real adb server with a fake phone, a real Modal token check."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_tui import adb_with, log_text, push_on, settle, text
from textual.widgets import DataTable, Input, Select

from wacft.acft.runs import list_runs
from wacft.extras import beside
from wacft.tui.app import WacftApp
from wacft.tui.session import Session
from wacft.tui.widgets import BinSelect

SLOW = 3000  # tries of 0.1 s: a training process starts torch on a busy 2-core machine


pytestmark = [pytest.mark.usefixtures("wacft_home"), pytest.mark.slow]


@pytest.fixture(scope="module")
def recordings(speech_dataset):
    return speech_dataset(["Good morning.", "See you soon."])  # two voices: four clips


def fill(app, **values) -> None:
    for widget_id, value in values.items():
        app.screen.query_one(f"#{widget_id}", Input).value = value


async def test_from_recordings_to_the_phone(recordings, tiny_en_dir, tmp_path, monkeypatch):
    with adb_with(tmp_path, monkeypatch, {"state": "device"}) as [phone]:
        app = WacftApp(Session())
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("n")
            fill(app, dataset=str(recordings))
            await pilot.press("ctrl+r")
            await settle(pilot, app, lambda: "✓ 4 clips" in text(app, "#report"))
            await pilot.press("ctrl+n")
            assert app.screen.TITLE == "2 · Model"
            fill(app, custom=str(tiny_en_dir))
            await settle(pilot, app, lambda: "folder is complete" in text(app, "#check"))
            await pilot.press("ctrl+n")
            assert app.screen.TITLE == "3 · Training"
            fill(app, epochs="1", batch="1", out=str(tmp_path / "run"))
            await settle(pilot, app, lambda: "rough prior" in text(app, "#estimate"))
            await pilot.press("ctrl+l")
            await settle(pilot, app, lambda: app.screen.TITLE == "Training")
            await settle(pilot, app, lambda: "✓ done" in log_text(app), SLOW)
            assert "ACFT epoch 1/1" in text(app, "#stats")
            await pilot.press("ctrl+n")
            assert app.screen.query_one("#model", Input).value == str(tmp_path / "run")
            await pilot.press("ctrl+r")
            await settle(pilot, app, lambda: "sha256" in text(app, "#result"), SLOW)
            await pilot.press("ctrl+n")
            verified = app.session.bins["q5_0"]  # not the first file: the phone step must follow the verified one
            app.screen.query_one(BinSelect).value = verified
            assert app.screen.query_one("#dataset", Input).value == ""  # the run's own clips
            await pilot.press("ctrl+r")
            await settle(pilot, app, lambda: "✓" in text(app, "#result") or "✗" in text(app, "#result"), SLOW)
            shown = text(app, "#result")
            assert "futo" in shown and "base WER" in shown  # FUTO's own context, beside the base model
            verdict = app.session.verified["verdict"]
            assert app.session.verified["file"] == verified and verdict.split(".")[0] in shown
            # four clips are too few to hold any out: the verdict says what it was measured on
            assert "Measured on clips the model trained on (the dataset had too few clips to hold any out)" in verdict
            await pilot.press("ctrl+n")
            assert app.screen.query_one(BinSelect).chosen == verified
            assert verdict.split(".")[0] in text(app, "#verdict")
            await push_on(pilot, app, phone, Path(verified))
            # the run just timed its steps: the training step now estimates from it, not from the prior
            await app.switch_screen("train")
            await settle(pilot, app, lambda: "from your run" in text(app, "#estimate"))
            assert f"from your run {list_runs()[0].id} (this machine, " in text(app, "#estimate")
        # started again: the phone step still offers the verified file with its verdict
        app = WacftApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await app.switch_screen("push")
            await settle(pilot, app, lambda: verdict.split(".")[0] in text(app, "#verdict"))
            assert app.screen.query_one(BinSelect).chosen == verified


async def test_a_bad_dataset_is_one_sentence_and_no_step_further(tmp_path):
    no_text = tmp_path / "no-text"
    no_text.mkdir()
    (no_text / "metadata.csv").write_text("file_name,words\nclip.wav,hello\n")
    no_audio = tmp_path / "no-audio"
    no_audio.mkdir()
    (no_audio / "metadata.csv").write_text("file_name,text\ngone.wav,hello\n")
    app = WacftApp(Session(step="dataset"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        for folder, sentence in ((no_text, "has no text column"), (no_audio, "has no usable clips")):
            fill(app, dataset=str(folder))
            await pilot.press("ctrl+r")
            await settle(pilot, app, lambda sentence=sentence: sentence in text(app, "#report"))
            assert text(app, "#report").count(".") <= 2  # one sentence, not a traceback
            await pilot.press("ctrl+n")
            assert app.screen.TITLE == "1 · Dataset"


@pytest.mark.parametrize("adb", ["no phone", "no adb"])
async def test_without_a_phone_the_push_step_says_what_to_do(random_whisper, tmp_path, monkeypatch, adb):
    from wacft.convert.convert import convert, plan_outputs

    [model] = convert(str(random_whisper()), plan_outputs(tmp_path / "model.bin", ["q8_0"]))

    async def push_step(expected: str) -> None:
        app = WacftApp(Session(step="push", bins={"q8_0": str(model.path)}))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("c")
            await settle(pilot, app, lambda: expected in text(app, "#result"))
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert expected in text(app, "#result")  # and nothing pushed
            assert app.screen.query_one("#phones", DataTable).row_count == 0

    if adb == "no phone":
        with adb_with(tmp_path, monkeypatch):
            await push_step("No phone is connected")
    else:
        monkeypatch.setenv("ADBUTILS_ADB_PATH", str(tmp_path / "no-adb-here"))
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "1")  # nothing listens there, so adb would be started
        await push_step("adb was not found")


@pytest.fixture
def no_modal_token(tmp_path, monkeypatch):
    """No token anywhere Modal looks: an empty home, an empty config path, none in the environment."""
    empty = tmp_path / "empty-home"
    empty.mkdir()
    monkeypatch.setenv("HOME", str(empty))
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(empty / ".modal.toml"))
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def test_a_fix_with_a_long_path_is_shown_whole_at_80_columns():
    """CI's checkout lives deeper than a developer's, so `modal`'s path there is longer than a column."""
    from rich.console import Console

    from wacft.checks import Check
    from wacft.tui.screens.start import checks_table

    run_it = "/a/checkout/somewhere/deep/under/the/ci/home/.venv/bin/modal token new"
    console = Console(width=80, record=True)
    console.print(checks_table([Check("Modal token", False, "none", f"run `{run_it}` to train on Modal GPUs")]))
    assert "".join(run_it.split()) in "".join(console.export_text().split())


async def test_without_a_modal_token_the_check_says_so_and_a_modal_launch_is_refused(no_modal_token, tmp_path):
    app = WacftApp(Session(step="train", model="openai/whisper-tiny.en", dataset=str(tmp_path),
                           dataset_clips=40, dataset_seconds=120.0, out=str(tmp_path / "run")))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.screen.checks)
        modal = next(c for c in app.screen.checks if c.name == "Modal token")
        run_it = f"{beside('modal')} token new"  # modal's path where it is not on PATH
        assert not modal.ok and f"run `{run_it}`" in modal.fix
        assert "".join(run_it.split()) in "".join(text(app, "#checks").split())  # wrapped at 80 columns
        await pilot.press("c")
        app.screen.query_one("#where", Select).value = "modal"
        await settle(pilot, app, lambda: "on a Modal A100-40GB, about $" in text(app, "#estimate"))
        await pilot.press("ctrl+l")
        await settle(pilot, app, lambda: "✗" in text(app, "#status"), SLOW)
        assert f"No Modal token is configured; run `{run_it}`" in text(app, "#status")
        assert app.screen.TITLE == "3 · Training" and not list_runs()


async def test_an_earlier_run_is_cancelled_then_resumed_from_the_start_screen(recordings, tiny_en_dir, tmp_path):
    """Launched elsewhere (as by `wacft train --on local`), picked on the start screen, watched, cancelled
    with confirmation, and resumed from its last checkpoint to the end."""
    from wacft.acft.backends import LocalBackend
    from wacft.acft.config import TrainConfig

    config = TrainConfig(model=str(tiny_en_dir), dataset=str(recordings), out=str(tmp_path / "run"), epochs=3,
                         batch_size=1, lr=1e-5, checkpoint_every=1)
    elsewhere = LocalBackend()
    first = elsewhere.launch(config)
    # as the shell around `wacft train --on local` would, the launcher reaps its child once it ends
    reaper = threading.Thread(target=elsewhere.children[first.pid].wait, daemon=True)
    reaper.start()
    app = WacftApp(Session(step="start"))
    async with app.run_test(size=(80, 24)) as pilot:
        runs = app.screen.query_one("#runs", DataTable)
        await settle(pilot, app, lambda: runs.row_count == 1)
        runs.focus()
        await pilot.press("enter")
        await settle(pilot, app, lambda: app.screen.TITLE == "Training")
        await settle(pilot, app, lambda: "checkpoint at step 1" in log_text(app), SLOW)
        await pilot.press("x")
        assert app.screen.question == "Cancel this run? Its last checkpoint is kept."
        await pilot.press("y")
        await settle(pilot, app, lambda: "r resumes it" in log_text(app), SLOW)
        assert "✗ cancelled" in log_text(app)
        await pilot.press("r")
        await settle(pilot, app, lambda: "✓ done" in log_text(app), SLOW)
        assert "resuming acft at epoch" in log_text(app)
    reaper.join()
    statuses = {r.id: r.status for r in list_runs()}
    assert statuses[first.id] == "cancelled" and list(statuses.values()).count("done") == 1
    assert (tmp_path / "run" / "model.safetensors").is_file()


async def test_a_run_cancelled_from_another_process_is_shown_cancelled(recordings, tiny_en_dir, tmp_path):
    """The monitor follows a run while `wacft cancel RUN`, in another process, stops it."""
    from wacft.acft.backends import LocalBackend
    from wacft.acft.config import TrainConfig

    config = TrainConfig(model=str(tiny_en_dir), dataset=str(recordings), out=str(tmp_path / "run"), epochs=50,
                         batch_size=1, lr=1e-5)
    elsewhere = LocalBackend()
    record = elsewhere.launch(config)
    reaper = threading.Thread(target=elsewhere.children[record.pid].wait, daemon=True)
    reaper.start()
    app = WacftApp(Session(step="monitor", run_id=record.id))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        await settle(pilot, app, lambda: "ACFT epoch" in text(app, "#stats"), SLOW)  # following it, live
        await pilot.press("x")
        assert app.screen.question == "Cancel this run? It has no checkpoint yet: launched again, it starts over."
        await pilot.press("n")
        cancel = subprocess.run([sys.executable, "-m", "wacft.cli", "cancel", record.id], capture_output=True,
                                text=True, timeout=60)
        assert cancel.returncode == 0, cancel.stderr
        await settle(pilot, app, lambda: "✗ cancelled" in log_text(app), SLOW)
        # stopped before its first checkpoint (every 200 steps): nothing to resume, and the wizard says so
        said = lambda: " ".join(log_text(app).split())  # noqa: E731  (as read, not as wrapped)
        assert "failed" not in said() and "r resumes it" not in said()
        assert "stopped before its first checkpoint: esc goes back to the training step to launch it again" in said()
        await pilot.press("r")
        await settle(pilot, app, lambda: "so there is nothing to resume; launch it again from the start" in said())
        await pilot.press("escape")
        await settle(pilot, app, lambda: app.screen.TITLE == "3 · Training")
    reaper.join(30)
    assert [r.status for r in list_runs()] == ["cancelled"]


async def test_the_estimate_follows_the_settings_and_the_launch_takes_stage_one(recordings, tiny_en_dir, tmp_path):
    from wacft.acft.estimate import estimate
    from wacft.services.runs import cancel

    session = Session(step="train", model=str(tiny_en_dir), dataset=str(recordings), dataset_clips=400,
                      dataset_seconds=1200.0, out=str(tmp_path / "run"))
    app = WacftApp(session)

    def expected(gpu=None):
        return estimate(app.session.settings(), 400, 1200.0, gpu).describe()

    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        shown = lambda: text(app, "#estimate")  # noqa: E731
        await settle(pilot, app, lambda: shown() == expected())
        acft_only = shown()
        fill(app, finetune="2")
        app.screen.query_one("#objective", Select).value = "joint"
        await settle(pilot, app, lambda: shown() == expected() != acft_only)
        app.screen.query_one("#where", Select).value = "modal"
        await settle(pilot, app, lambda: shown() == expected("A100-40GB"))
        app.screen.query_one("#gpu", Select).value = "H100"
        await settle(pilot, app, lambda: shown() == expected("H100") and "$4.27/h" in shown())
        app.screen.query_one("#where", Select).value = "local"
        await pilot.click("#freeze")
        fill(app, epochs="1", batch="2")
        await pilot.press("ctrl+l")
        await settle(pilot, app, lambda: app.screen.TITLE == "Training")
        [record] = list_runs()
        cancel(record)  # what it was launched with is all this test needs
        assert {k: record.config[k] for k in ("finetune_epochs", "objective", "freeze_encoder", "epochs")} == {
            "finetune_epochs": 2, "objective": "joint", "freeze_encoder": True, "epochs": 1}
        assert Session.load().finetune_epochs == 2
