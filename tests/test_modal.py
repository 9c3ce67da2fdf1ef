"""Modal runs against a fake Modal control plane (tests/fake_modal) that speaks Modal's own gRPC protocol: the
real `modal` client and the real `wacft` commands, the job's body in a local subprocess per container, a
temporary folder as the volume. The client commands run in a virtualenv without torch."""

import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path
from types import SimpleNamespace

import pytest
from fake_modal.server import FakeModalServer
from fixtures.speech import make_speech_dataset

from wacft.acft.events import BufferedPublisher
from wacft.acft.modal_backend import ModalBackend
from wacft.acft.runs import RunRecord
from wacft.audio import load_audio
from wacft.faults import raise_if_stopped, stop_on_signals
from wacft.record.folder import RecordingFolder

HEAVY = ("torch", "transformers", "datasets", "nvidia", "triton", "soxr", "jiwer", "pywhispercpp")  # other extras
CLI = "import sys; from wacft.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_speech_dataset(tmp_path_factory.mktemp("speech"), ["Good morning.", "See you soon."], ["en-us"])


@pytest.fixture(scope="session")
def client_python(tmp_path_factory):
    """A virtualenv with wacft and modal but none of the train and verify extras' own packages (torch,
    transformers, datasets, soxr, jiwer, pywhispercpp): what `pip install 'wacft[modal]'` gives. Its
    site-packages links this one's packages, leaving those out."""
    folder = tmp_path_factory.mktemp("client-venv")
    venv.create(folder, with_pip=False)
    site = folder / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for source in map(Path, sys.path):
        if source.name != "site-packages" or not source.is_dir():
            continue
        for entry in source.iterdir():
            if entry.name.split("-")[0].split(".")[0].lower() in HEAVY or (site / entry.name).exists():
                continue
            if entry.name in ("000-base.pth", "__pycache__"):
                continue
            (site / entry.name).symlink_to(entry)
    python = str(folder / "bin" / "python")
    for heavy in ("torch", "transformers", "datasets", "soxr"):
        assert subprocess.run([python, "-c", f"import {heavy}"], capture_output=True).returncode != 0
    return python


@pytest.fixture
def fake(tmp_path, wacft_home):
    with FakeModalServer(tmp_path / "fake") as server:
        server.modal.add_secret("huggingface-token")
        yield server


def client_env(server, tmp_path):
    return {**os.environ, **server.env, "MODAL_CONFIG_PATH": str(tmp_path / "no-modal.toml")}


def wacft(python, server, tmp_path, *args, timeout=300):
    return subprocess.run([python, "-c", CLI, *args], env=client_env(server, tmp_path), capture_output=True,
                          text=True, timeout=timeout)


def launch(python, server, tmp_path, model, dataset, *extra):
    done = wacft(python, server, tmp_path, "train", "--on", "modal", "--detach", "--yes", "--model", str(model),
                 "--dataset", str(dataset), "--out", "unused", "--batch-size", "2", *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("run ")[-1].split()[0], done.stdout


def volume_events(server, run_id):
    log = server.modal.volume / "runs" / run_id / "events.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()]


def record(tmp_path, run_id):
    return json.loads((Path(os.environ["WACFT_HOME"]) / "runs" / f"{run_id}.json").read_text())


def test_two_watchers_see_every_event_and_fetch_works_right_after_done(fake, client_python, tiny_en_dir, dataset,
                                                                        tmp_path):
    run_id, out = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "2")
    assert "on a Modal A100-40GB, about $" in out and "The job stops after 24 h" in out  # before the launch
    assert "uploading wacft's code:" in out
    watchers = [subprocess.Popen([client_python, "-c", CLI, "watch", run_id], env=client_env(fake, tmp_path),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in watchers]
    assert [w.returncode for w in watchers] == [0, 0], outputs
    logs = [e["message"] for e in volume_events(fake, run_id) if e["type"] == "log"]
    assert logs and all(m in stdout for m in logs for stdout, _ in outputs)  # both from the first event
    assert all("trained model in /vol/runs/" in stdout for stdout, _ in outputs)
    kept = [json.loads(line) for line in Path(record(tmp_path, run_id)["events"]).read_text().splitlines()]
    on_volume = volume_events(fake, run_id)
    assert [e["type"] for e in kept] == [e["type"] for e in on_volume] and all("time" in e for e in kept)
    fetched = wacft(client_python, fake, tmp_path, "fetch", run_id, "--only", "q5_0", "--to", str(tmp_path / "got"))
    assert fetched.returncode == 0, fetched.stderr
    got = tmp_path / "got" / "model_q5_0.bin"
    assert got.read_bytes() == (fake.modal.volume / "runs" / run_id / "model_q5_0.bin").read_bytes()
    assert not list((fake.modal.volume / "runs" / run_id / "checkpoint").glob("*"))  # gone once the model was out
    reads = len(fake.modal.called("VolumeGetFile2"))
    again = wacft(client_python, fake, tmp_path, "fetch", run_id, "--only", "q5_0", "--to", str(tmp_path / "got"))
    assert again.returncode == 0 and len(fake.modal.called("VolumeGetFile2")) == reads  # whole: not fetched again
    whole = wacft(client_python, fake, tmp_path, "fetch", run_id, "--to", str(tmp_path / "all"))
    assert whole.returncode == 0 and "fetch: 100%" in whole.stderr
    fetched = {p.name for p in (tmp_path / "all").iterdir()}
    assert {"model.safetensors", "config.json", "README.md", "model_q8_0.bin"} <= fetched
    assert "checkpoint" not in fetched
    # what was called, and what was not
    methods = {c.method for c in fake.modal.calls}
    assert not {m for m in methods if m.startswith("Queue")}
    assert not {m for m in methods if fake.modal.unimplemented(m)}
    shipped = [f.filename for m in fake.modal.called("MountGetOrCreate") for f in m.files]
    assert any(f.endswith("/wacft/modal_jobs.py") for f in shipped)
    assert not [f for f in shipped if "/wacft/" in f and any(p in f for p in ("/.venv/", "/tests/", "/bench/"))]
    assert fake.modal.function_calls[record(tmp_path, run_id)["call_id"]].attempts == 1


def test_an_interrupted_fetch_resumes_by_file_and_never_keeps_half_a_file(fake, client_python, tiny_en_dir,
                                                                          tmp_path):
    """Stopped (SIGTERM), then killed (SIGKILL), each in the middle of the weights; the third fetch reads again
    only that file, what follows it, and a file here that is not the volume's own."""
    run_id, got = "20260101-000000-tiny.en-beef", tmp_path / "got"
    folder = fake.modal.volume / "runs" / run_id
    shutil.copytree(tiny_en_dir, folder)  # a finished run as the job leaves it on the volume
    RunRecord(run_id, "modal", {"model": str(tiny_en_dir), "out": f"/vol/runs/{run_id}"}, status="done",
              call_id="fc-finished", gpu="A100-40GB").save()
    weights = got / "model.safetensors"
    fake.modal.hold_reads = f"runs/{run_id}/model.safetensors"
    for stop in (signal.SIGTERM, signal.SIGKILL):
        fake.modal.holding.clear()
        fetch = subprocess.Popen([client_python, "-c", CLI, "fetch", run_id, "--to", str(got)],
                                 env=client_env(fake, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        deadline = time.monotonic() + 120
        while not (fake.modal.holding.is_set() and list(got.glob(f".model.safetensors.wacft-{fetch.pid}-*.part"))):
            assert time.monotonic() < deadline and fetch.poll() is None
            time.sleep(0.05)  # in the weights' temporary file, their later blocks held back
        assert not weights.exists()
        fetch.send_signal(stop)
        _, stderr = fetch.communicate(timeout=60)
        assert not weights.exists() and "Traceback" not in stderr
    assert fetch.returncode == -signal.SIGKILL
    # the killed one left its temporary file, reserved at the full size: its size says nothing of what came
    assert [p.stat().st_size for p in got.glob(".*.part")] == [(folder / "model.safetensors").stat().st_size]
    config = got / "config.json"  # as another run's file of the same size would be
    config.write_bytes(b" " * config.stat().st_size)
    fake.modal.hold_reads = None
    reads = len(fake.modal.called("VolumeGetFile2"))
    resumed = wacft(client_python, fake, tmp_path, "fetch", run_id, "--to", str(got))
    assert resumed.returncode == 0, resumed.stderr
    assert "a partial file of" in resumed.stderr and not list(got.glob(".*.part"))  # the killed one's, removed
    names = sorted(p.name for p in folder.iterdir())
    again = [Path(r.path).name for r in fake.modal.called("VolumeGetFile2")[reads:]]
    assert again == ["config.json"] + names[names.index("model.safetensors"):]
    assert all((got / n).read_bytes() == (folder / n).read_bytes() for n in names)


def test_a_stop_the_sdk_swallowed_still_stops_the_fetch_before_the_next_block(tmp_path):
    """Modal's sync layer drops a KeyboardInterrupt that reaches the main thread as its call's value arrives (the
    value beats the cancel it schedules: synchronicity's `_run_function_sync`), so a fetch went on after SIGTERM.
    A volume whose read does the same, through the real signal handlers: no block is written, nothing is kept."""

    def read_file(path):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # the handler runs here
        except KeyboardInterrupt:
            pass  # the value won the race: the interrupt is gone
        yield from (b"first block", b"second block")

    backend = ModalBackend()
    backend.jobs = SimpleNamespace(volume=SimpleNamespace(read_file=read_file))
    entry, written = SimpleNamespace(path="runs/r/model.safetensors", size=23, mtime=0), []
    with stop_on_signals(), pytest.raises(KeyboardInterrupt):
        backend.download(entry, tmp_path / "model.safetensors", written.append)
    assert written == [] and list(tmp_path.iterdir()) == []
    assert raise_if_stopped() is None  # the mark goes with the handlers: nothing after is stopped by it


def test_cancel_stops_the_container(fake, client_python, tiny_en_dir, dataset, tmp_path):
    run_id, _ = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "200", "--max-hours", "0.5")
    call = fake.modal.function_calls[record(tmp_path, run_id)["call_id"]]
    assert call.function.timeout_secs == 1800  # --max-hours bounds what the job may spend
    watcher = subprocess.Popen([client_python, "-c", CLI, "watch", run_id], env=client_env(fake, tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    live_log = lambda: call.work / "runs" / run_id / "events.jsonl"  # noqa: E731 (the container's working copy)
    deadline = time.monotonic() + 120
    while not (call.work and live_log().is_file() and '"type": "step"' in live_log().read_text()):
        assert time.monotonic() < deadline and watcher.poll() is None
        time.sleep(0.2)
    assert watcher.poll() is None  # following the run when another process cancels it
    cancelled = wacft(client_python, fake, tmp_path, "cancel", run_id)
    assert cancelled.returncode == 0 and f"run {run_id} cancelled" in cancelled.stdout
    assert [c.function_call_id for c in fake.modal.called("FunctionCallCancel")] == [call.id]
    stdout, stderr = watcher.communicate(timeout=60)
    assert watcher.returncode == 1 and f"Run {run_id} was cancelled." in stderr
    assert "failed" not in stdout + stderr and "Traceback" not in stderr
    assert call.process.returncode is not None and call.attempts == 1
    assert record(tmp_path, run_id)["status"] == "cancelled"


def test_a_recording_trains_there_with_the_other_voices_decided_here(fake, client_python, tiny_en_dir, dataset,
                                                                     tmp_path):
    mine = RecordingFolder(tmp_path / "mine")
    mine.start([], [])  # a folder the record step made: one voice
    for clip, said in zip(sorted(dataset.glob("*.wav")), ["Good morning.", "See you soon."], strict=True):
        mine.keep(load_audio(clip), said)
    run_id, _ = launch(client_python, fake, tmp_path, tiny_en_dir, mine.path, "--epochs", "1")
    assert record(tmp_path, run_id)["config"]["other_voices"] is True
    call = fake.modal.function_calls[record(tmp_path, run_id)["call_id"]]
    live_log = lambda: call.work / "runs" / run_id / "events.jsonl"  # noqa: E731 (the container's working copy)
    deadline = time.monotonic() + 120
    while not (call.work and live_log().is_file() and '"type": "step"' in live_log().read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert "36 clips of other voices (espeak-ng) mixed in" in live_log().read_text()
    assert wacft(client_python, fake, tmp_path, "cancel", run_id).returncode == 0


def test_a_preempted_container_is_retried_and_resumes_to_the_same_step_count(fake, client_python, tiny_en_dir,
                                                                            dataset, tmp_path):
    fake.modal.kill_after_commit = 1  # the first checkpoint is committed, then the container is lost
    run_id, _ = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "3", "--checkpoint-every",
                       "1")
    watched = wacft(client_python, fake, tmp_path, "watch", run_id)
    assert watched.returncode == 0, watched.stderr
    assert "retrying (attempt 2 of 4), resuming from step 1" in watched.stdout
    assert "failed" not in watched.stdout + watched.stderr
    steps = [e for e in volume_events(fake, run_id) if e["type"] == "step"]
    assert steps[-1]["step"] == steps[-1]["total_steps"] == 3  # 2 clips, batch 2, 3 epochs: as uninterrupted
    assert record(tmp_path, run_id)["status"] == "done"
    assert fake.modal.function_calls[record(tmp_path, run_id)["call_id"]].attempts == 2


def test_a_persons_error_ends_the_run_at_once_with_its_sentence(fake, client_python, tiny_en_dir, tmp_path):
    """A hub dataset that cannot be loaded: found in the container, not here (the client has no `datasets`)."""
    run_id, out = launch(client_python, fake, tmp_path, tiny_en_dir, "nobody/no-such-dataset", "--epochs", "1")
    assert "No estimate: Reading a dataset needs datasets, which is not installed" in out
    watched = wacft(client_python, fake, tmp_path, "watch", run_id)
    assert watched.returncode == 1
    assert "The hub dataset nobody/no-such-dataset could not be loaded" in watched.stderr
    assert "Traceback" not in watched.stderr
    assert fake.modal.function_calls[record(tmp_path, run_id)["call_id"]].attempts == 1  # no retry


def test_a_container_that_dies_without_a_final_event_is_reported_within_a_minute(fake, client_python,
                                                                                 tiny_en_dir, dataset, tmp_path):
    fake.modal.retries, fake.modal.kill_after_commit = 0, 1
    run_id, _ = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "3", "--checkpoint-every",
                       "1")
    call = fake.modal.function_calls[record(tmp_path, run_id)["call_id"]]
    watcher = subprocess.Popen([client_python, "-c", CLI, "watch", run_id], env=client_env(fake, tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while call.result is None:
        time.sleep(0.1)
    died = time.monotonic()
    _, stderr = watcher.communicate(timeout=120)
    assert time.monotonic() - died < 60
    assert watcher.returncode == 1 and "ended without finishing" in stderr and "exited" in stderr
    assert "Traceback" not in stderr


def test_nothing_is_launched_without_an_answer_or_a_secret(fake, client_python, tiny_en_dir, dataset, tmp_path):
    asked = wacft(client_python, fake, tmp_path, "train", "--on", "modal", "--model", str(tiny_en_dir),
                  "--dataset", str(dataset), "--out", "unused")
    assert asked.returncode == 1 and "pass --yes to launch it" in asked.stderr  # no terminal to ask in
    fake.modal.named.pop(("secret", "huggingface-token"))
    refused = wacft(client_python, fake, tmp_path, "train", "--on", "modal", "--yes", "--model", str(tiny_en_dir),
                    "--dataset", str(dataset), "--out", "unused")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "modal secret create huggingface-token HF_TOKEN=<your token>" in refused.stderr
    assert not fake.modal.called("AppCreate") and not fake.modal.called("FunctionMap")


def test_events_never_wait_for_the_channel():
    """A channel that hangs, then fails, then works: emit returns at once throughout, nothing is lost or
    reordered."""
    gate, sent, failures = threading.Event(), [], [2]

    def send(batch):
        gate.wait()
        if failures[0]:
            failures[0] -= 1
            raise ConnectionError("channel down")
        sent.extend(batch)

    publisher = BufferedPublisher(send, interval=0.01, batch_size=100)
    emitting = threading.Thread(target=lambda: [publisher.emit({"type": "step", "step": k}) for k in range(6000)])
    emitting.start()
    emitting.join(30)
    assert not emitting.is_alive()  # all 6,000 went in while the channel hung
    gate.set()
    assert publisher.close(timeout=30)
    assert [e["step"] for e in sent] == list(range(6000)) and all("time" in e for e in sent)
    assert isinstance(publisher.failure, ConnectionError)


def test_6000_unwatched_events_go_to_the_dict_in_batches_and_replay_from_the_first(fake, monkeypatch):
    import modal

    from wacft.modal_jobs import EVENTS_DICT, EventChannel

    monkeypatch.setenv("MODAL_SERVER_URL", fake.env["MODAL_SERVER_URL"])
    client = modal.Client.from_credentials("ak-test", "as-test")
    store = modal.Dict.from_name(EVENTS_DICT, create_if_missing=True, client=client)
    channel = EventChannel(store, "run-6000")
    publisher = BufferedPublisher(channel.send, interval=0.2)
    for step in range(6000):
        publisher.emit({"type": "step", "step": step})
    assert publisher.close()
    updates = fake.modal.called("DictUpdate")
    assert 12 <= len(updates) < 100  # batches of at most 500, never a call per event
    for _reader in range(2):  # reading takes nothing away: a second reader sees it all again
        replay, seq = [], 0
        while (batch := EventChannel(store, "run-6000").read(seq)) is not None:
            replay += batch
            seq += 1
        assert [e["step"] for e in replay] == list(range(6000))


def test_each_modal_api_wacft_calls_exists_with_that_signature():
    """An SDK upgrade that changes one fails here rather than at a person's launch."""
    import modal
    from modal.exception import NotFoundError  # noqa: F401
    from modal.volume import FileEntryType

    def takes(fn, *names):
        parameters = inspect.signature(fn).parameters
        assert all(n in parameters for n in names), (fn, names, list(parameters))

    takes(modal.Dict.from_name, "name", "create_if_missing", "client")
    takes(modal.Dict.get, "key", "default")
    takes(modal.Dict.update, "other")
    takes(modal.Dict.__setitem__, "key", "value")
    takes(modal.Volume.from_name, "name", "create_if_missing")
    takes(modal.Volume.listdir, "path", "recursive")
    takes(modal.Volume.read_file, "path")
    takes(modal.Volume.batch_upload, "force")
    takes(modal.Volume.commit)
    takes(modal.FunctionCall.from_id, "function_call_id")
    takes(modal.FunctionCall.get, "timeout")
    takes(modal.FunctionCall.cancel, "terminate_containers")
    takes(modal.Function.with_options, "gpu", "timeout")
    takes(modal.Function.spawn)
    takes(modal.Function.local)
    takes(modal.App, "name", "include_source")
    takes(modal.App.run, "detach")
    takes(modal.App.function, "image", "gpu", "volumes", "secrets", "timeout", "retries")
    takes(modal.Image.add_local_python_source, "ignore")
    takes(modal.Image.apt_install)
    takes(modal.Image.pip_install_from_requirements, "requirements_txt")
    takes(modal.Secret.from_name, "name")
    takes(modal.Retries, "max_retries", "initial_delay", "backoff_coefficient")
    takes(modal.Client.from_credentials, "token_id", "token_secret")
    assert FileEntryType.FILE
