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
from wacft.modal_jobs import COMPLETE, mark_complete
from wacft.record.folder import RecordingFolder

pytestmark = pytest.mark.e2e

HEAVY = ("torch", "transformers", "datasets", "nvidia", "triton", "soxr", "jiwer", "pywhispercpp")  # other extras
CLI = "import sys; from wacft.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two clips in two voices that its metadata names: many voices, which train on their own clips."""
    return make_speech_dataset(tmp_path_factory.mktemp("speech"), ["Good morning.", "See you soon."],
                               ["en-us", "en-gb"], turns=True)


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


def file_reads(server):
    """The volume's files read, but the marker a fetch reads first to learn that the run's files are whole."""
    return [r for r in server.modal.called("VolumeGetFile2") if Path(r.path).name != COMPLETE]


def record(tmp_path, run_id):
    return json.loads((Path(os.environ["WACFT_HOME"]) / "runs" / f"{run_id}.json").read_text())


def test_two_watchers_see_every_event_and_fetch_works_right_after_done(fake, client_python, tiny_en_dir, dataset,
                                                                        tmp_path):
    run_id, out = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "2")
    assert "on a Modal A100-40GB, about $" in out  # before the launch, and the most it can cost
    assert "Its budget is 24 h of GPU time (--max-hours sets less): it stops there" in out
    assert "so it costs at most $57.97 however often Modal restarts its container" in out  # 24 h at $2.42/h
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
    reads = len(file_reads(fake))
    typo = wacft(client_python, fake, tmp_path, "fetch", run_id, "--only", "q5_O", "--to", str(tmp_path / "typo"))
    assert typo.returncode == 1 and "converts to f32, f16, q4_0, q4_1, q5_0, q5_1 or q8_0, not q5_O." in typo.stderr
    assert not (tmp_path / "typo").exists()
    again = wacft(client_python, fake, tmp_path, "fetch", run_id, "--only", "q5_0", "--to", str(tmp_path / "got"))
    assert again.returncode == 0 and len(file_reads(fake)) == reads  # whole: not fetched again
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
    shutil.copytree(tiny_en_dir, folder)  # a finished run as the job leaves it on the volume, marked whole
    mark_complete(folder)
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
    reads = len(file_reads(fake))
    resumed = wacft(client_python, fake, tmp_path, "fetch", run_id, "--to", str(got))
    assert resumed.returncode == 0, resumed.stderr
    assert "a partial file of" in resumed.stderr and not list(got.glob(".*.part"))  # the killed one's, removed
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    again = [Path(r.path).name for r in file_reads(fake)[reads:]]
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
    assert "container start 2: resuming from step 1" in watched.stdout
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


def test_timeouts_are_retried_and_a_call_that_ends_without_a_final_event_is_reported_within_a_minute(
        fake, client_python, tiny_en_dir, dataset, tmp_path):
    """Each container times out (Modal's per-attempt timeout, shortened here) before the job can say anything
    final: Modal retries it as its policy says, then the call ends, and the watcher learns so from the call."""
    fake.modal.retries, fake.modal.timeout = 1, 4
    run_id, _ = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "300")
    call = fake.modal.function_calls[record(tmp_path, run_id)["call_id"]]
    watcher = subprocess.Popen([client_python, "-c", CLI, "watch", run_id], env=client_env(fake, tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while call.result is None:
        time.sleep(0.1)
    died = time.monotonic()
    _, stderr = watcher.communicate(timeout=120)
    assert time.monotonic() - died < 60
    assert watcher.returncode == 1 and "ended without finishing" in stderr and "timed out" in stderr
    assert "Traceback" not in stderr
    assert (call.attempts, call.failures) == (2, 2)  # the first, and its one retry


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


# --- Modal as the real service runs it ------------------------------------------------------------------------


def test_the_files_the_image_ships_import_every_module_the_job_can_reach(tmp_path):
    """The container has only what `add_local_python_source` uploads: those files alone, in a fresh interpreter
    whose own wacft (this checkout's editable install) is out of reach, import every module they hold."""
    from fake_modal.server import CONTAINER

    from wacft import modal_jobs

    root, modules = tmp_path / "root", []
    for path in modal_jobs.shipped_files():
        relative = path.relative_to(modal_jobs.PACKAGE_ROOT)
        (root / "wacft" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, root / "wacft" / relative)
        if path.suffix == ".py":
            modules.append(".".join(("wacft", *relative.with_suffix("").parts)).removesuffix(".__init__"))
    assert {"wacft.acft.trainer", "wacft.convert.convert", "wacft.record.folder"} <= set(modules)
    assert not [m for m in modules if m.split(".")[1:2] in (["tui"], ["tests"], ["bench"], ["scripts"])]
    script = (f"import importlib, sys; sys.path.insert(0, {str(CONTAINER.parent)!r});"
              f" from container import only_the_uploaded_code; only_the_uploaded_code({str(root)!r});"
              f" [importlib.import_module(m) for m in {modules!r}]; import wacft; print(wacft.__file__)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(root / "wacft" / "__init__.py")


def test_a_container_killed_five_times_is_restarted_each_time_and_every_watcher_sees_the_run_done(
        fake, client_python, tiny_en_dir, dataset, tmp_path):
    """Preempted or lost containers do not count against the retries (3): the sixth start finishes."""
    fake.modal.kill_after_commit, fake.modal.kills = 1, 5  # each killed right after its first checkpoint
    run_id, _ = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "6", "--checkpoint-every",
                       "1")
    watchers = [subprocess.Popen([client_python, "-c", CLI, "watch", run_id], env=client_env(fake, tmp_path),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=900) for w in watchers]
    assert [w.returncode for w in watchers] == [0, 0], outputs
    assert all("trained model in /vol/runs/" in stdout and "container start 6: resuming from step 5" in stdout
               for stdout, _ in outputs)
    call = fake.modal.function_calls[record(tmp_path, run_id)["call_id"]]
    assert (call.attempts, call.failures) == (6, 0)
    steps = [e for e in volume_events(fake, run_id) if e["type"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4, 5, 6]  # each container went on from the last checkpoint
    assert record(tmp_path, run_id)["status"] == "done"
    again = wacft(client_python, fake, tmp_path, "watch", run_id)  # a later watch says so too
    assert again.returncode == 0 and "trained model in" in again.stdout


def test_a_container_lost_while_converting_converts_on_its_restart(fake, client_python, tiny_en_dir, dataset,
                                                                   tmp_path):
    """The model was saved (and its checkpoint gone) when the container was lost: the next one converts it."""
    fake.modal.kill_on = "runs/*/.model_q8_0.bin.wacft-*"  # the first conversion's temporary file
    run_id, _ = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "1")
    watched = wacft(client_python, fake, tmp_path, "watch", run_id)
    assert watched.returncode == 0, watched.stderr
    assert "the model was trained by an earlier container; converting it" in watched.stdout
    call = fake.modal.function_calls[record(tmp_path, run_id)["call_id"]]
    assert (call.attempts, call.failures) == (2, 0)
    assert [e["type"] for e in volume_events(fake, run_id)].count("step") == 1  # trained once
    fetched = wacft(client_python, fake, tmp_path, "fetch", run_id, "--only", "q8_0", "--to", str(tmp_path / "got"))
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "got" / "model_q8_0.bin").read_bytes()[:4] == b"lmgg"  # GGML's magic, little-endian


def test_a_fetch_while_the_run_is_finishing_takes_nothing_until_the_folder_is_whole(fake, client_python,
                                                                                    tiny_en_dir, dataset, tmp_path):
    """Modal commits the volume on its own: caught while the model's files are moved in, the volume holds some of
    them; fetch waits for the job's completion mark, written last."""
    fake.modal.pause_on = "runs/*/config.json"  # the trained model's files, moved in one by one
    run_id, _ = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "1")
    assert fake.modal.paused.wait(300)
    assert (fake.modal.volume / "runs" / run_id / "config.json").is_file()  # committed, while unfinished
    early = wacft(client_python, fake, tmp_path, "fetch", run_id, "--to", str(tmp_path / "early"))
    assert early.returncode == 1 and f"Run {run_id} has no finished model on the volume yet" in early.stderr
    assert not (tmp_path / "early").exists() or not list((tmp_path / "early").iterdir())
    fake.modal.resume_paused()
    assert wacft(client_python, fake, tmp_path, "watch", run_id).returncode == 0
    fetched = wacft(client_python, fake, tmp_path, "fetch", run_id, "--to", str(tmp_path / "got"))
    assert fetched.returncode == 0, fetched.stderr
    assert {"model.safetensors", "config.json", "model_q5_0.bin"} <= {p.name for p in (tmp_path / "got").iterdir()}


def test_the_budget_holds_across_containers_and_a_resumed_run_gets_a_new_one(fake, client_python, tiny_en_dir,
                                                                             dataset, tmp_path):
    run_id, out = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "100", "--max-hours",
                         "0.004")  # 14.4 s: less than 100 steps take here
    assert "Its budget is 0.004 h of GPU time: it stops there, keeping its checkpoint, so it costs at most $0.01" \
        in out
    watched = wacft(client_python, fake, tmp_path, "watch", run_id)
    assert watched.returncode == 1
    assert "used its budget of 0.004 h of GPU time and stopped at step" in watched.stderr
    assert f"`wacft resume {run_id} --max-hours H` goes on from there" in watched.stderr
    call = fake.modal.function_calls[record(tmp_path, run_id)["call_id"]]
    assert (call.attempts, call.failures) == (1, 0)  # returned, not raised: no retry
    while call.result is None:  # the container's last commit, as it shuts down
        time.sleep(0.1)
    folder = fake.modal.volume / "runs" / run_id
    stopped_at = json.loads((folder / "checkpoint" / "progress.json").read_text())["step"]
    assert 0 < stopped_at < 100
    spent = json.loads((folder / ".spent.json").read_text())[run_id]
    assert 14.4 * 0.9 - 1 < spent < 14.4 + 30  # the deadline leaves a tenth to finish; a step may run past it
    logged = len(volume_events(fake, run_id))  # the resumed run's events follow these in the folder's log
    resumed = wacft(client_python, fake, tmp_path, "resume", run_id, "--max-hours", "0.5", "--yes", "--detach")
    assert resumed.returncode == 0, resumed.stderr
    assert "Its budget is 0.5 h of GPU time" in resumed.stdout
    new_id = resumed.stdout.split("resumed as ")[1].split(";")[0]
    assert record(tmp_path, new_id)["budget_hours"] == 0.5
    assert record(tmp_path, new_id)["config"]["out"] == f"/vol/runs/{run_id}"  # the same folder
    new_call = fake.modal.function_calls[record(tmp_path, new_id)["call_id"]]
    deadline = time.monotonic() + 300
    while not [e for e in events_of(new_call, run_id)[logged:] if e["type"] == "step"]:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    since = events_of(new_call, run_id)[logged:]
    assert f"resuming acft at epoch {stopped_at + 1}, step {stopped_at}" in [e.get("message") for e in since]
    assert [e for e in since if e["type"] == "step"][0]["step"] == stopped_at + 1
    assert wacft(client_python, fake, tmp_path, "cancel", new_id).returncode == 0
    assert json.loads((folder / ".spent.json").read_text()).keys() >= {run_id}  # a ledger each run id


def events_of(call, run_id):
    """The events the call's running container has logged so far (its working copy of the volume)."""
    log = call.work / "runs" / run_id / "events.jsonl"
    lines = log.read_text().splitlines() if call.work and log.is_file() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def test_a_container_without_a_working_gpu_ends_the_run_at_once_with_a_sentence(fake, client_python, tiny_en_dir,
                                                                                dataset, tmp_path):
    fake.modal.gpu_device = None  # the job asks for CUDA, which this machine has not: as a container whose GPU failed
    run_id, _ = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "1")
    watched = wacft(client_python, fake, tmp_path, "watch", run_id)
    assert watched.returncode == 1 and "Traceback" not in watched.stderr
    assert "Modal started this run's container without a working A100-40GB (CUDA did not start)" in watched.stderr
    call = fake.modal.function_calls[record(tmp_path, run_id)["call_id"]]
    assert (call.attempts, call.failures) == (1, 0)  # not retried: no CPU training at A100 prices


def test_the_job_is_sent_only_volume_paths_never_this_machines(fake, client_python, tiny_en_dir, dataset, tmp_path):
    """A local model folder and dataset go to the volume: the container has nothing of this machine."""
    run_id, _ = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "1")
    config = record(tmp_path, run_id)["config"]
    assert all(config[k].startswith("/vol/") for k in ("model", "dataset", "out")), config
    model = fake.modal.volume / config["model"].removeprefix("/vol/")
    assert (model / "model.safetensors").read_bytes() == (tiny_en_dir / "model.safetensors").read_bytes()
    assert wacft(client_python, fake, tmp_path, "watch", run_id).returncode == 0
    again, _ = launch(client_python, fake, tmp_path, tiny_en_dir, dataset, "--epochs", "1")
    assert record(tmp_path, again)["config"]["model"] == config["model"]  # uploaded once
    assert wacft(client_python, fake, tmp_path, "cancel", again).returncode == 0


def modal_run(python, server, tmp_path, entrypoint, *args):
    from wacft import modal_jobs

    return subprocess.run([python, "-m", "modal", "run", f"{modal_jobs.PACKAGE_ROOT / 'modal_cli.py'}::{entrypoint}",
                           *args], env=client_env(server, tmp_path), capture_output=True, text=True, timeout=600)


def test_each_modal_run_entrypoint_launches_inside_the_app_modal_run_runs(fake, client_python, tiny_en_dir, dataset,
                                                                          tmp_path, monkeypatch):
    done = modal_run(client_python, fake, tmp_path, "acft", "--model", str(tiny_en_dir), "--dataset", str(dataset),
                     "--epochs", "1", "--finetune-keep", "0.5")
    assert done.returncode == 0, done.stderr
    assert "trained model in /vol/runs/" in done.stdout and "Traceback" not in done.stderr
    [launched] = [json.loads(p.read_text()) for p in (Path(os.environ["WACFT_HOME"]) / "runs").glob("*.json")]
    assert launched["status"] == "done" and launched["config"]["finetune_keep"] == 0.5
    # the published recipes: FLEURS from the hub's parquet export, which this machine cannot reach
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the containers' environment: fail at once, not after retries
    for recipe, size in (("tiny_acft_app", "tiny"), ("base_acft_app", "base"), ("small_acft_app", "small"),
                         ("medium_acft_app", "medium")):
        ended = modal_run(client_python, fake, tmp_path, recipe)
        assert ended.returncode == 1 and "Traceback" not in ended.stderr, ended.stderr
        assert "openai/whisper-" + size in ended.stderr  # the one sentence: the model cannot be downloaded here
    configs = [json.loads(p.read_text())["config"] for p in (Path(os.environ["WACFT_HOME"]) / "runs").glob("*.json")]
    assert sum(c["dataset"] == "google/fleurs@refs/convert/parquet" and c["dataset_config"] == "en_us"
               for c in configs) == 4


def test_a_dataset_of_real_size_goes_up_through_blob_storage_and_a_cut_off_upload_resumes(fake, client_python,
                                                                                          tiny_en_dir, tmp_path):
    """200 MB of clips of 4.8 MB each (25 s of 48 kHz stereo): each is 4 MiB or more, so it goes through blob
    storage, as on Modal. The first launch is killed after its first batch; the next sends only what the volume
    lacks, then marks it whole."""
    import numpy as np
    import soundfile

    folder, rng = tmp_path / "big", np.random.default_rng(0)
    folder.mkdir()
    rows = ["file_name,text"]
    for k in range(42):
        soundfile.write(folder / f"clip{k:02d}.wav", (rng.standard_normal((25 * 48000, 2)) * 300).astype(np.int16),
                        48000, subtype="PCM_16")
        rows.append(f"clip{k:02d}.wav,Clip number {k}.")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total > 200e6
    args = [client_python, "-c", CLI, "train", "--on", "modal", "--detach", "--yes", "--model", str(tiny_en_dir),
            "--dataset", str(folder), "--epochs", "1"]
    first = subprocess.Popen(args, env={**client_env(fake, tmp_path), "PYTHONUNBUFFERED": "1"},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    said = []
    for line in first.stdout:
        said.append(line)
        if line.startswith("uploading the dataset: "):  # one batch is on the volume
            first.kill()
            break
    first.wait(60)
    assert first.returncode == -signal.SIGKILL, said
    assert not fake.modal.called("FunctionMap")  # nothing launched
    blobs_before = len(fake.modal.called("BlobCreate"))
    assert blobs_before >= 10  # the first batch's files, at least
    second = subprocess.run(args, env=client_env(fake, tmp_path), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    sent_before = int(second.stdout.split("uploading the dataset: ")[1].split(" of ")[0])
    assert 60 <= sent_before < total / 1e6  # at least the first batch (64 MB) was kept
    assert "uploading the dataset: 100% (" in second.stdout
    assert len(fake.modal.called("BlobCreate")) - blobs_before < 42  # what was kept was not sent again
    remote = fake.modal.volume / record(tmp_path, second.stdout.split("run ")[-1].split()[0])["config"][
        "dataset"].removeprefix("/vol/")
    assert (remote.parent / ".uploaded").is_file() and remote.name == "big"
    assert all((remote / p.name).read_bytes() == p.read_bytes() for p in folder.iterdir())


def test_out_of_gpu_memory_is_the_persons_to_fix_and_says_how():
    """A CUDA out-of-memory error cannot be made on this machine: its sentence is checked as a sentence."""
    from wacft.modal_jobs import out_of_memory

    said = out_of_memory("A100-40GB", 8)
    assert said.startswith("The A100-40GB ran out of memory training batches of 8 clips;")
    assert "--gpu A100-80GB or H100" in said and "--batch-size (e.g. 4)" in said
    assert "--gpu" not in out_of_memory("H100", 1) and "--batch-size (e.g. 1)" in out_of_memory("H100", 1)
