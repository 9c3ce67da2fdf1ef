"""The real adb server (Debian's `adb`, or platform-tools') on a private port, with its own key folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

WAIT = 15.0  # seconds any state change may take before the harness gives up


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AdbServer:
    """`adb -P <port>` on a free port (not 5037, not the emulator range 5555-5585), killed at stop().

    HOME points at `home` so the server's RSA key is made there, not in the person's ~/.android.
    """

    def __init__(self, home: Path) -> None:
        adb = shutil.which("adb")
        if adb is None:
            raise RuntimeError("the device tests need the `adb` program: apt-get install adb")
        home.mkdir(parents=True, exist_ok=True)
        self.exe, self.port = adb, free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ANDROID_", "ADB"))}
        self.env.update(HOME=str(home), ANDROID_ADB_SERVER_PORT=str(self.port))
        self._waiting: list[subprocess.Popen] = []

    def adb(self, *args: str, check: bool = True) -> str:
        out = subprocess.run([self.exe, "-P", str(self.port), *args], env=self.env, capture_output=True,
                             text=True, timeout=WAIT)
        if check and out.returncode:
            raise RuntimeError(f"adb {' '.join(args)} failed ({out.returncode}): {out.stdout}{out.stderr}")
        return out.stdout + out.stderr

    def start(self) -> AdbServer:
        self.adb("start-server")
        return self

    def stop(self) -> None:
        for client in self._waiting:
            client.kill()
            client.wait()
        self.adb("kill-server", check=False)

    def states(self) -> dict[str, str]:
        lines = self.adb("devices").splitlines()[1:]
        return dict(line.split("\t", 1) for line in lines if "\t" in line)

    def wait_for(self, serial: str, state: str | None) -> None:
        """Until `adb devices` lists `serial` in `state` (None: not listed at all)."""
        deadline = time.monotonic() + WAIT
        while (now := self.states().get(serial)) != state:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{serial} is {now!r} after {WAIT:.0f} s, not {state!r}")
            time.sleep(0.05)

    def connect(self, address: str, state: str = "device") -> str:
        """`adb connect`, until the server lists `address` in `state`. A phone that never answers keeps
        `adb connect` waiting for its handshake (10 s), so that one is left to time out in the background."""
        if state == "offline":
            self._waiting.append(subprocess.Popen([self.exe, "-P", str(self.port), "connect", address],
                                                  env=self.env, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL))
        else:
            self.adb("connect", address)
        self.wait_for(address, state)
        return address

    def disconnect(self, address: str) -> None:
        self.adb("disconnect", address, check=False)
        self.wait_for(address, None)
