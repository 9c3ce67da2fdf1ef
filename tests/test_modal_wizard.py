"""The wizard after a Modal run: the convert step fetches what it needs from the run's volume, through the real
modal client talking to the fake Modal control plane (tests/fake_modal), and goes on as after a local run."""

import shutil
from pathlib import Path

import pytest
from fake_modal.server import FakeModalServer
from test_tui import settle, text

from wacft.acft.runs import RunRecord
from wacft.convert.convert import convert, plan_outputs
from wacft.tui.app import WacftApp
from wacft.tui.session import Session

pytestmark = pytest.mark.usefixtures("wacft_home")


def modal_run(server, tiny_en_dir, run_id, bins):
    """A finished Modal run as the job leaves it: the weights, and the .bin files of `bins`, on the volume."""
    folder = server.modal.volume / "runs" / run_id
    shutil.copytree(tiny_en_dir, folder)
    artifacts = {"model": f"/vol/runs/{run_id}"}
    for t in bins:
        convert(str(folder), plan_outputs(folder / f"model_{t}.bin", [t]))
        artifacts[t] = f"/vol/runs/{run_id}/model_{t}.bin"
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


async def test_convert_after_a_modal_run_fetches_what_it_needs(tiny_en_dir, tmp_path, monkeypatch):
    import modal.client

    with FakeModalServer(tmp_path / "fake") as server:
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(modal.client._Client, "_client_from_env", None)  # this server's client, not a cached one
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
