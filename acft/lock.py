"""One trainer per run folder: a lock file naming the trainer's machine and process, taken for the whole run.
A lock whose process is gone (killed, crashed) is taken over; so is one from another machine (a Modal retry
runs in a new container, and the container that wrote it is gone by then)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wacft.errors import WacftError

LOCK = ".trainer.lock"


def holder(out: Path) -> int | None:
    """The pid of another live trainer on this machine writing to `out`, if there is one."""
    try:
        host, pid = (out / LOCK).read_text().split()
        pid = int(pid)
    except (OSError, ValueError):
        return None
    if host != socket.gethostname() or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, someone else's
        pass
    return pid


def refuse_if_held(out: Path) -> None:
    pid = holder(out)
    if pid is not None:
        raise WacftError(f"Another training run (process {pid}) is writing to {out}; wait for it to end or"
                         " cancel it, or train into another folder.")


@contextmanager
def trainer_lock(out: Path) -> Iterator[None]:
    """Held while this process trains into `out`; refused with a sentence while another trainer is."""
    path, mine = out / LOCK, f"{socket.gethostname()} {os.getpid()}\n"
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            refuse_if_held(out)
            path.unlink(missing_ok=True)  # its trainer is gone
    with os.fdopen(fd, "w") as f:
        f.write(mine)
    try:
        yield
    finally:
        if path.is_file() and path.read_text() == mine:
            path.unlink()
