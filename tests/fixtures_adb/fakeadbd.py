"""A fake Android phone for the tests: a small adbd that speaks the ADB transport protocol over TCP.

The real adb server connects to it with `adb connect 127.0.0.1:<port>` and sees a device whose shared storage
is a real directory. What it implements (AOSP packages/modules/adb protocol.txt and SYNC.TXT):

- the CNXN handshake with a device banner and features, or AUTH tokens that are never accepted (the server
  then lists it as `unauthorized`), or silence (`offline`);
- streams: OPEN answered by OKAY (or CLSE for an unknown service), every WRTE acknowledged with OKAY, our own
  WRTE sent one at a time, each waiting for the server's OKAY, CLSE both ways;
- `sync:` STAT, STA2/LST2, LIST, SEND/DATA/DONE, RECV, QUIT, failing like adbd (FAIL, drain, unlink);
- `shell:` and `shell,v2,...:` for getprop, df, pm list packages, sha256sum, md5sum, mv, rm and am start.

Faults on demand: a storage quota (a full phone answers FAIL mid-push), a phone that vanishes after N bytes
of a push (the connection drops; like a phone whose adbd dies with it, the partial file stays), one that freezes
after N bytes (connected, answering nothing; the partial file stays), and any shell text that is not exactly
argv quoted by shlex is refused and recorded (nothing unquoted may reach a shell).
Everything listens on 127.0.0.1 only, and every wait is bounded by IO_TIMEOUT.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import shlex
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO


def _id(tag: bytes) -> int:
    return int.from_bytes(tag, "little")


A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_CLSE, A_WRTE = (
    _id(t) for t in (b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"CLSE", b"WRTE"))
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
VERSION = 0x01000001  # A_VERSION_SKIP_CHECKSUM: neither side computes data checksums
MAX_PAYLOAD = 1024 * 1024
HEADER = struct.Struct("<6I")
SYNC_DATA_MAX = 64 * 1024
# only what is implemented here: the server and the clients pick their protocol from this list
FEATURES = "shell_v2,stat_v2,fixed_push_mkdir"
IO_TIMEOUT = 30.0
DIGESTS = {"sha256sum": "sha256", "md5sum": "md5"}  # toybox tools a phone may or may not have
MAX_QUEUED = 8  # packets buffered per stream before the reader waits: bounded memory, still pipelined


class Stream:
    """One OPENed service: bytes in from the server's WRTEs, bytes out as WRTEs that wait for their OKAY."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int) -> None:
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self._cond = threading.Condition()
        self._chunks: deque[bytes | bytearray] = deque()
        self._current = memoryview(b"")
        self._okays = 0
        self._ended = False

    # called from the connection's reader thread
    def feed(self, data: bytes | bytearray) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._chunks) < MAX_QUEUED or self._ended, IO_TIMEOUT):
                raise TimeoutError("stream consumer stalled")
            self._chunks.append(data)
            self._cond.notify_all()

    def okay(self) -> None:
        with self._cond:
            self._okays += 1
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    # called from the service's thread
    def read_exact(self, n: int) -> bytes | memoryview:
        parts = []
        while n:
            if not self._current:
                self._current = memoryview(self._next_chunk())
            take = self._current[:n]
            self._current = self._current[len(take):]
            parts.append(take)
            n -= len(take)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _next_chunk(self) -> bytes | bytearray:
        with self._cond:
            if not self._cond.wait_for(lambda: self._chunks or self._ended, IO_TIMEOUT):
                raise TimeoutError("no data from the adb server")
            if not self._chunks:
                raise EOFError("stream closed")
            chunk = self._chunks.popleft()
            self._cond.notify_all()
            return chunk

    def write(self, data: bytes) -> None:
        for start in range(0, len(data), self.conn.max_payload):
            self.conn.send(A_WRTE, self.local_id, self.remote_id, data[start:start + self.conn.max_payload])
            with self._cond:
                if not self._cond.wait_for(lambda: self._okays or self._ended, IO_TIMEOUT):
                    raise TimeoutError("the adb server never acknowledged a write")
                if not self._okays:
                    raise EOFError("stream closed")
                self._okays -= 1

    def close(self) -> None:
        self.end()
        if self.conn.streams.pop(self.local_id, None):
            with contextlib.suppress(OSError):
                self.conn.send(A_CLSE, self.local_id, self.remote_id)


class Connection:
    """One adb server's TCP connection: the handshake, then packets routed to streams."""

    def __init__(self, phone: FakePhone, sock: socket.socket) -> None:
        self.phone, self.sock = phone, sock
        self.max_payload = MAX_PAYLOAD
        self.streams: dict[int, Stream] = {}
        self.online = False
        self._next_id = 1
        self._send_lock = threading.Lock()

    def send(self, command: int, arg0: int, arg1: int, payload: bytes | memoryview = b"") -> None:
        header = HEADER.pack(command, arg0, arg1, len(payload), 0, command ^ 0xFFFFFFFF)
        with self._send_lock:
            self.sock.sendall(header)
            if payload:
                self.sock.sendall(payload)

    def _recv_exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = self.sock.recv_into(view[got:])
            if not k:
                raise EOFError("adb server hung up")
            got += k
        return buf

    def serve(self) -> None:
        try:
            while True:
                self.phone.wait_if_frozen()
                command, arg0, arg1, length, _, magic = HEADER.unpack(self._recv_exact(HEADER.size))
                if magic != command ^ 0xFFFFFFFF or length > MAX_PAYLOAD:
                    return
                self.handle(command, arg0, arg1, self._recv_exact(length) if length else bytearray())
        except (OSError, EOFError, TimeoutError):
            pass
        finally:
            for stream in list(self.streams.values()):
                stream.end()
            self.sock.close()

    def handle(self, command: int, arg0: int, arg1: int, payload: bytearray) -> None:
        phone = self.phone
        if command == A_CNXN:
            self.max_payload = min(arg1, MAX_PAYLOAD)
            if phone.state == "device":
                self.online = True
                self.send(A_CNXN, VERSION, MAX_PAYLOAD, phone.banner().encode())
            elif phone.state == "unauthorized":
                self.send(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
        elif command == A_AUTH and arg0 == AUTH_SIGNATURE:
            # no signature is ever accepted; the server then offers its public key (nobody taps "Allow")
            self.send(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
        elif command == A_OPEN and self.online:
            name = bytes(payload).rstrip(b"\0").decode()
            phone.services.append(name)
            service = phone.service_for(name)
            if service is None:
                self.send(A_CLSE, 0, arg0)
                return
            stream = Stream(self, self._next_id, arg0)
            self._next_id += 1
            self.streams[stream.local_id] = stream
            self.send(A_OKAY, stream.local_id, arg0)
            threading.Thread(target=self._run, args=(service, stream), daemon=True).start()
        elif command == A_WRTE and (stream := self.streams.get(arg1)):
            stream.feed(payload)
            self.send(A_OKAY, arg1, arg0)
        elif command == A_OKAY and (stream := self.streams.get(arg1)):
            stream.okay()
        elif command == A_CLSE and (stream := self.streams.pop(arg1, None)):
            stream.end()

    def _run(self, service: Callable[[Stream], None], stream: Stream) -> None:
        try:
            service(stream)
        except (OSError, EOFError, TimeoutError):
            pass
        finally:
            stream.close()


class Storage:
    """The phone's shared storage: device paths map into a real directory, under a byte quota."""

    def __init__(self, root: Path, capacity: int) -> None:
        self.root, self.capacity = root, capacity
        (root / "sdcard" / "Download").mkdir(parents=True, exist_ok=True)

    def local(self, device_path: str) -> Path:
        norm = posixpath.normpath(device_path)
        if norm == "/dev/null":
            return Path(os.devnull)
        if not norm.startswith("/") or norm.startswith("//") or ".." in norm.split("/"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", device_path)
        return self.root / norm.lstrip("/")

    def used(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def free(self) -> int:
        return max(0, self.capacity - self.used())


class ShellService:
    """`shell:` (raw output) and `shell,v2,...:` (stdout, stderr and exit code framed): toybox-like tools."""

    def __init__(self, phone: FakePhone, v2: bool, command: str) -> None:
        self.phone, self.v2, self.command = phone, v2, command

    def run(self, stream: Stream) -> None:
        code, out, err = self.execute()
        if not self.v2:
            stream.write(out + err)
            return
        for kind, data in ((1, out), (2, err)):
            if data:
                stream.write(bytes([kind]) + struct.pack("<I", len(data)) + data)
        stream.write(bytes([3]) + struct.pack("<I", 1) + bytes([code]))

    def execute(self) -> tuple[int, bytes, bytes]:
        try:
            argv = shlex.split(self.command)
        except ValueError:
            argv = []
        if not argv or shlex.join(argv) != self.command:
            self.phone.unsafe_commands.append(self.command)
            return 2, b"", b"fake adbd: refusing shell text that is not quoted argv\n"
        self.phone.commands.append(argv)
        tools = {"getprop": self._getprop, "df": self._df, "pm": self._pm, "mv": self._mv, "rm": self._rm,
                 "am": self._am, **{t: partial(self._digest, t) for t in self.phone.tools & DIGESTS.keys()}}
        if argv[0] == self.phone.freeze_on:
            self.phone.freeze()
        handler = tools.get(argv[0])
        if handler is None:
            return 127, b"", f"/system/bin/sh: {argv[0]}: inaccessible or not found\n".encode()
        try:
            code, out = handler(argv[1:])
        except OSError as e:
            return 1, b"", f"{argv[0]}: {e.filename}: {os.strerror(e.errno or errno.EIO)}\n".encode()
        return code, out.encode(), b""

    def _getprop(self, args: list[str]) -> tuple[int, str]:
        props = self.phone.props()
        if args:
            return 0, props.get(args[0], "") + "\n"
        return 0, "".join(f"[{k}]: [{v}]\n" for k, v in props.items())

    def _df(self, args: list[str]) -> tuple[int, str]:
        paths = [a for a in args if not a.startswith("-")] or ["/sdcard/"]
        if not self.phone.storage.local(paths[0]).exists():
            raise FileNotFoundError(errno.ENOENT, "", paths[0])
        free = self.phone.storage.free() if self.phone.df_free is None else self.phone.df_free
        total = self.phone.storage.capacity // 1024
        return 0, ("Filesystem     1K-blocks    Used Available Use% Mounted on\n"
                   f"/dev/fuse      {total} {total - free // 1024} {free // 1024}  1% /storage/emulated\n")

    def _pm(self, args: list[str]) -> tuple[int, str]:
        if args[:2] != ["list", "packages"]:
            return 1, ""
        wanted = args[2] if len(args) > 2 else ""
        return 0, "".join(f"package:{p}\n" for p in self.phone.packages if wanted in p)

    def _digest(self, tool: str, args: list[str]) -> tuple[int, str]:
        lines = []
        for path in args:
            digest = hashlib.new(DIGESTS[tool])
            with open(self.phone.storage.local(path), "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            lines.append(f"{digest.hexdigest()}  {path}\n")
        return 0, "".join(lines)

    def _mv(self, args: list[str]) -> tuple[int, str]:
        src, dst = [a for a in args if not a.startswith("-")]
        os.replace(self.phone.storage.local(src), self.phone.storage.local(dst))
        return 0, ""

    def _rm(self, args: list[str]) -> tuple[int, str]:
        for path in (a for a in args if not a.startswith("-")):
            self.phone.storage.local(path).unlink(missing_ok="-f" in args)
        return 0, ""

    def _am(self, args: list[str]) -> tuple[int, str]:
        if args[:1] != ["start"] or "-n" not in args:
            return 1, ""
        component = args[args.index("-n") + 1]
        if component.split("/")[0] not in self.phone.packages:
            # like am itself: the error is in the output, the exit code is still 0
            return 0, f"Error type 3\nError: Activity class {{{component}}} does not exist.\n"
        self.phone.activities.append(["am", *args])
        return 0, f"Starting: Intent {{ cmp={component} (has extras) }}\n"


class SyncService:
    """`sync:` requests, each an 8-byte header (id, length) and a path, answered as adbd answers them."""

    def __init__(self, phone: FakePhone) -> None:
        self.phone = phone

    def run(self, stream: Stream) -> None:
        handlers = {b"STAT": self.stat_v1, b"STA2": self.stat_v2, b"LST2": self.stat_v2, b"LIST": self.list,
                    b"SEND": self.send, b"RECV": self.recv}
        while True:
            header = bytes(stream.read_exact(8))
            ident, length = header[:4], struct.unpack("<I", header[4:])[0]
            if length > 1024:
                return self.fail(stream, "path too long")
            path = bytes(stream.read_exact(length)).decode()
            if ident == b"QUIT":
                return
            if ident not in handlers:
                return self.fail(stream, f"unknown command {header[:4].hex()}")
            if not handlers[ident](stream, path, ident):
                return

    @staticmethod
    def fail(stream: Stream, reason: str) -> bool:
        stream.write(b"FAIL" + struct.pack("<I", len(reason)) + reason.encode())
        return False

    def _lstat(self, path: str) -> os.stat_result | None:
        try:
            return os.lstat(self.phone.storage.local(path))
        except OSError:
            return None

    def stat_v1(self, stream: Stream, path: str, ident: bytes) -> bool:
        st = self._lstat(path)
        stream.write(b"STAT" + (struct.pack("<3I", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime))
                                if st else bytes(12)))
        return True

    def stat_v2(self, stream: Stream, path: str, ident: bytes) -> bool:
        try:
            local = self.phone.storage.local(path)
            st = os.lstat(local) if ident == b"LST2" else os.stat(local)
        except OSError as e:
            stream.write(ident + struct.pack("<I", e.errno or errno.ENOENT) + bytes(64))
            return True
        stream.write(ident + struct.pack("<IQQIIIIQqqq", 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink,
                                         st.st_uid, st.st_gid, st.st_size, int(st.st_atime), int(st.st_mtime),
                                         int(st.st_ctime)))
        return True

    def list(self, stream: Stream, path: str, ident: bytes) -> bool:
        try:
            entries = sorted(os.scandir(self.phone.storage.local(path)), key=lambda e: e.name)
        except OSError:
            entries = []
        out = bytearray()
        for entry in entries:
            st, name = entry.stat(follow_symlinks=False), entry.name.encode()
            dent = struct.pack("<4I", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(name))
            out += b"DENT" + dent + name
        stream.write(bytes(out + b"DONE" + bytes(16)))
        return True

    def send(self, stream: Stream, spec: str, ident: bytes) -> bool:
        path, _, mode = spec.rpartition(",")
        try:
            target = self.phone.storage.local(path)
            target.parent.mkdir(parents=True, exist_ok=True)  # fixed_push_mkdir
            target.unlink(missing_ok=True)
            f = open(target, "wb")  # noqa: SIM115 (closed below, before the file is unlinked or kept)
        except OSError as e:
            return self.fail(stream, f"couldn't create file: {os.strerror(e.errno or errno.EIO)}")
        try:
            with f:
                failure, mtime = self._receive(stream, f)
        except ConnectionAbortedError:
            raise  # the phone died, its adbd with it: the partial file stays
        except (EOFError, TimeoutError):
            target.unlink(missing_ok=True)  # like adbd when the client goes away mid-file
            raise
        if failure:
            target.unlink(missing_ok=True)
            self.fail(stream, failure)
            # adbd keeps reading (and dropping) DATA until DONE, so the client is sure to see the FAIL
            while (header := bytes(stream.read_exact(8)))[:4] == b"DATA":
                stream.read_exact(struct.unpack("<I", header[4:])[0])
            return False
        os.chmod(target, int(mode) & 0o777 if mode.isdigit() else 0o644)
        os.utime(target, (mtime, mtime))
        stream.write(b"OKAY" + bytes(4))
        return True

    def _receive(self, stream: Stream, f: BinaryIO) -> tuple[str | None, int]:
        """DATA chunks into `f` until DONE: (None, mtime), or (why it failed, 0)."""
        room, received = self.phone.storage.free(), 0
        while True:
            header = bytes(stream.read_exact(8))
            ident, size = header[:4], struct.unpack("<I", header[4:])[0]
            if ident == b"DONE":
                return None, size
            if ident != b"DATA" or size > SYNC_DATA_MAX:
                return "invalid data message", 0
            data = stream.read_exact(size)
            if self.phone.freeze_after is not None and received + size >= self.phone.freeze_after:
                self.phone.freeze()
            if self.phone.vanish_after is not None and received + size >= self.phone.vanish_after:
                self.phone.vanish()
                raise ConnectionAbortedError("the phone vanished")
            if received + size > room:
                return f"write failed: {os.strerror(errno.ENOSPC)}", 0
            flip = self.phone.flip_byte_at
            if flip is not None and received <= flip < received + size:
                data = bytearray(data)
                data[flip - received] ^= 0xFF
            f.write(data)
            received += size

    def recv(self, stream: Stream, path: str, ident: bytes) -> bool:
        try:
            f = open(self.phone.storage.local(path), "rb")  # noqa: SIM115 (a with block follows)
        except OSError as e:
            return self.fail(stream, f"open failed: {os.strerror(e.errno or errno.EIO)}")
        with f:
            while chunk := f.read(SYNC_DATA_MAX):
                stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        stream.write(b"DONE" + bytes(4))
        return True


@dataclass
class FakePhone:
    """A phone on 127.0.0.1:<port> for `adb connect`. Records what was asked of it for the tests to check."""

    root: Path
    model: str = "Pixel 7"
    android: str = "14"
    state: str = "device"  # or "unauthorized" (AUTH forever) or "offline" (never answers the handshake)
    packages: list[str] = field(default_factory=lambda: ["com.android.settings",
                                                         "org.futo.inputmethod.latin"])
    tools: set[str] = field(default_factory=lambda: {"sha256sum", "md5sum"})
    capacity: int = 4 << 30
    df_free: int | None = None  # what df reports, when it should differ from the real free space
    vanish_after: int | None = None  # bytes of a push after which the phone drops off the bus
    freeze_after: int | None = None  # bytes of a push after which the phone answers nothing, its connection kept
    freeze_on: str | None = None  # a shell command (e.g. sha256sum) at which the phone freezes so
    flip_byte_at: int | None = None  # offset of a pushed file's byte that storage gets wrong

    def __post_init__(self) -> None:
        self.storage = Storage(self.root, self.capacity)
        self.services: list[str] = []
        self.commands: list[list[str]] = []
        self.unsafe_commands: list[str] = []
        self.activities: list[list[str]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._connections: list[Connection] = []
        self._frozen, self._closed = threading.Event(), threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def banner(self) -> str:
        return (f"device::ro.product.name=fake;ro.product.model={self.model};ro.product.device=fake;"
                f"features={FEATURES}")

    def props(self) -> dict[str, str]:
        return {"ro.product.model": self.model, "ro.product.manufacturer": "Fake",
                "ro.build.version.release": self.android, "ro.build.version.sdk": "34"}

    def service_for(self, name: str) -> Callable[[Stream], None] | None:
        if name.startswith("shell"):
            args, colon, command = name[len("shell"):].partition(":")
            if colon and command:
                return ShellService(self, "v2" in args.split(","), command).run
        if name.startswith("sync:"):
            return SyncService(self).run
        return None

    def file(self, device_path: str) -> Path:
        return self.storage.local(device_path)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, sock)
            self._connections.append(conn)
            threading.Thread(target=conn.serve, daemon=True).start()

    def freeze(self) -> None:
        """Hang as a frozen phone does: connected, reading and answering nothing, until closed (or IO_TIMEOUT)."""
        self._frozen.set()
        self._closed.wait(IO_TIMEOUT)
        raise ConnectionAbortedError("the phone froze")  # as when its adbd dies: the partial file stays

    def wait_if_frozen(self) -> None:
        if self._frozen.is_set():
            self.freeze()

    def vanish(self) -> None:
        """Drop off the bus at once: no more connections, and the current ones cut."""
        self._closed.set()
        self._listener.close()
        for conn in self._connections:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    close = vanish

    def __enter__(self) -> FakePhone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
