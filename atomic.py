"""Atomic file writing: a step writes to a temporary name beside the target and renames it into place,
so an interrupted step never leaves a half-written file under the final name."""

from __future__ import annotations

import errno
import glob
import logging
import math
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from wacft.errors import WacftError


def refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise WacftError(f"{path} already exists; choose another output path or pass --force to replace it.")


# a full disk, a full quota, or a file-size limit: all mean "no room for this file here"
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# what marks a file being written: `.<name>.wacft-<pid>-<random>.part` beside its final name
PART = ".wacft-"
PART_PID = re.compile(r"\.wacft-(\d+)-[0-9a-f]+\.part$")
log = logging.getLogger("wacft")


class DiskFull(WacftError):
    def __init__(self, folder: Path, needed: int | None, then: str = "Free some space and run again.",
                 cause: BaseException | None = None):
        limit = file_size_limit() if no_room(cause, (errno.EFBIG,)) else None
        if limit is not None:  # `ulimit -f` refuses a write as a full disk would: said as what it is
            then = then.replace("free some space", "raise that limit").replace("Free some space", "Raise that limit")
            shown = f"{limit / 1e6:,.1f} MB" if limit >= 100_000 else f"{limit:,} bytes"
            super().__init__(f"A file in {folder} reached this shell's file-size limit ({shown}, see `ulimit -f`);"
                             f" the disk itself may have room. {then}")
            return
        need = f"; it needs about {math.ceil(needed / 1e6):,} MB free there" if needed else ""
        super().__init__(f"The disk holding {folder} is full{need}. {then}")


def file_size_limit() -> int | None:
    """The largest file this process may write (`ulimit -f`), where a limit is set."""
    try:
        import resource
    except ImportError:  # Windows has none
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


# how Rust writers (safetensors) word an OSError: "I/O error: No space left on device (os error 28)", matched in
# no_room

def no_room(error: BaseException | None, errnos: tuple[int, ...] = NO_ROOM) -> bool:
    """Whether `error`, or what it was raised from (torch wraps the OSError), says there is no room."""
    rust = re.compile(rf"\(os error ({'|'.join(map(str, errnos))})\)")
    while error is not None:
        if isinstance(error, OSError) and error.errno in errnos or rust.search(str(error)):
            return True
        error = error.__cause__ or error.__context__
    return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process
    return True


def remove_stale_parts(path: Path) -> list[Path]:
    """Partial files of `path` left by a run that was killed (its process is gone), removed and reported."""
    stale = []
    for part in path.parent.glob(f".{glob.escape(path.name)}{PART}*.part"):
        match = PART_PID.search(part.name)
        if match and not pid_alive(int(match.group(1))):
            size = part.stat().st_size
            part.unlink(missing_ok=True)
            stale.append(part)
            log.warning("removed %s (%.0f MB), a partial file of %s left by a stopped run", part, size / 1e6, path)
    return stale


def reserve(f: BinaryIO, size: int, folder: Path) -> None:
    """Reserve `size` bytes for `f` where the system can (Linux), else check that the disk has room for them
    (macOS and Windows have no posix_fallocate): either way a full disk fails at once rather than mid-write."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        try:
            fallocate(f.fileno(), 0, size)
            return
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):  # a file system that cannot reserve: check instead
                raise
    if shutil.disk_usage(folder).free < size:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder))


@contextmanager
def atomic_writer(path: str | os.PathLike[str], *, force: bool = False, size: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes `path` only if the block completes without error.

    A known `size` is reserved up front (see `reserve`): a full disk fails at once rather than mid-write, and
    writing into reserved blocks is several times faster than growing the file.
    """
    path = Path(path)
    refuse_existing(path, force)
    if path.is_dir():
        raise WacftError(f"{path} is a folder; give a file name for the output.")
    if not path.parent.is_dir():
        raise WacftError(f"The folder {path.parent} does not exist; create it or choose another output path.")
    remove_stale_parts(path)
    # a fresh hidden name beside the target (same file system, so the rename is atomic; umask applies)
    tmp = path.with_name(f".{path.name}{PART}{os.getpid()}-{secrets.token_hex(2)}.part")
    try:
        with open(tmp, "xb") as f:
            if size:
                reserve(f, size, path.parent)
            yield f
            f.truncate()
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        discard(tmp)
        if e.errno in NO_ROOM:
            raise DiskFull(path.parent, size, cause=e) from e
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise WacftError(f"{path.parent} cannot be written to ({e.strerror}); choose another output path.") from e
        raise
    except BaseException:
        discard(tmp)
        raise


def discard(tmp: Path) -> None:
    if tmp.exists():  # never created on a read-only disk, where even unlinking nothing fails
        tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, force: bool = True) -> None:
    with atomic_writer(path, force=force) as f:
        f.write(data)
