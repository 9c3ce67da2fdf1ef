"""The paths that start `wacft` and `wacft-tui` stay light: no torch, transformers, datasets or modal."""

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from wacft.tui.app import WacftApp

HEAVY = ("torch", "transformers", "datasets", "modal", "pywhispercpp")
CHECK = """
import sys
import wacft.tui.app
from wacft.cli import build_parser
build_parser()
print(",".join(sorted(m for m in {HEAVY} if m in sys.modules)))
"""


def test_start_up_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", CHECK.format(HEAVY=HEAVY)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


async def test_app_starts_and_quits(tmp_path, monkeypatch):
    monkeypatch.setenv("WACFT_HOME", str(tmp_path))
    app = WacftApp()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.TITLE.startswith("wacft")
        await pilot.press("ctrl+q")
    assert app.return_code == 0


class Terminal:
    """A pseudo-terminal of 80x24 with a program in it, and what the program has drawn, escape codes left out."""

    def __init__(self, command: list[str], env: dict):
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.process = subprocess.Popen(command, stdin=self.slave, stdout=self.slave, stderr=self.slave, env=env,
                                        start_new_session=True)
        self.output = b""

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in re.sub(rb"\x1b\[[0-9;?<]*[A-Za-z]", b"", self.output):
            assert time.monotonic() < deadline, f"{text!r} never showed"
            if select.select([self.master], [], [], 0.1)[0]:
                self.output += os.read(self.master, 65536)

    def cooked(self) -> bool:
        """Whether the terminal is back in the mode a shell expects: lines edited and echoed."""
        flags = termios.tcgetattr(self.slave)[3]
        return bool(flags & termios.ICANON and flags & termios.ECHO)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_quits_the_wizard_cleanly(tmp_path, sent):
    """A real `wacft-tui` in a pseudo-terminal, sent a real SIGTERM (`kill`) or SIGHUP (its terminal closed) while
    a step holds typed text: it exits as on ctrl+q, the terminal back as it was and the session saved."""
    env = {**os.environ, "WACFT_HOME": str(tmp_path), "TERM": "xterm-256color", "HF_HUB_OFFLINE": "1"}
    terminal = Terminal([str(Path(sys.executable).with_name("wacft-tui"))], env)
    try:
        terminal.wait_for("New model")
        assert not terminal.cooked()  # the wizard owns the terminal
        os.write(terminal.master, b"n")  # the dataset step, its folder field focused
        terminal.wait_for("1 · Dataset")
        os.write(terminal.master, b"/nowhere/clips\r")
        terminal.wait_for("There is no folder")  # checked, so the session holds it; not moved on, so not saved
        os.kill(terminal.process.pid, sent)
        assert terminal.process.wait(30) == 0
        assert terminal.cooked()
        session = json.loads((tmp_path / "session.json").read_text())
        assert (session["step"], session["dataset"]) == ("dataset", "/nowhere/clips")
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
        terminal.close()


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_the_wizard_stops_the_local_run_it_started_resumable(tmp_path, sent, random_whisper,
                                                                           speech_dataset, monkeypatch):
    """A real `wacft-tui` launches a real local run (a tiny random model); SIGTERM or SIGHUP to the wizard cancels
    that run as `wacft cancel` does, after its checkpoint, where ctrl+q would leave it going."""
    from wacft.acft.backends import LocalBackend
    from wacft.acft.runs import list_runs

    data = speech_dataset(["Hello world.", "See you soon."], voices=["en-us"])
    session = {"step": "train", "dataset": str(data), "dataset_clips": 2, "dataset_seconds": 3.0,
               "model": str(random_whisper()), "where": "local", "epochs": 1000, "finetune_epochs": 0,
               "batch_size": 1, "out": str(tmp_path / "run")}
    monkeypatch.setenv("WACFT_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "session.json").write_text(json.dumps(session))
    env = {**os.environ, "WACFT_HOME": str(tmp_path / "home"), "TERM": "xterm-256color", "HF_HUB_OFFLINE": "1"}
    terminal = Terminal([str(Path(sys.executable).with_name("wacft-tui"))], env)
    try:
        terminal.wait_for("New model")
        os.write(terminal.master, b"c")  # carry on, at the training step
        terminal.wait_for("3 · Training")
        os.write(terminal.master, b"\x0c")  # ctrl+l launches
        terminal.wait_for("checkpoint at step", timeout=300)
        os.kill(terminal.process.pid, sent)
        assert terminal.process.wait(120) == 0
        [record] = list_runs()
        terminal.wait_for(f"stopped run {record.id}; `wacft resume {record.id}` goes on from its last checkpoint")
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
        terminal.close()
        for left in list_runs():  # failing, this test leaves no trainer behind
            if LocalBackend().alive(left):
                os.killpg(left.pid, signal.SIGKILL)
    assert record.status == "cancelled" and record.backend == "local"
    assert not LocalBackend().alive(record) and LocalBackend().kept_checkpoint(record)
