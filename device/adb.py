"""The adb server and one phone through it, over adbutils: quoted shell commands, sync requests, and every adb
failure turned into a sentence that says what to do."""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import adbutils
from adbutils.errors import AdbConnectionError, AdbTimeout

from wacft.errors import WacftError

PLATFORM_TOOLS = "https://developer.android.com/tools/releases/platform-tools"
SERVER_START_TIMEOUT = 30.0
SHELL_TIMEOUT = 60.0
SERVER = "the adb server"
PROP_LINE = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$", re.MULTILINE)  # getprop's `[key]: [value]`


class AdbNotFound(WacftError):
    pass


class AdbUnavailable(WacftError):
    pass


class PhoneGone(WacftError):
    pass


class PhoneFrozen(PhoneGone):
    """Connected, but no answer within the request's timeout."""


def find_adb() -> str:
    """The adb program: $ADBUTILS_ADB_PATH, then PATH, then the copy some adbutils wheels carry."""
    try:
        exe = os.environ.get("ADBUTILS_ADB_PATH") or shutil.which("adb") or adbutils.adb_path()
    except adbutils.AdbError:
        exe = None
    if not exe or not os.path.isfile(exe):
        raise AdbNotFound("adb was not found; install Android platform-tools (" + PLATFORM_TOOLS + ") or your"
                          " distribution's `adb` package (e.g. `sudo apt-get install adb`), then run again.")
    return exe


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _start_server(exe: str, port: int) -> str | None:
    """Start a local adb server on `port`: None when it is up, else why not."""
    try:
        done = subprocess.run([exe, "-P", str(port), "start-server"], capture_output=True, text=True,
                              timeout=SERVER_START_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    lines = (done.stderr + done.stdout).strip().splitlines()
    return None if done.returncode == 0 else (lines[-1] if lines else f"exit code {done.returncode}")


def connect() -> adbutils.AdbClient:
    """A client for the adb server at $ANDROID_ADB_SERVER_HOST:$ANDROID_ADB_SERVER_PORT (default
    127.0.0.1:5037), starting the server when it is local and not running."""
    port = os.environ.get("ANDROID_ADB_SERVER_PORT")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise AdbUnavailable(f"ANDROID_ADB_SERVER_PORT is {port!r}; set it to a port number (1-65535), or unset"
                             " it to use the usual 5037.")
    client = adbutils.AdbClient()
    where = f"{client.host}:{client.port}"
    if not _listening(client.host, client.port):
        if client.host not in ("127.0.0.1", "localhost", "::1"):
            raise AdbUnavailable(f"No adb server answers at {where}; start it there or unset"
                                 " ANDROID_ADB_SERVER_HOST to use a local one.")
        exe = find_adb()
        failure = _start_server(exe, client.port)
        if failure is not None:
            raise AdbUnavailable(f"The adb server could not be started at {where} with {exe} ({failure}); run"
                                 " `adb start-server` to see why.")
    try:
        client.server_version()
    except (adbutils.AdbError, OSError) as e:
        raise AdbUnavailable(f"The adb server at {where} does not answer ({e}); restart it with"
                             " `adb kill-server` and run again.") from e
    return client


@dataclass(frozen=True)
class Listed:
    """One line of `adb devices -l`."""

    serial: str
    state: str  # device, unauthorized, offline, "no permissions (...)", recovery, ...
    transport_id: int | None


# serial, then the state (which may have spaces: "no permissions (...); see [...]"), then key:value tags
DEVICES_LINE = re.compile(r"(?P<serial>\S+)\s+(?P<state>.*?)(?P<tags>(?:\s+[a-z_]+:\S*)*)\s*")


def list_devices(client: adbutils.AdbClient) -> list[Listed]:
    with _talking(SERVER), client.make_connection(timeout=SHELL_TIMEOUT) as c:
        c.send_command("host:devices-l")
        c.check_okay()
        lines = c.read_string_block().splitlines()
    return [parse_devices_line(line) for line in lines if line.strip()]


def parse_devices_line(line: str) -> Listed:
    m = DEVICES_LINE.fullmatch(line)
    if not m:  # a bare serial: nothing to go on but its name
        return Listed(line.strip(), "unknown", None)
    tags = dict(tag.split(":", 1) for tag in m["tags"].split())
    tid = tags.get("transport_id", "")
    return Listed(m["serial"], m["state"], int(tid) if tid.isdigit() else None)


@contextmanager
def _talking(who: str) -> Iterator[None]:
    try:
        yield
    except AdbConnectionError as e:
        raise AdbUnavailable(f"The adb server stopped answering ({e}); run again to restart it.") from e
    except (AdbTimeout, TimeoutError) as e:
        if who == SERVER:
            raise AdbUnavailable("The adb server stopped answering; restart it with `adb kill-server` and run"
                                 " again.") from e
        raise PhoneFrozen(f"{who} stopped answering; unplug it and plug it back in (run `adb kill-server` if it still"
                          " hangs), then run again.") from e
    except (adbutils.AdbError, OSError, EOFError) as e:
        detail = str(e) or type(e).__name__
        raise PhoneGone(f"Lost the connection to {who} ({detail}); check the cable, unlock the phone and run"
                        " again.") from e


@dataclass(frozen=True)
class ShellResult:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class RemoteStat:
    mode: int
    size: int

    @property
    def is_dir(self) -> bool:
        return self.mode & 0o170000 == 0o040000


class Phone:
    """One phone through the adb server. Shell commands go as argv, each word quoted; nothing else reaches
    the phone's shell."""

    def __init__(self, client: adbutils.AdbClient, serial: str, transport_id: int | None = None) -> None:
        self.serial = serial
        # by transport id when known: each request then skips adbutils' server-version query
        self._device = adbutils.AdbDevice(client, serial=serial, transport_id=transport_id)
        self._features: frozenset[str] | None = None

    def talking(self) -> AbstractContextManager[None]:
        """Inside it, adb failures become PhoneGone (or AdbUnavailable) with this phone's serial."""
        return _talking(self.serial)

    @property
    def features(self) -> frozenset[str]:
        if self._features is None:
            with self.talking():
                self._features = frozenset(self._device.get_features().split(","))
        return self._features

    def shell(self, *argv: str, timeout: float = SHELL_TIMEOUT) -> ShellResult:
        v2 = "shell_v2" in self.features
        with self.talking():
            r = self._device.shell2(list(argv), timeout=timeout, v2=v2)
        # without the v2 protocol stdout and stderr arrive mixed, as `output`
        return ShellResult(r.returncode, r.stdout if v2 else r.output, r.stderr)

    def getprops(self) -> dict[str, str]:
        """All system properties, from `getprop`'s `[key]: [value]` lines."""
        return dict(PROP_LINE.findall(self.shell("getprop").out))

    def open_sync(self, timeout: float = SHELL_TIMEOUT) -> adbutils.AdbConnection:
        """A connection in sync mode (SYNC.TXT): the caller sends requests and closes it."""
        with self.talking():
            c = self._device.open_transport(timeout=timeout)
            c.send_command("sync:")
            c.check_okay()
        return c

    def stat(self, path: str) -> RemoteStat | None:
        """What is at `path`, or None when nothing is."""
        v2 = "stat_v2" in self.features
        data = path.encode()
        with self.talking():
            c = self.open_sync()
            try:
                c.conn.sendall((b"STA2" if v2 else b"STAT") + struct.pack("<I", len(data)) + data)
                if v2:  # id, error, dev, ino, mode, nlink, uid, gid, size (64-bit), times
                    _, error, _, _, mode, _, _, _, size = struct.unpack("<4sIQQIIIIQ", c.read_exact(48))
                    c.read_exact(24)
                else:  # id, mode, size (32-bit), mtime
                    _, mode, size, _ = struct.unpack("<4s3I", c.read_exact(16))
                    error = 0 if mode else 1
            finally:
                c.close()
        return None if error else RemoteStat(mode, size)
