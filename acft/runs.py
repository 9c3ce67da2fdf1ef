"""The run registry: one JSON file per training run under the user data folder, so runs outlive the
terminal that started them and `wacft runs`, `watch`, `cancel` and the TUI find them again."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from wacft.atomic import write_bytes_atomic
from wacft.errors import WacftError
from wacft.paths import runs_dir

# a run's state as its record keeps it: plain strings in the JSON, so a record loads whichever wacft wrote it
RunStatus = Literal["launching", "running", "done", "failed", "cancelled"]
ACTIVE: tuple[RunStatus, ...] = ("launching", "running")  # what can be cancelled
STOPPED: tuple[RunStatus, ...] = ("cancelled", "failed")  # what can be resumed
log = logging.getLogger("wacft")


@dataclass
class RunRecord:
    id: str
    backend: str  # "local" or "modal"
    config: dict[str, Any]  # TrainConfig as JSON: never a token
    status: RunStatus = "launching"
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    call_id: str | None = None  # Modal FunctionCall id
    pid: int | None = None  # local process
    gpu: str | None = None
    budget_hours: float | None = None  # Modal: the GPU hours the run may use across its containers
    convert: list[str] = field(default_factory=list)  # Modal: the types the job converts to beside the weights
    events: str | None = None  # local: the JSON-lines event file
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> path (local or on the volume)
    last: dict[str, Any] = field(default_factory=dict)  # the latest step event
    error: str | None = None
    held_out: dict[str, Any] = field(default_factory=dict)  # the clips set aside for verify (acft/held_out.py)
    others: dict[str, Any] = field(default_factory=dict, repr=False)  # fields a newer wacft wrote, saved back

    @property
    def path(self) -> Path:
        return runs_dir() / f"{self.id}.json"

    def save(self) -> RunRecord:
        self.updated = time.time()
        data = asdict(self)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(self.path, json.dumps({**data.pop("others"), **data}, indent=2).encode())
        except (OSError, WacftError) as e:
            why = getattr(e if isinstance(e, OSError) else e.__cause__, "strerror", None) or "not writable"
            raise WacftError(f"The run record cannot be written in {self.path.parent} ({why}); make that folder"
                             " writable, or set WACFT_HOME to a folder you can write to.") from e
        return self


def default_out(model: str) -> Path:
    """Where a run of `model` writes when it is given no folder (the CLI and the wizard alike): a folder of its own
    under the user data dir (WACFT_HOME moves it), never inside the repo, named for the model so the wizard can
    show it before the run exists; `-2`, `-3`, ... after a name an earlier run took."""
    name = Path(model.rstrip("/")).name or "model"
    folder, n = runs_dir() / name, 1
    while folder.exists():
        n += 1
        folder = runs_dir() / f"{name}-{n}"
    return folder


def new_id(model: str) -> str:
    stem = model.rstrip("/").split("/")[-1].replace("whisper-", "")
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}-{secrets.token_hex(2)}"


# what each field must hold for the code that reads it (`wacft runs`, watch, cancel) to hold
NUMBER, TEXT = (int, float), (str, type(None))
TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str, "backend": str, "config": dict, "status": str, "created": NUMBER, "updated": NUMBER, "call_id": TEXT,
    "pid": (int, type(None)), "gpu": TEXT, "events": TEXT, "artifacts": dict, "last": dict, "error": TEXT}
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # what new_id makes: never a path


def read_record(path: Path) -> RunRecord:
    """A record as this version knows it: fields that another version of wacft wrote are kept aside and saved
    back, so an upgrade or a downgrade keeps every run listed and loses nothing of it. Raises ValueError for a
    file that holds no record."""
    data = json.loads(path.read_text())
    known = {f.name for f in fields(RunRecord)} - {"others"}
    try:
        record = RunRecord(**{k: v for k, v in data.items() if k in known},
                           others={k: v for k, v in data.items() if k not in known})
    except (AttributeError, TypeError) as e:  # not an object, or without id, backend or config
        raise ValueError(f"not a run record ({e})") from e
    for name, kind in TYPES.items():
        value = getattr(record, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"its {name} is {json.dumps(value)[:40]}")
    if not ID.fullmatch(record.id):
        raise ValueError(f"its id {record.id!r} is not a run id")
    return record


def load_run(run_id: str) -> RunRecord:
    path = runs_dir() / f"{run_id}.json"
    if not ID.fullmatch(run_id):
        raise WacftError(f"{run_id!r} is not a run id (a run id is a name like 20261207-093000-tiny.en-1a2b, not a"
                         " path); `wacft runs` lists the runs there are.")
    if not path.is_file():
        raise WacftError(f"There is no run {run_id}; `wacft runs` lists the runs there are.")
    try:
        return read_record(path)
    except ValueError as e:
        raise WacftError(f"The run record {path} cannot be read ({e}); move it out of {path.parent} to go on"
                         " without it.") from e


@contextmanager
def cancelling(record: RunRecord) -> Iterator[RunRecord]:
    """Around stopping a run: the record says cancelled before, with a mark of its own beside it that no
    watcher's save of the record can undo; both are taken back if stopping it failed."""
    status, mark = record.status, record.path.with_suffix(".cancelled")
    record.status = "cancelled"
    record.save()
    write_bytes_atomic(mark, b"")
    try:
        yield record
    except Exception:  # not on Ctrl+C: the stop may be under way, and was asked for
        mark.unlink(missing_ok=True)
        record.status = status
        record.save()
        raise


def cancelled_meanwhile(record: RunRecord) -> RunRecord:
    """The record a watcher is about to keep, marked cancelled when `wacft cancel` (from any process) cancelled
    the run meanwhile: the error or the silent end that follows a cancel reads as the cancel it is, not as a
    failure."""
    if (record.status in ACTIVE or record.status == "failed") and record.path.with_suffix(".cancelled").exists():
        record.status, record.error = "cancelled", None
    return record


def list_runs() -> list[RunRecord]:
    folder = runs_dir()
    try:
        paths = [folder / name for name in os.listdir(folder) if name.endswith(".json")] if folder.is_dir() else []
    except OSError as e:  # glob would say nothing: "no runs yet" where there are runs
        raise WacftError(f"The runs folder {folder} cannot be read ({e.strerror}); make it readable, or set"
                         " WACFT_HOME to the folder that holds your runs.") from e
    records = []
    for path in paths:
        try:
            records.append(read_record(path))
        except FileNotFoundError:  # gone meanwhile
            continue
        except (OSError, ValueError) as e:
            log.warning("skipped %s, which holds no run record this wacft can read (%s)", path, e)
    return sorted(records, key=lambda r: r.created, reverse=True)
