"""The wizard driven as a person would, with Textual's Pilot: real screens, real workers, real files."""

import io
from contextlib import contextmanager
from pathlib import Path

import pytest
from fixtures.speech import make_speech_dataset
from rich.console import Console
from textual.widgets import DataTable, Input, RichLog, SelectionList, Static

from wacft.acft.runs import RunRecord
from wacft.tui.app import WacftApp
from wacft.tui.session import Session

pytestmark = pytest.mark.usefixtures("wacft_home")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_speech_dataset(tmp_path_factory.mktemp("speech"), ["Good morning.", "See you soon."], ["en-us"])


def text(app, selector) -> str:
    """What a Static shows, as plain text (a Rich table in it rendered as the screen renders it)."""
    from textual.content import Content

    visual = app.screen.query_one(selector, Static).render()
    if isinstance(visual, Content):
        return str(visual)
    console = Console(width=app.size.width, file=io.StringIO())
    console.print(getattr(visual, "_renderable", visual))
    return console.file.getvalue()


def log_text(app) -> str:
    return "\n".join(line.text for line in app.screen.query_one("#log", RichLog).lines)


async def settle(pilot, app, until, tries=600):
    for _ in range(tries):
        await pilot.pause(0.1)
        if until():
            return
    raise AssertionError("the screen never got there")


async def test_start_screen_shows_the_environment_and_earlier_runs():
    RunRecord("20261124-run", "local", {"model": "openai/whisper-tiny.en", "out": "/x"}, status="done").save()
    app = WacftApp()
    async with app.run_test(size=(120, 40)) as pilot:
        runs = app.screen.query_one("#runs", DataTable)
        await settle(pilot, app, lambda: app.screen.checks and runs.row_count)
        shown = [line.split()[0] for line in text(app, "#checks").splitlines()[1:] if line[:1] != " "]
        assert shown == ["Modal", "Hugging", "adb", "espeak-ng", "Local"]  # a row each (a fix may wrap)
        assert not app.screen.query_one("#extras").display  # every extra is installed here: nothing about them
        assert runs.get_row_at(0)[0] == "20261124-run"
        await pilot.press("n")
        assert app.screen.TITLE.startswith("1 · Dataset")


async def test_dataset_step_checks_in_the_background(dataset, tmp_path):
    app = WacftApp(Session(step="dataset"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        await pilot.click("#dataset")
        app.screen.query_one("#dataset", Input).value = str(tmp_path / "nothing-here")
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "There is no folder" in text(app, "#report"))
        await pilot.press("ctrl+n")
        assert app.screen.TITLE.startswith("1 · Dataset")  # not checked: no moving on
        app.screen.query_one("#dataset", Input).value = str(dataset)
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "2 clips" in text(app, "#report"))
        assert "0-2" in text(app, "#report")  # the length histogram
        await pilot.press("ctrl+n")
        assert app.screen.TITLE.startswith("2 · Model")
    assert Session.load().dataset == str(dataset) and Session.load().step == "model"


async def test_convert_step_shows_sizes_and_writes_files(tiny_en_dir, tmp_path):
    app = WacftApp(Session(step="convert", trained=str(tiny_en_dir)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        out = app.screen.query_one("#out", Input)
        assert Path(out.value).parent == tiny_en_dir  # beside the trained model, by default
        out.value = str(tmp_path / "run" / "model.bin")  # (not into the shared fixture)
        types = app.screen.query_one("#types", SelectionList)
        await settle(pilot, app, lambda: "MB" in str(types.get_option_at_index(0).prompt))
        assert str(types.get_option_at_index(1).prompt).startswith("q8_0  44 MB")
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "sha256" in text(app, "#result"))
    bins = Session.load().bins
    assert bins == {t: str(tmp_path / "run" / f"model_{t}.bin") for t in ("q8_0", "q5_0")}
    assert all(Path(path).is_file() for path in bins.values())


@pytest.mark.slow
async def test_train_and_monitor_a_local_run(tiny_en_dir, dataset, tmp_path):
    session = Session(step="train", model=str(tiny_en_dir), dataset=str(dataset), dataset_clips=2,
                      dataset_seconds=3.0, out=str(tmp_path / "run"), epochs=1, batch_size=2, lr=1e-5)
    app = WacftApp(session)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        app.screen.query_one("#epochs", Input).value = "1"
        await pilot.press("ctrl+l")
        await settle(pilot, app, lambda: app.screen.TITLE == "Training")
        await settle(pilot, app, lambda: bool(Session.load().trained) or app.session.trained)
        assert "epoch 1/1" in text(app, "#stats")
        await pilot.press("ctrl+n")
        assert app.screen.TITLE.startswith("4 · Convert")
    assert (tmp_path / "run" / "model.safetensors").is_file()


@contextmanager
def adb_with(tmp_path, monkeypatch, *phones):
    """The real adb server on a private port with these fake phones connected (FakePhone keyword sets)."""
    from fixtures_adb.adbserver import AdbServer
    from fixtures_adb.fakeadbd import FakePhone

    server = AdbServer(tmp_path / "adb-home").start()
    made = [FakePhone(tmp_path / f"phone{i}", **options) for i, options in enumerate(phones)]
    try:
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(server.port))
        for phone in made:
            server.connect(phone.address, phone.state)
        yield made
    finally:
        for phone in made:
            server.disconnect(phone.address)
            phone.close()
        server.stop()


async def push_on(pilot, app, phone, model) -> str:
    """On the push step: wait for the phone, push, check the file arrived whole; returns its name there."""
    phones = app.screen.query_one("#phones", DataTable)
    await settle(pilot, app, lambda: phones.row_count == 1)
    name = app.screen.query_one("#name", Input).value
    assert "_acft_" in name and name.endswith(model.name[-len("q8_0.bin"):])
    await pilot.press("ctrl+r")
    await pilot.pause(0.3)
    if app.screen.query("#question"):  # a file step 5 did not find ready: asked first
        await pilot.press("y")
    await settle(pilot, app, lambda: "verified" in text(app, "#result") or "✗" in text(app, "#result"))
    assert "Import resource file" in text(app, "#result")
    assert phone.file(f"/sdcard/Download/{name}").read_bytes() == model.read_bytes()
    assert any("languages" in " ".join(a) for a in phone.activities)
    return name


async def test_push_step_sends_the_model_and_opens_futo(random_whisper, tmp_path, monkeypatch):
    """The real adb server on a private port, a fake phone behind it, the push step driven by keys."""
    from wacft.convert.convert import convert, plan_outputs

    [model] = convert(str(random_whisper()), plan_outputs(tmp_path / "model.bin", ["q8_0"]))
    with adb_with(tmp_path, monkeypatch, {"state": "device"}) as [phone]:
        app = WacftApp(Session(step="push", bins={"q8_0": str(model.path)}))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("c")
            await push_on(pilot, app, phone, model.path)
