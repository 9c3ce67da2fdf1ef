"""The Modal app: ACFT training on a cloud GPU, its checkpoints and outputs on a Volume.

The `modal run` entrypoints are in modal_cli.py (they present; this is the engine they launch).

Imports only modal and the light parts of wacft: the client (launch, watch, cancel, fetch) runs without torch;
the GPU function's body imports the trainer when it runs.

Events reach watchers through a `modal.Dict`, as numbered batches (`RUN/0`, `RUN/1`, ...), chosen over the
other carriers by their documented limits: a Queue partition holds at most 5,000 items, `put` waits while it
is full, `get` removes what it reads (two watchers steal from each other, a reattach cannot replay) and the
Queue is cleared when the app stops; the volume's JSON-lines log is seen by a client only after a commit and
only whole (no ranged read). Dict entries are durable and kept 7 days after their last read or write, any
number of readers can read them from the start, and a batch of a second of events is a few kB. The trainer
never waits on the Dict (acft.events.BufferedPublisher); the JSON-lines log on the volume stays the durable
record. `bench/bench_modal_events.py` prints what a step pays to publish.
"""

from __future__ import annotations

import ast
import functools
import json
import sys
import threading
import time
from pathlib import Path

import modal

from wacft.acft.config import TrainConfig
from wacft.acft.events import BufferedPublisher, Event, FanOut, JsonLinesSink
from wacft.atomic import write_bytes_atomic
from wacft.errors import WacftError
from wacft.facts import DEFAULT_GPU, MODAL_CPU_CORES, MODAL_MAX_HOURS, MODAL_MEMORY_MIB
from wacft.run_folder import CHECKPOINT, COMPLETE, FINISHED, SPENT, TRAINED, holds_checkpoint

APP_NAME = "wacft"
VOLUME_NAME = "wacft"
MOUNT = "/vol"  # where the function mounts the volume; the paths the client writes into a config name it
VOLUME_PATH = MOUNT  # where this container has it (the tests' fake Modal mounts a temporary folder)
GPU_DEVICE = "cuda"  # what the job trains on: a GPU or nothing (the tests' fake Modal, which has none, names "cpu")
SECRET_NAME = "huggingface-token"  # holds HF_TOKEN
EVENTS_DICT = "wacft-events"
# Modal retries the job's own exceptions and its timeouts this often (a lost or preempted container is
# restarted on top, without counting); a person's error (WacftError) is returned, never retried
RETRIES = 3
# past the budget's training share the run checkpoints and stops: the rest is for saving and converting
FINISHING_SECONDS = 10 * 60
BUDGET_TICK = 10.0  # how often the GPU time spent is written down on the volume (its auto-commit keeps it)
EVENT_LOG = "events.jsonl"
# the job's own files beside the run (acft/outdir.py): SPENT holds {run id: GPU seconds} of each launch into the
# folder (a resumed run has its own budget); TRAINED the trainer's `done`, for a container that finds the model
# already saved; COMPLETE, written last, after the model and its conversions, {file name: size}
# Every package of the image, pinned to what `make test` ran when scripts/lock-modal-image wrote the file
IMAGE_LOCK = Path(__file__).resolve().with_name("modal-image.txt")
PACKAGE_ROOT = Path(__file__).resolve().parent


def imported_modules(path: Path, package: str) -> set[str]:
    """The wacft modules (and names imported from them) that a module of `package` imports anywhere, lazy
    imports inside functions included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parent = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            base = ".".join(parent + ([node.module] if node.module else []))
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {n for n in names if n == "wacft" or n.startswith("wacft.")}


def module_file(name: str) -> Path | None:
    """The file of a wacft module; None for a name that is not one (a class imported from a module)."""
    path = PACKAGE_ROOT.joinpath(*name.split(".")[1:])
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def shipped_files() -> tuple[Path, ...]:
    """What the container gets of wacft: every module the job imports, followed through their imports, and the
    data files beside them in their packages. Derived, so a module the job comes to need cannot be left out."""
    todo, seen, files = ["wacft.modal_jobs"], set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            continue
        files.add(path)
        parts = name.split(".")
        todo += [".".join(parts[:k]) for k in range(1, len(parts))]  # the packages it lives in
        todo += imported_modules(path, name if path.name == "__init__.py" else ".".join(parts[:-1]))
    for folder in {f.parent for f in files} - {PACKAGE_ROOT}:  # the root's other files are the repo's own
        files |= {p for p in folder.iterdir() if p.is_file() and p.suffix not in (".py", ".pyc")}
    return tuple(sorted(files))


def not_shipped(relative: Path) -> bool:
    return PACKAGE_ROOT / relative not in shipped_files()


app = modal.App(APP_NAME, include_source=False)  # else Modal mounts the whole package: .venv, tests and all
image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install("espeak-ng")  # speaks the other voices mixed into one person's recordings (acft/other_voices.py)
    .pip_install_from_requirements(str(IMAGE_LOCK))  # read when the image is built, on the client
    .env({"HF_HOME": f"{MOUNT}/hf"})  # downloads of models and datasets persist across runs
    .add_local_python_source("wacft", ignore=not_shipped)
)
volume = modal.Volume.from_name(VOLUME_NAME, create_if_missing=True)


def events_dict() -> modal.Dict:
    return modal.Dict.from_name(EVENTS_DICT, create_if_missing=True)


def run_path(run_id: str) -> str:
    return f"{MOUNT}/runs/{run_id}"


def in_container(path: str) -> str:
    """A path the client wrote under MOUNT, where this container has the volume."""
    return VOLUME_PATH + path[len(MOUNT):] if path == MOUNT or path.startswith(MOUNT + "/") else path


class EventChannel:
    """A run's events in the Dict: batches under `RUN/0`, `RUN/1`, ..., the next number under `RUN/next`
    (so a restarted container goes on from there), the container starts so far under `RUN/starts`."""

    def __init__(self, store, run_id: str):
        self.store, self.run_id = store, run_id
        self.next = store.get(f"{run_id}/next", 0)

    def send(self, batch: list[dict]) -> None:
        self.store.update({f"{self.run_id}/{self.next}": batch, f"{self.run_id}/next": self.next + 1})
        self.next += 1

    def read(self, seq: int) -> list[Event] | None:
        return self.store.get(f"{self.run_id}/{seq}")

    def begin_start(self) -> int:
        start = self.store.get(f"{self.run_id}/starts", 0) + 1
        self.store[f"{self.run_id}/starts"] = start
        return start


class CommitOnCheckpoint:
    """A checkpoint is kept at once, not at the volume's next commit of its own."""

    def __init__(self, volume):
        self.volume = volume

    def emit(self, event: Event) -> None:
        if event["type"] == "checkpoint":
            self.volume.commit()


class HoldFinal:
    """Passes every event on but the trainer's `done` and `error`: the job sends its own once the outputs
    are converted and committed, and none for a failure Modal retries."""

    def __init__(self, sink):
        self.sink, self.final = sink, None

    def emit(self, event: Event) -> None:
        if event["type"] in ("done", "error"):
            self.final = event
        else:
            self.sink.emit(event)


class Budget:
    """The GPU seconds a run may use across all its containers, and those it has used, kept on the volume
    every BUDGET_TICK seconds (a restarted container loses at most that much of the count)."""

    def __init__(self, out: Path, run_id: str, seconds: float):
        self.path, self.run_id, self.seconds = out / SPENT, run_id, seconds
        self.before = self.ledger().get(run_id, 0.0)
        self.started = time.monotonic()
        self.stopped = threading.Event()

    def ledger(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def spent(self) -> float:
        return self.before + time.monotonic() - self.started

    def save(self) -> None:
        write_bytes_atomic(self.path, json.dumps({**self.ledger(), self.run_id: self.spent()}).encode())

    def deadline(self) -> float:
        """When training must stop (time.monotonic()), leaving FINISHING_SECONDS (at most a tenth) to finish."""
        finishing = min(FINISHING_SECONDS, self.seconds / 10)
        return self.started + self.seconds - self.before - finishing

    def __enter__(self) -> Budget:
        def keep() -> None:
            while not self.stopped.wait(BUDGET_TICK):
                self.save()

        threading.Thread(target=keep, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.save()


def checkpoint_step(out: Path) -> int:
    progress = out / CHECKPOINT / "progress.json"
    return json.loads(progress.read_text())["step"] if progress.is_file() else 0


def budget_spent(run_id: str, hours: float, step: int) -> str:
    return (f"The run used its budget of {hours:g} h of GPU time and stopped at step {step}, its checkpoint kept;"
            f" `wacft resume {run_id} --max-hours H` goes on from there with a new budget.")


def out_of_memory(gpu: str, batch_size: int) -> str:
    bigger = "pick --gpu A100-80GB or H100, or " if gpu == "A100-40GB" else ""
    return (f"The {gpu} ran out of memory training batches of {batch_size} clips; {bigger}launch it again with a"
            f" smaller --batch-size (e.g. {max(1, batch_size // 2)}) or a lower --max-audio-length.")


def run_job(config_json: str, run_id: str, convert_types: list[str], budget_hours: float, gpu: str) -> dict:
    """The GPU function's body: train into the run's folder on the volume (resuming from its checkpoint when a
    container is restarted or the run resumed), convert beside the weights, commit, mark the folder complete, and
    only then say `done`. A person's error (WacftError: the budget spent, no GPU, out of memory, a bad dataset)
    ends the run with its sentence and no retry. Anything else sends no final event and is raised: Modal retries
    it, and a watcher learns how the call ended from the call itself."""
    config = TrainConfig.from_json(config_json)
    remote_out = config.out  # as the client names it: under MOUNT
    config.out, config.dataset, config.model = map(in_container, (config.out, config.dataset, config.model))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    channel = EventChannel(events_dict(), run_id)
    start = channel.begin_start()
    publisher = BufferedPublisher(channel.send)
    with open(out / EVENT_LOG, "a") as log, Budget(out, run_id, budget_hours * 3600) as budget:
        record = FanOut(JsonLinesSink(log), publisher)  # the log on the volume is the durable record
        trainer_sink = HoldFinal(FanOut(record, CommitOnCheckpoint(volume), JsonLinesSink(sys.stdout)))
        try:
            if start > 1:
                step = checkpoint_step(out)
                record.emit({"type": "retrying", "attempt": start, "resume_step": step,
                             "message": f"container start {start}: resuming from step {step}"})
            artifacts = train_and_convert(config, remote_out, convert_types, trainer_sink, budget, gpu)
            done = {**trained(out), "out": remote_out, "artifacts": artifacts}
            log.flush()
            volume.commit()  # `done` means the weights, conversions and card are on the committed volume
            record.emit(done)
            return artifacts
        except WacftError as e:
            from wacft.acft.trainer import TimeUp

            message = budget_spent(run_id, budget_hours, e.step) if isinstance(e, TimeUp) else str(e)
            record.emit({"type": "error", "stage": (trainer_sink.final or {}).get("stage", "acft"),
                         "message": message})
            return {"error": message}  # returned, not raised: a retry would meet the same error
        except KeyboardInterrupt:  # Modal's SIGINT before a preemption: it restarts the container
            record.emit({"type": "log", "message": f"container start {start} was stopped; Modal restarts it"})
            raise
        except BaseException as e:
            record.emit({"type": "log", "message": f"container start {start} failed ({e!r}); Modal retries it up"
                                                   f" to {RETRIES} times"})
            raise
        finally:
            log.flush()
            publisher.close()
            budget.save()
            volume.commit()


def train_and_convert(config: TrainConfig, remote_out: str, convert_types: list[str], sink: HoldFinal,
                      budget: Budget, gpu: str) -> dict:
    """Train (unless an earlier container already saved the model), then convert and mark the folder complete."""
    import torch

    from wacft.acft.trainer import train

    out = Path(config.out)
    if not (out / FINISHED).is_file() or holds_checkpoint(out):
        if budget.spent() >= budget.seconds:
            from wacft.acft.trainer import TimeUp

            raise TimeUp(checkpoint_step(out), 0)
        if GPU_DEVICE == "cuda" and not torch.cuda.is_available():
            raise WacftError(f"Modal started this run's container without a working {gpu} (CUDA did not start);"
                             " nothing was trained: launch it again.")
        try:
            train(config, sink, resume=holds_checkpoint(out), deadline=budget.deadline())
        except torch.OutOfMemoryError as e:
            raise WacftError(out_of_memory(gpu, config.batch_size)) from e
        write_bytes_atomic(out / TRAINED, json.dumps(sink.final).encode())
        volume.commit()  # the trained model is kept whatever happens to the conversion
    else:
        sink.emit({"type": "log", "message": "the model was trained by an earlier container; converting it"})
    artifacts = {"model": remote_out}
    if convert_types:
        from wacft.convert.convert import convert, plan_outputs

        outputs = [o for t in convert_types for o in plan_outputs(out / f"model_{t}.bin", [t])]  # one name per type
        for result in convert(str(out), outputs, force=True):
            artifacts[result.file_type.name] = f"{remote_out}/{result.path.name}"
        sink.emit({"type": "log", "message": f"converted: {', '.join(convert_types)}"})
    mark_complete(out)  # last: fetch takes nothing before it
    return artifacts


def trained(out: Path) -> dict:
    """The trainer's `done`, as the container that trained kept it (one lost right after saving the model kept
    none: then without its figures)."""
    try:
        return json.loads((out / TRAINED).read_text())
    except FileNotFoundError:
        return {"type": "done", "stage": "acft", "final_loss": None}


def mark_complete(out: Path) -> None:
    """The run's folder is whole: its files (name: size), which fetch takes and nothing before."""
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file() and not p.name.startswith(".")}
    write_bytes_atomic(out / COMPLETE, json.dumps(files).encode())


@app.function(
    image=image,
    gpu=DEFAULT_GPU,
    cpu=MODAL_CPU_CORES,
    memory=MODAL_MEMORY_MIB,
    volumes={MOUNT: volume},
    secrets=[modal.Secret.from_name(SECRET_NAME)],
    timeout=int(MODAL_MAX_HOURS * 3600),  # each launch sets its own: its budget, and the time to finish
    retries=modal.Retries(max_retries=RETRIES, initial_delay=10.0, backoff_coefficient=2.0),
)
def train_on_gpu(config_json: str, run_id: str, convert_types: list[str], budget_hours: float, gpu: str) -> dict:
    return run_job(config_json, run_id, convert_types, budget_hours, gpu)
