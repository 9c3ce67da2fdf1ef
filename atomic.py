"""Atomic file writing: a step writes to a temporary name beside the target and renames it into place,
so an interrupted step never leaves a half-written file under the final name."""

from __future__ import annotations

import errno
import os
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
def atomic_writer(path: str | os.PathLike, *, force: bool = False, size: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes `path` only if the block completes without error.

    A known `size` is reserved up front (see `reserve`): a full disk fails at once rather than mid-write, and
    writing into reserved blocks is several times faster than growing the file.
    """
    path = Path(path)
    refuse_existing(path, force)
    if not path.parent.is_dir():
        raise WacftError(f"The folder {path.parent} does not exist; create it or choose another output path.")
    # a fresh hidden name beside the target (same file system, so the rename is atomic; umask applies)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
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
        os.unlink(tmp)
        if e.errno in NO_ROOM:
            raise WacftError(f"The disk holding {path.parent} is full; free some space and run again.") from e
        raise
    except BaseException:
        os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, force: bool = True) -> None:
    with atomic_writer(path, force=force) as f:
        f.write(data)
