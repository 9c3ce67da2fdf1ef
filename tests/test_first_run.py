"""The first ten minutes, scripted: `wacft-tui` from this checkout in a real terminal (tmux), driven with keys
and read off the screen, from a dataset check to a verified model. Every wait is a bounded poll of the screen.
The terminal's keys, the app's startup and its workers are all the real ones: what a Pilot test cannot see."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/system-deps)"),
              pytest.mark.e2e]

WIZARD = Path(sys.prefix) / "bin" / "wacft-tui"  # the console script of the environment running the tests


class Terminal:
    """A tmux session on a private server running one command at 120x40."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path):
        self.server = f"wacft-test-{uuid.uuid4().hex[:8]}"
        # a clean environment: nothing of the test runner's (COLUMNS and LINES would override the terminal's size)
        line = " ".join(["env", "-i", *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                         *map(shlex.quote, command)])
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "first", "-x", "120", "-y", "40", "-c", str(cwd), line)
        self.socket = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.server, *args], check=True, capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        """tmux key names (C-n, Enter, Tab, BSpace, ...)."""
        self.tmux("send-keys", "-t", "first", *keys)

    def move_focus(self, seconds: float = 10) -> None:
        """Tab, and wait until the screen's styles show the focus moved: a key sent before the move lands
        would go to the field being left."""
        before = self.tmux("capture-pane", "-p", "-e", "-t", "first")
        self.keys("Tab")
        deadline = time.monotonic() + seconds
        while self.tmux("capture-pane", "-p", "-e", "-t", "first") == before:
            assert time.monotonic() < deadline, "Tab did not move the focus"
            time.sleep(0.1)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "first", "-l", text)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "first")

    def wait_for(self, *texts: str | re.Pattern, seconds: float = 60) -> str:
        """The screen once it shows one of `texts` and has stopped changing (a step's title is drawn a moment
        before its first field takes the focus: keys sent in between would go elsewhere); the screen as it was,
        in the failure, if it never does."""
        deadline, before = time.monotonic() + seconds, None
        while True:
            screen = self.screen()
            if screen == before and any(t.search(screen) if isinstance(t, re.Pattern) else t in screen
                                        for t in texts):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"never showed {texts} within {seconds:.0f} s; the screen:\n{screen}")
            before = screen
            time.sleep(0.3)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True)
        self.socket.unlink(missing_ok=True)  # (a killed server leaves it)


@pytest.fixture
def terminal(tmp_path):
    env = {"WACFT_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "TERM": "xterm-256color",
           "PATH": str(WIZARD.parent) + ":/usr/bin:/bin", "HOME": os.environ["HOME"], "LANG": "C.UTF-8",
           "TEXTUAL_ANIMATIONS": "none"}  # an idle screen stands still (a waiting progress bar would sweep)
    term = Terminal([str(WIZARD)], env, Path(__file__).parent.parent)
    yield term
    term.close()


def test_first_run_from_a_dataset_to_a_verified_model(terminal, speech_dataset, tiny_en_dir, tmp_path):
    """Dataset check on recorded clips, the tiny model from a folder, one epoch here, convert, verify."""
    recordings = speech_dataset(["Good morning.", "See you soon."])  # two voices: four clips
    t = terminal
    t.wait_for("New model")
    t.keys("n")
    t.wait_for("1 · Dataset")
    t.type(str(recordings))  # the dataset field has the focus
    t.wait_for(str(recordings)[-30:])
    t.keys("Enter")  # Enter in the field checks it
    t.wait_for("✓ 4 clips")
    t.keys("C-n")
    t.wait_for("✗ openai/whisper-base.en")  # its check (offline: not in the cache): the step has shown, focused
    t.move_focus()  # past the sizes and English-only, to "or hub id/folder"
    t.move_focus()
    t.type(str(tiny_en_dir))
    t.wait_for("folder is complete")
    t.keys("C-n")
    t.wait_for("About")  # the estimate: the step has shown (and focused its first field)
    t.keys("BSpace")  # the 8 in "ACFT epochs" (the cursor is at its end)
    t.wait_for("a whole number of at least 0")  # the empty field says what it takes
    t.type("1")  # 1 ACFT epoch (the four clips make one batch)
    t.wait_for(re.compile(r"ACFT epochs +1 "))
    t.keys("C-l")
    assert "epoch 1/1" in t.wait_for("✓ done", "✗ failed", seconds=300)
    t.keys("C-n")
    t.wait_for("q8_0  ")  # the sizes, once the step has shown
    t.keys("C-r")
    t.wait_for("sha256", "✗", seconds=300)
    t.keys("C-n")
    t.wait_for("5 · Verify")
    t.keys("C-r")
    screen = t.wait_for("ready for the phone", "✗", seconds=300)
    assert "futo" in screen  # the row at FUTO Keyboard's own context: whisper.cpp ran the .bin
    t.keys("C-q")
    [run] = [p for p in (tmp_path / "home" / "runs").iterdir() if p.is_dir()]
    assert run.name == tiny_en_dir.name  # under the user data dir (WACFT_HOME), named after the model
    assert (run / "model.safetensors").is_file() and len(list(run.glob("*.bin"))) == 2
