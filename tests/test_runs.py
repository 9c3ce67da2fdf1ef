"""Runs as records, the local backend with a real subprocess, and the Modal app built without an account."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fixtures.speech import make_speech_dataset

from wacft.acft.backends import LocalBackend
from wacft.acft.config import TrainConfig
from wacft.acft.events import CallbackSink, FanOut
from wacft.acft.runs import RunRecord, list_runs, load_run
from wacft.cli import main as cli
from wacft.errors import WacftError

pytestmark = pytest.mark.usefixtures("wacft_home")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    # two voices that its metadata names: many voices, which train on their own clips
    return make_speech_dataset(tmp_path_factory.mktemp("speech"), ["Good morning.", "See you soon."],
                               ["en-us", "en-gb"], turns=True)


def settings(tiny_en_dir, dataset, out, **overrides):
    defaults = dict(epochs=2, batch_size=2, lr=1e-5)
    return TrainConfig(model=str(tiny_en_dir), dataset=str(dataset), out=str(out), **{**defaults, **overrides})


def test_registry_round_trip_and_listing():
    first = RunRecord("run-a", "local", {"model": "m", "out": "/x"}).save()
    RunRecord("run-b", "modal", {"model": "m", "out": "/y"}, call_id="fc-1", created=first.created + 1).save()
    assert [r.id for r in list_runs()] == ["run-b", "run-a"]
    assert load_run("run-b").call_id == "fc-1"
    with pytest.raises(WacftError, match="wacft runs"):
        load_run("nope")


def test_a_watch_told_to_stop_leaves_the_record_as_it_was(tmp_path):
    """Stopped halfway through a replay (the wizard quits, or shows another run), a watch has seen only the
    run's early events: the record keeps the state the run's own end wrote."""
    events = tmp_path / "events.jsonl"
    steps = [{"type": "step", "step": n, "total_steps": 3, "loss": 1.0} for n in (1, 2, 3)]
    events.write_text("".join(json.dumps(e) + "\n" for e in [*steps, {"type": "done", "out": "o"}]))
    RunRecord("run-done", "local", {"model": "m", "out": "o"}, status="done", events=str(events),
              last=steps[-1]).save()
    stop = threading.Event()
    LocalBackend().watch(load_run("run-done"), CallbackSink(lambda e: stop.set()), stop)
    stored = load_run("run-done")
    assert stored.status == "done" and stored.last == steps[-1]


def test_records_of_other_versions_keep_their_fields_and_foreign_files_leave_the_listing_working():
    from wacft.paths import runs_dir

    RunRecord("run-a", "local", {"model": "m", "out": "/x"}).save()
    newer = RunRecord("run-b", "local", {"model": "m", "out": "/y"}, pid=7).save()
    newer.path.write_text(newer.path.read_text().replace('"pid": 7', '"pid": 7, "events_from": 120'))
    (runs_dir() / "notes.json").write_text("[1, 2]")
    (runs_dir() / "half.json").write_text('{"id": "half"')
    assert sorted(r.id for r in list_runs()) == ["run-a", "run-b"]
    assert load_run("run-b").pid == 7
    load_run("run-b").save()  # as a watcher does: the newer version's field is kept
    assert json.loads(newer.path.read_text())["events_from"] == 120 and load_run("run-b").pid == 7
    for name, why in (("notes", "not a run record"), ("half", "Expecting")):
        with pytest.raises(WacftError, match=rf"The run record .*{name}.json cannot be read \({why}.*; move it out"):
            load_run(name)


@pytest.mark.e2e
def test_local_backend_runs_a_real_process_and_replays_its_events(tiny_en_dir, dataset, tmp_path, capsys):
    backend = LocalBackend()
    record = backend.launch(settings(tiny_en_dir, dataset, tmp_path / "out"))
    assert record.status == "running" and load_run(record.id).pid == record.pid
    events = []
    record = backend.watch(record, CallbackSink(events.append))
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "done" and kinds.count("step") == 2
    assert record.status == "done" and (tmp_path / "out" / "model.safetensors").is_file()
    again = []
    backend.watch(load_run(record.id), CallbackSink(again.append))  # reattach later: the same stream
    assert [e["type"] for e in again] == kinds
    assert cli(["runs"]) == 0 and record.id in capsys.readouterr().out
    assert cli(["cancel", record.id]) == 1 and "only a running run" in capsys.readouterr().err


def test_cancel_stops_a_local_run(tiny_en_dir, dataset, tmp_path):
    backend = LocalBackend()
    record = backend.launch(settings(tiny_en_dir, dataset, tmp_path / "out", epochs=50))
    backend.cancel(record)
    assert load_run(record.id).status == "cancelled"
    backend.children[record.pid].wait(timeout=30)
    assert not backend.alive(record)


@pytest.mark.e2e
def test_a_run_cancelled_from_another_process_is_watched_as_cancelled(tiny_en_dir, dataset, tmp_path):
    """`wacft watch RUN` follows a live run while `wacft cancel RUN`, another process, stops it."""
    launcher = LocalBackend()
    record = launcher.launch(settings(tiny_en_dir, dataset, tmp_path / "out", epochs=50))
    # as the shell around `wacft train` would, the launcher reaps its child once it ends
    reaper = threading.Thread(target=launcher.children[record.pid].wait, daemon=True)
    reaper.start()
    wacft = [sys.executable, "-m", "wacft.cli"]
    watcher = subprocess.Popen([*wacft, "watch", record.id], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    while '"type": "step"' not in Path(record.events).read_text():  # training (a line may be half-written)
        assert time.monotonic() < deadline and watcher.poll() is None
        time.sleep(0.1)
    assert watcher.poll() is None  # still following the run when it is cancelled
    cancelled = subprocess.run([*wacft, "cancel", record.id], capture_output=True, text=True, timeout=60)
    assert cancelled.returncode == 0, cancelled.stderr
    stdout, stderr = watcher.communicate(timeout=60)
    assert watcher.returncode == 1 and f"Run {record.id} was cancelled." in stderr
    assert "failed" not in stdout + stderr
    assert load_run(record.id).status == "cancelled"
    reaper.join(30)


def test_a_cancel_that_could_not_stop_the_run_is_taken_back():
    from wacft.acft.runs import cancelled_meanwhile, cancelling

    record = RunRecord("run-c", "modal", {"model": "m", "out": "/x"}, status="running").save()
    with pytest.raises(ConnectionError), cancelling(record):
        assert load_run("run-c").status == "cancelled"
        raise ConnectionError("Modal could not be reached")
    assert record.status == load_run("run-c").status == "running"
    record.status = "failed"
    assert cancelled_meanwhile(record).status == "failed"  # no mark left behind


def test_a_local_run_that_dies_is_reported_as_failed(tiny_en_dir, dataset, tmp_path):
    backend = LocalBackend()
    record = backend.launch(settings(tiny_en_dir, dataset, tmp_path / "out", epochs=50))
    os.killpg(record.pid, signal.SIGKILL)
    record = backend.watch(record, CallbackSink(lambda e: None))
    assert record.status == "failed" and "without finishing" in record.error


# --- Modal -----------------------------------------------------------------------------------------------


def test_modal_app_is_built_without_credentials():
    from wacft import modal_jobs

    spec = modal_jobs.train_on_gpu._spec_
    assert modal_jobs.app.name == "wacft"
    assert spec.gpus == "A100-40GB" and set(spec.volumes) == {"/vol"}
    assert "huggingface-token" in repr(spec.secrets)
    shipped = {str(p.relative_to(modal_jobs.PACKAGE_ROOT)) for p in modal_jobs.shipped_files()}
    assert {"modal_jobs.py", "acft/trainer.py", "convert/convert.py"} <= shipped  # the project's own code
    assert not {p for p in shipped if p.split("/")[0] in (".venv", "tests", "bench", "tui")}
    from wacft import modal_cli

    for entrypoint in ("acft", "tiny_acft_app", "base_acft_app", "small_acft_app", "medium_acft_app"):
        assert callable(getattr(modal_cli, entrypoint))
    assert modal_jobs.run_path("r1") == "/vol/runs/r1"


def test_modal_run_entrypoint_passes_the_stage_one_options(monkeypatch):
    from wacft import modal_cli

    launched = []
    monkeypatch.setattr(modal_cli, "_launch_and_watch", lambda config, gpu, convert: launched.append(config))
    modal_cli.acft.info.raw_f(model="openai/whisper-base.en", dataset="./clips", finetune_epochs=4,
                              finetune_keep=0.5, joint_weight=2.0)
    [config] = launched
    assert (config.finetune_epochs, config.finetune_keep, config.joint_weight) == (4, 0.5, 2.0)
    assert config.finetune_lr is None  # 0, the entrypoint's "not given": the usual rate for the size


def test_launch_without_a_modal_token_says_what_to_do(tiny_en_dir, dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    from wacft.acft.modal_backend import ModalBackend
    from wacft.checks import modal_token_configured

    assert not modal_token_configured()
    with pytest.raises(WacftError, match="modal token new"):
        ModalBackend().launch(settings(tiny_en_dir, dataset, tmp_path / "out"))
    with pytest.raises(WacftError, match="A100-40GB, A100-80GB, H100"):
        ModalBackend("T4")


def test_sinks_fan_out():
    seen = []
    FanOut(CallbackSink(seen.append), CallbackSink(seen.append)).emit({"type": "log", "message": "x"})
    assert len(seen) == 2
