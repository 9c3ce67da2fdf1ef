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

import json
import sys
from pathlib import Path

import modal

from wacft.acft.config import TrainConfig
from wacft.acft.events import BufferedPublisher, FanOut, JsonLinesSink
from wacft.acft.outdir import CHECKPOINT
from wacft.errors import WacftError
from wacft.facts import DEFAULT_GPU

APP_NAME = "wacft"
VOLUME_NAME = "wacft"
MOUNT = "/vol"  # where the function mounts the volume; the paths the client writes into a config name it
VOLUME_PATH = MOUNT  # where this container has it (the tests' fake Modal mounts a temporary folder)
SECRET_NAME = "huggingface-token"  # holds HF_TOKEN
EVENTS_DICT = "wacft-events"
TIMEOUT = 24 * 60 * 60
RETRIES = 3  # after an infrastructure failure (preemption, a crashed container); a person's error: none
ATTEMPTS = RETRIES + 1
EVENT_LOG = "events.jsonl"
# Every package of the image, pinned to what `make test` ran when scripts/lock-modal-image wrote the file
IMAGE_LOCK = Path(__file__).resolve().with_name("modal-image.txt")
PACKAGE_ROOT = Path(__file__).resolve().parent
NOT_SHIPPED = {".venv", "tests", "bench", "scripts", "tui", "device", "record", "wacft.egg-info", "build", "dist"}


def not_shipped(relative: Path) -> bool:
    """The image carries the package's own Python modules only: no virtualenv, tests, benchmarks or wizard."""
    if relative.parts and (relative.parts[0] in NOT_SHIPPED or relative.parts[0].startswith(".")):
        return True
    return (PACKAGE_ROOT / relative).is_file() and relative.suffix != ".py"


def shipped_files() -> list[Path]:
    files = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        relative = path.relative_to(PACKAGE_ROOT)
        if not any(not_shipped(Path(*relative.parts[: k + 1])) for k in range(len(relative.parts))):
            files.append(path)
    return files


app = modal.App(APP_NAME, include_source=False)  # else Modal mounts the whole package: .venv, tests and all
image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install("espeak-ng")  # speaks the other voices mixed into one person's recordings (acft/other_voices.py)
    .pip_install_from_requirements(str(IMAGE_LOCK))  # read when the image is built, on the client
    .env({"HF_HOME": f"{MOUNT}/hf"})  # downloads of models and datasets persist across runs
    .add_local_python_source("wacft", ignore=not_shipped)
)
volume = modal.Volume.from_name(VOLUME_NAME, create_if_missing=True)


def events_dict():
    return modal.Dict.from_name(EVENTS_DICT, create_if_missing=True)


def run_path(run_id: str) -> str:
    return f"{MOUNT}/runs/{run_id}"


def in_container(path: str) -> str:
    """A path the client wrote under MOUNT, where this container has the volume."""
    return VOLUME_PATH + path[len(MOUNT):] if path == MOUNT or path.startswith(MOUNT + "/") else path


class EventChannel:
    """A run's events in the Dict: batches under `RUN/0`, `RUN/1`, ..., the next number under `RUN/next`
    (so a retried container goes on from there), the attempts so far under `RUN/attempts`."""

    def __init__(self, store, run_id: str):
        self.store, self.run_id = store, run_id
        self.next = store.get(f"{run_id}/next", 0)

    def send(self, batch: list[dict]) -> None:
        self.store.update({f"{self.run_id}/{self.next}": batch, f"{self.run_id}/next": self.next + 1})
        self.next += 1

    def read(self, seq: int) -> list[dict] | None:
        return self.store.get(f"{self.run_id}/{seq}")

    def begin_attempt(self) -> int:
        attempt = self.store.get(f"{self.run_id}/attempts", 0) + 1
        self.store[f"{self.run_id}/attempts"] = attempt
        return attempt


class CommitOnCheckpoint:
    """A checkpoint only survives preemption once the volume is committed."""

    def __init__(self, volume):
        self.volume = volume

    def emit(self, event: dict) -> None:
        if event["type"] == "checkpoint":
            self.volume.commit()


class HoldFinal:
    """Passes every event on but the trainer's `done` and `error`: the job sends its own once the outputs
    are converted and committed, or once it knows whether a failure is retried."""

    def __init__(self, sink):
        self.sink, self.final = sink, None

    def emit(self, event: dict) -> None:
        if event["type"] in ("done", "error"):
            self.final = event
        else:
            self.sink.emit(event)


def checkpoint_step(out: Path) -> int:
    progress = out / CHECKPOINT / "progress.json"
    return json.loads(progress.read_text())["step"] if progress.is_file() else 0


def run_job(config_json: str, run_id: str, convert_types: list[str]) -> dict:
    """The GPU function's body: train into the run's folder on the volume (resuming from its checkpoint on a
    retry), convert beside the weights, commit, and only then say `done`. A person's error (WacftError) ends
    the run with its sentence and no retry; anything else is raised, so that Modal retries it."""
    config = TrainConfig.from_json(config_json)
    config.out, config.dataset = in_container(run_path(run_id)), in_container(config.dataset)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    channel = EventChannel(events_dict(), run_id)
    attempt = channel.begin_attempt()
    publisher = BufferedPublisher(channel.send)
    with open(out / EVENT_LOG, "a") as log:
        record = FanOut(JsonLinesSink(log), publisher)  # the log on the volume is the durable record
        trainer_sink = HoldFinal(FanOut(record, CommitOnCheckpoint(volume), JsonLinesSink(sys.stdout)))
        try:
            if attempt > 1:
                step = checkpoint_step(out)
                record.emit({"type": "retrying", "attempt": attempt, "attempts": ATTEMPTS, "resume_step": step,
                             "message": f"retrying (attempt {attempt} of {ATTEMPTS}), resuming from step {step}"})
            artifacts = train_and_convert(config, convert_types, trainer_sink)
            done = {**trainer_sink.final, "out": run_path(run_id), "artifacts": artifacts}
            log.flush()
            volume.commit()  # `done` means the weights, conversions and card are on the committed volume
            record.emit(done)
            return artifacts
        except WacftError as e:
            record.emit({"type": "error", "stage": (trainer_sink.final or {}).get("stage", "acft"),
                         "message": str(e)})
            return {"error": str(e)}  # returned, not raised: a retry would meet the same error
        except BaseException as e:
            if attempt >= ATTEMPTS:
                record.emit({"type": "error", "stage": "acft",
                             "message": f"the job failed on each of its {ATTEMPTS} attempts; the last: {e!r}"})
            else:
                record.emit({"type": "log", "message": f"attempt {attempt} of {ATTEMPTS} failed: {e!r}"})
            raise
        finally:
            log.flush()
            publisher.close()
            volume.commit()


def train_and_convert(config: TrainConfig, convert_types: list[str], sink: HoldFinal) -> dict:
    from wacft.acft.trainer import train

    out = Path(config.out)
    train(config, sink, resume=(out / CHECKPOINT).is_dir())
    artifacts = {"model": run_path(out.name)}
    if convert_types:
        from wacft.convert.convert import convert, plan_outputs

        outputs = [o for t in convert_types for o in plan_outputs(out / f"model_{t}.bin", [t])]  # one name per type
        for result in convert(str(out), outputs, force=True):
            artifacts[result.file_type.name] = f"{run_path(out.name)}/{result.path.name}"
        sink.emit({"type": "log", "message": f"converted: {', '.join(convert_types)}"})
    return artifacts


@app.function(
    image=image,
    gpu=DEFAULT_GPU,
    volumes={MOUNT: volume},
    secrets=[modal.Secret.from_name(SECRET_NAME)],
    timeout=TIMEOUT,
    retries=modal.Retries(max_retries=RETRIES, initial_delay=10.0, backoff_coefficient=2.0),
)
def train_on_gpu(config_json: str, run_id: str, convert_types: list[str]) -> dict:
    return run_job(config_json, run_id, convert_types)
