"""Pushing a model to the phone: refuse early (name taken, no room), send it under a temporary name with
progress, prove it arrived (its size, and a checksum the phone computes), then rename it into place. An
unplugged cable or a full phone never leaves a partial model under the final name."""

from __future__ import annotations

import contextlib
import hashlib
import select
import stat
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path

from wacft.device.adb import Phone, PhoneFrozen, PhoneGone
from wacft.device.devices import free_bytes
from wacft.device.naming import check_folder, check_name, read_model_kind
from wacft.errors import WacftError

DEFAULT_FOLDER = "/sdcard/Download"
SYNC_DATA_MAX = 64 * 1024  # the largest DATA chunk adbd accepts
WRITE_CHUNKS = 16  # DATA chunks per socket write (1 MiB, one adb packet's worth): fewer system calls
FILE_MODE = stat.S_IFREG | 0o644
# seconds a silent phone gets before the push is given up: a healthy one takes each megabyte, and closes the file at
# DONE, in well under a second
TRANSFER_TIMEOUT = 15.0
# a phone hashing the copy: toybox's sha256sum reads flash at 100 MB/s or more on a slow phone; a limit at a
# twentieth of that still gives up on a frozen one in seconds, not ten minutes
DIGEST_TIMEOUT = TRANSFER_TIMEOUT
DIGEST_BYTES_PER_SECOND = 5e6
# toybox checksum tools, best first, with hashlib's name for the same digest
CHECKSUM_TOOLS = (("sha256sum", "sha256"), ("md5sum", "md5"))
COMMAND_NOT_FOUND = 127  # what the phone's shell (mksh) exits with for a tool it does not have

Progress = Callable[[int, int], None]  # (bytes sent, bytes in all)


class NameTaken(WacftError):
    pass


class NotEnoughSpace(WacftError):
    pass


class PushFailed(WacftError):
    pass


class NotVerified(WacftError):
    pass


@dataclass(frozen=True)
class PushResult:
    serial: str
    remote_path: str
    size: int
    checksum: str | None  # "sha256" or "md5"; None when the phone has neither tool (then checked by size)
    digest: str | None
    seconds: float  # the transfer alone

    @property
    def mb_per_s(self) -> float:
        return self.size / 1e6 / max(self.seconds, 1e-9)


def remote_paths(folder: str, name: str) -> tuple[str, str]:
    """The final path and the temporary one beside it (hidden, and the same for every try: a retry replaces
    what an interrupted one left)."""
    folder = check_folder(folder)
    return f"{folder}/{name}", f"{folder}/.{name}.part"


def push_model(phone: Phone, local: Path, name: str, *, folder: str = DEFAULT_FOLDER, force: bool = False,
               progress: Progress | None = None) -> PushResult:
    """Put `local` on the phone as `folder/name`, verified; a file already there is replaced only with
    `force`."""
    name = check_name(name)
    final, temp = remote_paths(folder, name)
    read_model_kind(local)  # FUTO imports nothing else: refuse before the phone is touched
    size = local.stat().st_size
    existing = phone.stat(final)
    if existing and (existing.is_dir or not force):
        raise NameTaken(f"{final} already exists on {phone.serial}; choose another --name or pass --force to"
                        " replace it.")
    free = free_bytes(phone, folder)
    if free is not None and free < size:
        raise NotEnoughSpace(f"{name} needs {size / 1e6:.1f} MB but {phone.serial} has {free / 1e6:.1f} MB"
                             f" free in {folder}; free some space on the phone (or push a smaller type) and"
                             " run again.")
    try:
        started = time.monotonic()
        _send(phone, local, temp, size, progress)
        seconds = time.monotonic() - started
        checksum, digest = _verify(phone, local, temp, size)
        moved = phone.shell("mv", "-f", temp, final)
        landed = phone.stat(final)
        if moved.code or landed is None or landed.size != size:
            raise PushFailed(f"The verified copy could not be renamed to {final} on {phone.serial}"
                             f" ({(moved.err or moved.out).strip() or 'it is not there'}); run again.")
    except BaseException as e:
        # a phone that stopped answering would not answer the rm either: the person is told at once instead
        left = isinstance(e, PhoneFrozen) or not _remove_quietly(phone, temp)
        if left and type(e) in (PushFailed, NotVerified, NotEnoughSpace, PhoneFrozen):
            raise type(e)(f"{e} A hidden partial copy, {temp}, may be left on the phone: once it is back, delete it"
                          f" with `adb -s {phone.serial} shell rm {temp}`.") from e
        raise
    return PushResult(phone.serial, final, size, checksum, digest, seconds)


def _send(phone: Phone, local: Path, remote: str, size: int, progress: Progress | None) -> None:
    """SEND, DATA..., DONE over one sync connection (SYNC.TXT)."""
    spec = f"{remote},{FILE_MODE}".encode()
    buf = bytearray(WRITE_CHUNKS * (8 + SYNC_DATA_MAX))
    sent = 0
    try:
        with phone.talking():
            conn = phone.open_sync(timeout=TRANSFER_TIMEOUT)
            try:
                sock = conn.conn
                sock.sendall(b"SEND" + struct.pack("<I", len(spec)) + spec)
                with open(local, "rb") as f:
                    while True:
                        used, n = _read_chunks(f, buf)
                        if not used:
                            sock.sendall(b"DONE" + struct.pack("<I", int(time.time())))
                            break
                        sock.sendall(memoryview(buf)[:used])
                        sent += n
                        if progress:
                            progress(sent, size)
                        # the phone says nothing until DONE unless it refuses: stop sending at once then
                        if select.select([sock], [], [], 0)[0]:
                            break
                reply = conn.read_exact(8)
                reason = conn.read_exact(struct.unpack("<I", reply[4:])[0]) if reply[:4] == b"FAIL" else b""
            finally:
                conn.close()
    except PhoneFrozen as e:
        raise PhoneFrozen(f"{phone.serial} stopped answering after {sent / 1e6:.1f} of {size / 1e6:.1f} MB; nothing"
                          " was left under the final name: unplug it and plug it back in (run `adb kill-server` if it"
                          " still hangs), then run again.") from e
    except PhoneGone as e:
        raise PushFailed(f"The connection to {phone.serial} broke after {sent / 1e6:.1f} of"
                         f" {size / 1e6:.1f} MB ({e.__cause__ or e}); nothing was left under the final name:"
                         " reconnect the phone and run again.") from e
    if reply[:4] == b"OKAY":
        return
    text = reason.decode(errors="replace") or reply.hex()
    if "No space" in text:
        raise NotEnoughSpace(f"{phone.serial} ran out of space during the push ({text}); free some space on"
                             " the phone and run again.")
    raise PushFailed(f"{phone.serial} refused the file {remote} ({text}); run again, or choose another"
                     " folder.")


def _read_chunks(f: BufferedReader, buf: bytearray) -> tuple[int, int]:
    """Fill `buf` with DATA messages (header, then up to SYNC_DATA_MAX bytes of `f`) read in place:
    (bytes of `buf` used, bytes of the file in them)."""
    view = memoryview(buf)
    used = data = 0
    while used + 8 < len(buf) and (n := f.readinto(view[used + 8:used + 8 + SYNC_DATA_MAX])):
        struct.pack_into("<4sI", buf, used, b"DATA", n)
        used += 8 + n
        data += n
    return used, data


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)  # hashlib lets other threads run meanwhile
    return digest.hexdigest()


def _verify(phone: Phone, local: Path, temp: str, size: int) -> tuple[str | None, str | None]:
    """The size the phone sees, then a checksum the phone computes against the local file's, which is hashed
    here while the phone hashes (kept out of the transfer, so that runs as fast as `adb push`). Returns
    (algorithm, digest), both None when the phone has no checksum tool and the size is all there is."""
    landed = phone.stat(temp)
    if landed is None or landed.size != size:
        got = f"{landed.size} bytes" if landed else "nothing"
        raise NotVerified(f"{phone.serial} has {got} where {size} bytes of {local.name} were sent; run"
                          " again.")
    with ThreadPoolExecutor(1) as pool:
        for tool, algorithm in CHECKSUM_TOOLS:
            expected = pool.submit(file_digest, local, algorithm)
            try:
                r = phone.shell(tool, temp, timeout=DIGEST_TIMEOUT + size / DIGEST_BYTES_PER_SECOND)
            except PhoneFrozen as e:
                raise PhoneFrozen(f"{phone.serial} stopped answering while it checked the copy (all {size / 1e6:.1f}"
                                  " MB had been sent): unplug it and plug it back in (run `adb kill-server` if it"
                                  " still hangs), then run again.") from e
            if r.code != COMMAND_NOT_FOUND:
                break
        else:
            return None, None
        found = (r.out.split() or ["(none)"])[0]
        if r.code or found != expected.result():
            raise NotVerified(f"The copy on {phone.serial} has {algorithm} {found} but {local.name} has"
                              f" {expected.result()}; check the cable and run again.")
    return algorithm, found


def _remove_quietly(phone: Phone, path: str) -> bool:
    """Best effort: whether it is gone. A phone that has gone away cannot be cleaned, and keeps what it had."""
    with contextlib.suppress(WacftError):
        return phone.shell("rm", "-f", path, timeout=10).code == 0
    return False
