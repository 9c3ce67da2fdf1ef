"""Where a run happens: a local process or a Modal GPU, both behind one `Backend` protocol. Both launch from a
TrainConfig, record the run, and replay its events into any EventSink, so the services (and the CLI and the TUI
above them) need not care which one runs it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import ClassVar, Protocol

from wacft.acft.config import TrainConfig
from wacft.acft.events import EventSink
from wacft.acft.outdir import claim_out, holds_checkpoint
from wacft.acft.runs import RunRecord, cancelled_meanwhile, cancelling, default_out, new_id
from wacft.errors import WacftError
from wacft.extras import require_extra

FINAL = ("done", "error")
Progress = Callable[[int, int], None]  # bytes done, bytes in all
STOP_GRACE = 30.0  # seconds a cancelled run has to finish its step and say it stopped


def absorb(record: RunRecord, event: dict) -> None:
    """Fold one event into the run's record."""
    if event["type"] == "step":
        record.last = event
        record.status = "running"
    elif event["type"] == "done":
        record.status = "done"
        record.artifacts["model"] = event["out"]
        record.artifacts.update(event.get("artifacts", {}))  # a Modal job's converted files, on its volume
    elif event["type"] == "held_out":
        record.held_out = {"of": event["of"], "clips": event["clips"]}
    elif event["type"] == "retrying":  # a Modal job retried after an infrastructure failure: still running
        record.status = "running"
    elif event["type"] == "error":
        record.status, record.error = "failed", event["message"]


class Backend(Protocol):
    """Where a run happens. `launch` starts one (`confirm` may refuse it with a WacftError before anything is
    started or spent; `say` tells of the launch's own progress); `watch` replays its events from the first into
    `sink` and follows them to its end, or until `stop` is set (the run goes on); `resume` starts a stopped run
    again from its last checkpoint; `fetch` brings its trained model (or one converted .bin) to `dest`."""

    name: str

    def launch(self, config: TrainConfig, *, resume: bool = False, force: bool = False,
               say: Callable[[str], None] = print, confirm: Callable[[], None] | None = None) -> RunRecord: ...

    def watch(self, record: RunRecord, sink: EventSink, stop: threading.Event | None = None) -> RunRecord: ...

    def cancel(self, record: RunRecord) -> RunRecord: ...

    def resume(self, record: RunRecord) -> RunRecord: ...

    def fetch(self, record: RunRecord, dest: Path, only: str | None = None,
              progress: Progress | None = None) -> list[Path]: ...


class LocalBackend:
    """`python -m wacft.acft` in its own session: closing the terminal does not stop it. Its events go to
    a JSON-lines file in the output folder, which `watch` follows."""

    name = "local"
    children: ClassVar[dict[int, subprocess.Popen]] = {}  # this process's: polled, so they are reaped

    def launch(self, config: TrainConfig, *, resume: bool = False, force: bool = False,
               say: Callable[[str], None] = print, confirm: Callable[[], None] | None = None) -> RunRecord:
        """Start a run (or resume the one in config.out) in a background process, as a new record whose
        events file is its own: a watcher never replays an earlier attempt's `done` or `error`. (`say`: the start
        is immediate, with nothing to tell of.)"""
        config = replace(config, out=config.out or str(default_out(config.model)))
        require_extra("train")  # the child would only write a traceback into train.log
        claim_out(config, resume, force)  # the settings checked, --out refused, before a process or a folder
        if confirm:
            confirm()
        run_id = new_id(config.model)
        out = Path(config.out).resolve()
        out.mkdir(parents=True, exist_ok=True)
        config = replace(config, out=str(out))
        settings, events = out / "run_config.json", out / f"events-{run_id}.jsonl"
        settings.write_text(config.to_json())
        command = [sys.executable, "-m", "wacft.acft", "--config", str(settings)]
        command += ["--resume"] if resume else []
        command += ["--force"] if force else []
        with open(events, "ab") as stdout, open(out / "train.log", "ab") as stderr:
            child = subprocess.Popen(command, stdout=stdout, stderr=stderr, start_new_session=True)
        self.children[child.pid] = child
        record = RunRecord(run_id, self.name, asdict(config), status="running", pid=child.pid)
        record.events = str(events)
        return record.save()

    def alive(self, record: RunRecord) -> bool:
        if record.pid in self.children:
            return self.children[record.pid].poll() is None
        try:
            os.kill(record.pid, 0)
        except (ProcessLookupError, TypeError):
            return False
        return True

    def watch(self, record: RunRecord, sink: EventSink, stop: threading.Event | None = None,
              poll: float = 0.2) -> RunRecord:
        """Replay the run's events from its start, then follow them until it ends (or `stop` is set)."""
        stop = stop or threading.Event()
        with open(record.events, "rb") as f:
            while True:
                if stop.is_set():  # unsaved: what this watch has replayed so far is not the run's state
                    return record
                start = f.tell()
                line = f.readline()
                if line.endswith(b"\n"):
                    event = json.loads(line)
                    absorb(record, event)
                    sink.emit(event)
                    if event["type"] in FINAL:
                        break
                    continue
                f.seek(start)  # a line still being written: read it whole next time
                if self.alive(record):
                    stop.wait(poll)
                elif f.read() == line:  # gone, and nothing more came after the last look
                    record.status, record.error = "failed", "the training process ended without finishing"
                    break
                else:
                    f.seek(start)
        return cancelled_meanwhile(record).save()

    def cancel(self, record: RunRecord) -> RunRecord:
        """SIGTERM: the run says it was stopped and leaves its folder clean; it is killed if it takes too long.
        Returns once it is gone, so a resume right after finds the folder free. Recorded first, so that a
        watcher in another process reports the stop that follows as a cancel."""
        with cancelling(record):
            if self.alive(record):
                os.killpg(record.pid, signal.SIGTERM)
                if not self.gone(record, STOP_GRACE):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(record.pid, signal.SIGKILL)
                    self.gone(record, 5.0)
        return record

    def resume(self, record: RunRecord) -> RunRecord:
        """The stopped run again, from its folder's last checkpoint, as a new record."""
        if not holds_checkpoint(Path(record.config["out"])):
            raise WacftError(f"Run {record.id} stopped before its first checkpoint, so there is nothing to resume;"
                             " launch it again from the start.")
        return self.launch(TrainConfig.from_json(json.dumps(record.config), saved=True), resume=True)

    def fetch(self, record: RunRecord, dest: Path, only: str | None = None,
              progress: Progress | None = None) -> list[Path]:
        raise WacftError(f"Run {record.id} ran locally; its model is already in {record.config['out']}.")

    def gone(self, record: RunRecord, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.alive(record):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True
