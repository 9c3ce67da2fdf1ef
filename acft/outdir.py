"""A training run's output folder: `claim_out` refuses one the run would destroy (a model, a finished run,
an unfinished one, a run still going), and `training_into` marks it as in use and, when the start fails,
removes the folder it created. The CLI, the backends and `train()` call the same function. Torch-free."""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wacft.acft.config import TrainConfig
from wacft.acft.validate import check
from wacft.errors import WacftError
from wacft.run_folder import (
    BEST,
    CHECKPOINT,
    FINISHED,
    LEFTOVERS,
    MODEL_FILES,
    NEW,
    OLD,
    RUN_FILES,
    RUNNING,
    holds_checkpoint,
    holds_model,
)

log = logging.getLogger("wacft")


class OutputInUse(WacftError):
    """The output folder holds something a new run would overwrite."""


def running_mark() -> str:
    # the host too: a mark left on a shared volume by another machine names a process that is not ours
    return f"{socket.gethostname()} {os.getpid()}"


def training_pid(out: Path) -> int | None:
    """The process training into `out` now, if one is (a mark left by a killed one does not count)."""
    try:
        host, number = (out / RUNNING).read_text().split()
        pid = int(number)
    except (OSError, ValueError):
        return None
    if host != socket.gethostname() or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, someone else's
    return pid


def refuse_if_running(out: Path) -> None:
    pid = training_pid(out)
    if pid:
        raise OutputInUse(f"--out {out} is being trained into now (process {pid}); wait for that run, cancel it,"
                          " or pick another --out.")


def mark_running(out: Path) -> str:
    """Take the folder for this process: created exclusively, so of two trainers starting at once one is
    refused; a mark whose process is gone (killed, or a container before a Modal retry) is taken over."""
    mark, mine = out / RUNNING, running_mark()
    while True:
        try:
            fd = os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            refuse_if_running(out)
            mark.unlink(missing_ok=True)
    with os.fdopen(fd, "w") as f:
        f.write(mine)
    return mine


def nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def theirs(out: Path) -> list[str]:
    """What in `out` no run wrote: anything but a run's own files, and the model's files too where no model is
    (a project's README.md and config.json)."""
    own = RUN_FILES + (MODEL_FILES if holds_model(out) else ())
    try:
        names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    except OSError as e:
        raise OutputInUse(f"--out {out} cannot be read ({e.strerror}); pick another --out.") from e
    return [name for name in names if not any(fnmatch.fnmatchcase(name, pattern) for pattern in own)]


def refuse_theirs(out: Path, resume: bool, force: bool) -> None:
    """Files of the person's own are never overwritten, and are trained beside only when asked (`force`, or a
    run resumed where it began)."""
    found = theirs(out)
    overwritten = [name for name in found if any(fnmatch.fnmatchcase(name, p) for p in MODEL_FILES)]
    if overwritten:
        raise OutputInUse(f"--out {out} holds {', '.join(overwritten)} of your own, which the trained model would"
                          " overwrite; pick a new or empty folder for --out.")
    if found and not (resume or force):
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise OutputInUse(f"--out {out} holds files no run wrote ({shown}); pick a new or empty folder for --out,"
                          " or pass --force to train beside them (they are kept).")


def claim_out(config: TrainConfig, resume: bool = False, force: bool = False) -> None:
    """Check the settings, then refuse an --out this run would destroy; `force` trains over a model or a
    finished run and starts an unfinished one over. A run still going, the dataset and the person's own files are
    never overwritten."""
    check(config)
    out = Path(config.out).expanduser()
    refuse_if_running(out)
    dataset = Path(config.dataset).expanduser()
    if dataset.is_dir() and out.resolve() == dataset.resolve():
        raise OutputInUse(f"--out {out} is the --dataset folder itself; write the run to another folder.")
    refuse_theirs(out, resume, force)
    if resume and not holds_checkpoint(out) and (out / FINISHED).is_file():
        raise OutputInUse(f"--out {out} holds a finished run, so there is nothing to resume: its model is there. To"
                          " train it again from the start, pass --force instead of --resume.")
    if holds_checkpoint(out) and not resume:
        if not force:
            raise OutputInUse(f"--out {out} holds an unfinished run; pass --resume to continue it, --force to"
                              " start it over, or pick another --out.")
        for name in (CHECKPOINT, NEW, OLD):
            shutil.rmtree(out / name, ignore_errors=True)
        (out / BEST).unlink(missing_ok=True)
    if holds_model(out) and not resume and not force:
        what = "a finished run" if (out / FINISHED).is_file() else "a model"
        raise OutputInUse(f"--out {out} holds {what}; pass --force to train over it, or pick another --out.")
    for name in LEFTOVERS:  # what a killed run was writing; the next save would replace it anyway
        if (out / name).is_dir():
            shutil.rmtree(out / name, ignore_errors=True)
            log.warning("removed %s, left half-written by a stopped run", out / name)
    writable = nearest_existing(out.absolute())
    if not writable.is_dir() or not os.access(writable, os.W_OK | os.X_OK):
        raise OutputInUse(f"--out {out} cannot be written ({writable} is not a folder you can write to);"
                          " pick another --out.")


@contextmanager
def training_into(out: Path) -> Iterator[None]:
    """The folder exists and is marked as in use for the block. If the block fails before a checkpoint was
    kept, the folders it created are removed: a failed start leaves nothing behind."""
    out = Path(out).expanduser().absolute()
    existing = nearest_existing(out)
    created = None if existing == out else existing / out.relative_to(existing).parts[0]
    out.mkdir(parents=True, exist_ok=True)
    mine = mark_running(out)
    try:
        yield
    except BaseException:
        if created and not holds_checkpoint(out):
            shutil.rmtree(created, ignore_errors=True)
        raise
    finally:
        mark = out / RUNNING
        if mark.is_file() and mark.read_text() == mine:
            mark.unlink()
