"""The paths that start `wacft` and `wacft-tui` stay light: no torch, transformers, datasets or modal."""

import subprocess
import sys

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
