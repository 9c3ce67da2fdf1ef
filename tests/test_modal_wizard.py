"""The wizard after a Modal run: the convert step fetches what it needs from the run's volume, through the real
modal client talking to the fake Modal control plane (tests/fake_modal), and goes on as after a local run."""

import shutil
import threading
from pathlib import Path

import pytest
from fake_modal.server import FakeModalServer
from test_tui import settle, text

from wacft.acft.runs import RunRecord
from wacft.convert.convert import convert, plan_outputs
from wacft.modal_jobs import mark_complete
from wacft.tui.app import WacftApp
from wacft.tui.session import Session

pytestmark = [pytest.mark.usefixtures("wacft_home"), pytest.mark.e2e]


def modal_run(server, tiny_en_dir, run_id, bins):
    """A finished Modal run as the job leaves it: the weights, and the .bin files of `bins`, on the volume."""
    folder = server.modal.volume / "runs" / run_id
    shutil.copytree(tiny_en_dir, folder)
    artifacts = {"model": f"/vol/runs/{run_id}"}
    for t in bins:
        convert(str(folder), plan_outputs(folder / f"model_{t}.bin", [t]))
        artifacts[t] = f"/vol/runs/{run_id}/model_{t}.bin"
    mark_complete(folder)
    return RunRecord(run_id, "modal", {"model": str(tiny_en_dir), "out": f"/vol/runs/{run_id}"}, status="done",
                     call_id="fc-finished", gpu="A100-40GB", artifacts=artifacts).save()


async def convert_step(run, out):
    app = WacftApp(Session(step="convert", run_id=run.id, trained=run.artifacts["model"], out=str(out)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await settle(pilot, app, lambda: "Trained on Modal" in text(app, "#result"))
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "✓" in text(app, "#result"), 1200)
        return text(app, "#result")


@pytest.fixture
def server(tmp_path, monkeypatch):
    """The fake Modal control plane, and this process's modal client pointed at it as a fresh process's would be."""
    import importlib

    import modal.client

    from wacft import modal_jobs

    with FakeModalServer(tmp_path / "fake") as server:
        server.modal.add_secret("huggingface-token")
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
        monkeypatch.setattr(modal.client._Client, "_client_from_env", None)  # this server's client, not a cached one
        importlib.reload(modal_jobs)  # its app and volume, once used, stay bound to the client of their first use
        yield server


async def test_convert_after_a_modal_run_fetches_what_it_needs(server, tiny_en_dir, tmp_path):
    # the job made both default types: they are fetched as they are
    made = modal_run(server, tiny_en_dir, "20261130-000000-tiny.en-made", ["q8_0", "q5_0"])
    shown = await convert_step(made, tmp_path / "made")
    assert "converted on Modal" in shown
    bins = Session.load().bins
    volume = server.modal.volume / "runs" / made.id
    assert set(bins) == {"q8_0", "q5_0"}
    assert all(Path(p).read_bytes() == (volume / f"model_{t}.bin").read_bytes() for t, p in bins.items())
    assert not (tmp_path / "made" / "model.safetensors").exists()  # the weights stayed there
    # the job made none: the weights are fetched and converted here
    weights = modal_run(server, tiny_en_dir, "20261130-000000-tiny.en-none", [])
    shown = await convert_step(weights, tmp_path / "weights")
    assert "sha256" in shown and (tmp_path / "weights" / "model.safetensors").is_file()
    assert set(Session.load().bins) == {"q8_0", "q5_0"}
    assert not [c for c in server.modal.calls if server.modal.unimplemented(c.method)]


async def test_a_modal_launch_shows_the_spend_and_asks_first(server, tiny_en_dir, speech_dataset):
    """The train step on Modal: the estimate and the time limit in a question before anything is launched; "no"
    launches nothing, "yes" launches with the limit as the function's timeout."""
    from textual.widgets import Input

    from wacft.acft.runs import list_runs, load_run
    from wacft.tui.screens.monitor import wait_for_watches
    from wacft.tui.widgets import ConfirmScreen

    dataset = speech_dataset(["Good morning."])
    app = WacftApp(Session(step="train", model=str(tiny_en_dir), dataset=str(dataset), dataset_clips=2,
                           dataset_seconds=3.0, where="modal", epochs=1, batch_size=1))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        app.screen.query_one("#hours", Input).value = "30"
        await pilot.press("ctrl+l")
        await settle(pilot, app, lambda: "max hours is 30.0" in text(app, "#status"))  # the CLI's rule
        app.screen.query_one("#hours", Input).value = "0.5"
        await pilot.press("ctrl+l")
        await settle(pilot, app, lambda: isinstance(app.screen, ConfirmScreen), 600)
        question = app.screen.question
        assert "on a Modal A100-40GB, about $" in question and "Its budget is 0.5 h of GPU time" in question
        assert "it costs at most $1.21" in question
        await pilot.press("n")
        await settle(pilot, app, lambda: "Not launched." in text(app, "#status"))
        assert not list_runs() and not server.modal.called("FunctionMap")
        await pilot.press("ctrl+l")
        await settle(pilot, app, lambda: isinstance(app.screen, ConfirmScreen), 600)
        await pilot.press("y")
        await settle(pilot, app, lambda: app.screen.TITLE == "Training", 1200)
        [record] = list_runs()
        assert record.backend == "modal" and record.call_id and server.modal.called("FunctionMap")
        assert [c.function.timeout_secs for c in server.modal.function_calls.values()] == [1800]
        watching = lambda: [t for t in threading.enumerate() if t.name == f"watch {record.id}"]  # noqa: E731
        await settle(pilot, app, watching)
        [watch] = watching()
    # quitting ends the watch between two calls to Modal instead of leaving Python to cut one off on its way out
    wait_for_watches(10)
    assert not watch.is_alive()
    assert load_run(record.id).status == "running" and not server.modal.called("FunctionCallCancel")  # goes on
