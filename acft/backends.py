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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Protocol, cast

from wacft.acft.config import TrainConfig
from wacft.acft.events import CallbackSink, Event, EventSink
from wacft.acft.outdir import claim_out
from wacft.acft.runs import ACTIVE, RunRecord, cancelled_meanwhile, cancelling, default_out, new_id
from wacft.convert.source import check_trainable
from wacft.dataset.clips import load_clips
from wacft.errors import WacftError
from wacft.extras import require_extra
from wacft.run_folder import holds_checkpoint

FINAL = ("done", "error")
Progress = Callable[[int, int], None]  # bytes done, bytes in all


@dataclass(frozen=True)
class ConvertInput:
    """What the convert step starts from: a model to convert (a folder here, or a hub id), or the .bin files a
    run already made where it ran, fetched here (type -> path)."""

    model: str = ""
    made: dict[str, Path] = field(default_factory=dict)
STOP_GRACE = 30.0  # seconds a cancelled run has to finish its step and say it stopped


def absorb(record: RunRecord, event: Event) -> None:
    """Fold one event into the run's record."""
    if event["type"] == "step":
        record.last = dict(event)
        record.status = "running"
    elif event["type"] == "done":
        record.status = "done"
        record.artifacts["model"] = event["out"]
        record.artifacts.update(event.get("artifacts", {}))  # a Modal job's converted files, on its volume
    elif event["type"] == "held_out":
        record.held_out = {"of": event["of"], "clips": event["clips"]}
    elif event["type"] == "retrying":  # a Modal job in a container started again: still running
        record.status = "running"
    elif event["type"] == "error":
        record.status, record.error = "failed", event["message"]


class Backend(Protocol):
    """Where a run happens. `launch` starts one (`confirm` may refuse it with a WacftError before anything is
    started or spent; `say` tells of the launch's own progress); `watch` replays its events from the first into
    `sink` and follows them to its end, or until `stop` is set (the run goes on); `resume` starts a stopped run
    again from its last checkpoint; `fetch` brings its trained model (or one converted .bin) to `dest`. `remote`:
    its outputs stay where it ran, and are fetched to be used here."""

    name: str
    remote: bool

    def launch(self, config: TrainConfig, *, resume: bool = False, force: bool = False,
               say: Callable[[str], None] = print, confirm: Callable[[], None] | None = None) -> RunRecord: ...

    def watch(self, record: RunRecord, sink: EventSink, stop: threading.Event | None = None) -> RunRecord: ...

    def cancel(self, record: RunRecord) -> RunRecord: ...

    def resume(self, record: RunRecord, say: Callable[[str], None] = print) -> RunRecord: ...

    def fetch(self, record: RunRecord, dest: Path, only: str | None = None,
              progress: Progress | None = None) -> list[Path]: ...

    def fetch_for_convert(self, record: RunRecord, dest: Path, types: list[str],
                          progress: Progress | None = None) -> ConvertInput:
        """What the convert step needs of the run's output, in `dest` where it has to be fetched."""
        ...

    def kept_checkpoint(self, record: RunRecord) -> bool:
        """Whether a stopped run has a checkpoint to resume from."""
        ...

    def resume_cost(self, record: RunRecord, max_hours: float | None) -> str | None:
        """What resuming may cost, to ask about first; None where it costs nothing."""
        ...

    def last_step(self, record: RunRecord) -> dict[str, Any]:
        """The run's latest step event, as up to date as can be had without a watch."""
        ...

    def settle(self, record: RunRecord) -> RunRecord:
        """The record as the run is now, where that can be known without a watch."""
        ...


def command_line(pid: int) -> str | None:
    """What process `pid` runs, its arguments joined by spaces; None where there is no such process (Linux's
    /proc, else `ps`: macOS)."""
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self/cmdline").is_file():
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return None
    try:
        ps = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return ps.stdout.strip() or None


def trainer_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "wacft.acft", "--config", str(out / "run_config.json")]


class LocalBackend:
    """`python -m wacft.acft` in its own session: closing the terminal does not stop it. Its events go to
    a JSON-lines file in the output folder, which `watch` follows."""

    name = "local"
    remote = False
    children: ClassVar[dict[int, subprocess.Popen[bytes]]] = {}  # this process's: polled, so they are reaped

    def launch(self, config: TrainConfig, *, resume: bool = False, force: bool = False,
               say: Callable[[str], None] = print, confirm: Callable[[], None] | None = None) -> RunRecord:
        """Start a run (or resume the one in config.out) in a background process, as a new record whose
        events file is its own: a watcher never replays an earlier attempt's `done` or `error`. (`say`: the start
        is immediate, with nothing to tell of.)"""
        config = replace(config, out=config.out or str(default_out(config.model)))
        require_extra("train")  # the child would only write a traceback into train.log
        claim_out(config, resume, force)  # the settings checked, --out refused, before a process or a folder
        # what the trainer checks first, checked here too: a detached run would only say it later, to no one
        check_trainable(config.model)
        if Path(config.dataset).expanduser().is_dir():  # a hub dataset is read by the run itself: it may be large
            load_clips(config.dataset_spec)
        if confirm:
            confirm()
        run_id = new_id(config.model)
        out = Path(config.out).resolve()
        config = replace(config, out=str(out))
        command, events = trainer_command(out), out / f"events-{run_id}.jsonl"
        # recorded before anything starts: a run no record names could be neither watched nor cancelled
        record = RunRecord(run_id, self.name, asdict(config), events=str(events)).save()
        out.mkdir(parents=True, exist_ok=True)
        (out / "run_config.json").write_text(config.to_json())
        command += ["--resume"] if resume else []
        command += ["--force"] if force else []
        with open(events, "ab") as stdout, open(out / "train.log", "ab") as stderr:
            child = subprocess.Popen(command, stdout=stdout, stderr=stderr, start_new_session=True)
        self.children[child.pid] = child
        record.status, record.pid = "running", child.pid
        try:
            return record.save()
        except WacftError:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise

    def alive(self, record: RunRecord) -> bool:
        """Whether the run's trainer still runs: its pid, running the trainer of this run's folder. A pid alone is
        not enough: the system gives a finished trainer's pid to other programs."""
        if record.pid is None:  # not started
            return False
        if record.pid in self.children:
            return self.children[record.pid].poll() is None
        command = command_line(record.pid)  # a zombie's is empty: it has ended
        out = record.config.get("out")
        if not (command and out):
            return False
        return command.endswith(" ".join(trainer_command(Path(out))[1:]))

    def watch(self, record: RunRecord, sink: EventSink, stop: threading.Event | None = None,
              poll: float = 0.2) -> RunRecord:
        """Replay the run's events from its start, then follow them until it ends (or `stop` is set)."""
        stop = stop or threading.Event()
        with self.events_of(record) as f:
            while True:
                if stop.is_set():  # unsaved: what this watch has replayed so far is not the run's state
                    return record
                start = f.tell()
                line = f.readline()
                if line.endswith(b"\n"):
                    event = self.event(record, line)
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

    def events_of(self, record: RunRecord) -> BinaryIO:
        assert record.events is not None  # a local run's record names its file from the start
        try:
            return open(record.events, "rb")
        except OSError as e:
            raise WacftError(f"The events file of run {record.id}, {record.events}, cannot be read ({e.strerror});"
                             f" what the run wrote is in {record.config.get('out')}.") from e

    def event(self, record: RunRecord, line: bytes) -> Event:
        try:
            event = json.loads(line)
            if isinstance(event, dict) and isinstance(event.get("type"), str):
                return cast(Event, event)  # as the trainer wrote it
        except ValueError:
            pass
        raise WacftError(f"The events file of run {record.id}, {record.events}, holds a line that is no event"
                         f" ({line[:60]!r}); what the run wrote is in {record.config.get('out')}.")

    def settle(self, record: RunRecord) -> RunRecord:
        """A record that still says running while its trainer is gone (no one watched it end): its end, read
        from its events, and kept."""
        if record.status not in ACTIVE or self.alive(record):
            return record
        try:
            return self.watch(record, CallbackSink(lambda event: None))
        except WacftError as e:
            record.status, record.error = "failed", str(e)
            return cancelled_meanwhile(record).save()

    def cancel(self, record: RunRecord) -> RunRecord:
        """SIGTERM: the run says it was stopped and leaves its folder clean; it is killed if it takes too long.
        Returns once it is gone, so a resume right after finds the folder free. Recorded first, so that a
        watcher in another process reports the stop that follows as a cancel."""
        with cancelling(record):
            if self.alive(record) and record.pid is not None:
                os.killpg(record.pid, signal.SIGTERM)
                if not self.gone(record, STOP_GRACE):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(record.pid, signal.SIGKILL)
                    self.gone(record, 5.0)
        return record

    def resume(self, record: RunRecord, say: Callable[[str], None] = print) -> RunRecord:
        """The stopped run again, from its folder's last checkpoint, as a new record."""
        if not holds_checkpoint(Path(record.config["out"])):
            raise WacftError(f"Run {record.id} stopped before its first checkpoint, so there is nothing to resume;"
                             " launch it again from the start.")
        return self.launch(TrainConfig.from_json(json.dumps(record.config), saved=True), resume=True, say=say)

    def fetch_for_convert(self, record: RunRecord, dest: Path, types: list[str],
                          progress: Progress | None = None) -> ConvertInput:
        return ConvertInput(record.artifacts.get("model", record.config["out"]))  # here already

    def kept_checkpoint(self, record: RunRecord) -> bool:
        return holds_checkpoint(Path(record.config["out"]))

    def resume_cost(self, record: RunRecord, max_hours: float | None) -> str | None:
        return None

    def last_step(self, record: RunRecord, tail: int = 1 << 16) -> dict[str, Any]:
        """From the end of its events file: its record is brought up to date only by a watch."""
        if not record.events:
            return record.last
        try:
            with open(record.events, "rb") as f:
                f.seek(max(0, f.seek(0, 2) - tail))
                lines = f.read().splitlines()
        except OSError:
            return record.last
        for line in reversed(lines):
            if b'"type": "step"' in line:
                try:
                    step: dict[str, Any] = json.loads(line)
                    return step
                except ValueError:  # the line the seek cut, or one being written
                    continue
        return record.last

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
