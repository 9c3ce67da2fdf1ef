"""What must hold beyond Linux: writing files where `posix_fallocate` is missing (macOS, Windows), and the
script steps importing without POSIX-only modules (Windows). Only Linux runs here, so the absence is simulated."""

import math
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from wacft.atomic import atomic_writer
from wacft.errors import WacftError


@pytest.fixture(params=["posix_fallocate", "no posix_fallocate"])
def reservation(request, monkeypatch):
    if request.param == "no posix_fallocate":
        monkeypatch.delattr(os, "posix_fallocate", raising=False)
    return request.param


def test_a_reserved_file_holds_exactly_what_was_written(reservation, tmp_path):
    out = tmp_path / "model.bin"
    with atomic_writer(out, size=1 << 20) as f:
        f.write(b"ggml" * 1000)  # less than reserved: the reservation does not leave a tail behind
    assert out.read_bytes() == b"ggml" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_without_posix_fallocate_a_file_larger_than_the_free_space_fails_before_writing(monkeypatch, tmp_path):
    monkeypatch.delattr(os, "posix_fallocate", raising=False)
    too_big = shutil.disk_usage(tmp_path).free + (1 << 40)
    sentence = (f"The disk holding {tmp_path} is full; it needs about {math.ceil(too_big / 1e6):,} MB free there."
                " Free some space and run again.")
    with pytest.raises(WacftError, match=f"^{re.escape(sentence)}$"), atomic_writer(tmp_path / "a.bin", size=too_big):
        pytest.fail("nothing may be written when the file cannot fit")
    assert list(tmp_path.iterdir()) == []


# No room while writing (a file-size limit fails the write with EFBIG, as a full disk fails it with ENOSPC).
FULL_MID_WRITE = """
import os, resource, signal, sys
del os.posix_fallocate
from wacft.atomic import atomic_writer
from wacft.errors import WacftError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))
try:
    with atomic_writer(sys.argv[1], size=5_000) as f:  # fits by the free space, not by the limit
        for _ in range(20):
            f.write(bytes(1000))
except WacftError as e:
    sys.exit(str(e))
"""


def test_without_posix_fallocate_a_disk_that_fills_mid_write_gets_the_sentence(tmp_path):
    out = tmp_path / "model.bin"
    proc = subprocess.run([sys.executable, "-c", FULL_MID_WRITE, str(out)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == (f"A file in {tmp_path} reached this shell's file-size limit (10,000 bytes, see"
                           " `ulimit -f`); the disk itself may have room. Raise that limit and run again.\n")
    assert list(tmp_path.iterdir()) == []


# Windows has none of these modules and none of these os functions.
POSIX_ONLY_MODULES = ("fcntl", "termios", "tty", "pty", "resource", "pwd", "grp", "syslog")
POSIX_ONLY_OS = ("uname", "posix_fallocate", "killpg", "getpgid", "setsid", "fork", "getuid", "geteuid", "sync")
# the script steps' own modules (what `wacft convert`, `verify` and `push` import when they run), and the checks
STEP_MODULES = (
    "wacft.cli", "wacft.checks", "wacft.atomic", "wacft.convert.convert", "wacft.convert.ggml",
    "wacft.verify.check", "wacft.dataset.clips", "wacft.device.adb", "wacft.device.devices", "wacft.device.push",
    "wacft.device.naming", "wacft.device.futo",
)


def test_the_script_steps_import_without_posix_only_modules(tmp_path):
    """Our modules, imported afresh without them; the libraries they use are loaded first, as they are (each
    supports Windows in its own way, on its own branch)."""
    script = textwrap.dedent(f"""
        import importlib, os, sys
        for name in {STEP_MODULES!r}:
            importlib.import_module(name)
        for name in [m for m in sys.modules if m == "wacft" or m.startswith("wacft.")]:
            del sys.modules[name]
        for name in {POSIX_ONLY_MODULES!r}:
            sys.modules[name] = None  # importing it now raises ImportError, as on Windows
        for name in {POSIX_ONLY_OS!r}:
            if hasattr(os, name):
                delattr(os, name)
        for name in {STEP_MODULES!r}:
            importlib.import_module(name)
        from wacft.cli import build_parser
        build_parser()
        from wacft.checks import environment
        environment()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
