"""Time from `wacft-tui` starting to its first screen being up, in a fresh process each run (best of five).

    .venv/bin/python bench/bench_tui_start.py

Target: well under a second; nothing heavy (torch, transformers, datasets, modal) is imported on the way.
"""

from __future__ import annotations

import subprocess
import sys

RUNS = 5
CHILD = """
import asyncio, sys, time
start = time.perf_counter()
from wacft.tui.app import WacftApp

async def main():
    app = WacftApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        print(time.perf_counter() - start, ",".join(m for m in ("torch", "transformers", "datasets", "modal")
                                                   if m in sys.modules))
asyncio.run(main())
"""


def main() -> None:
    runs = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout.split()
        runs.append((float(out[0]), out[1] if len(out) > 1 else ""))
    best = min(runs)
    print(f"first screen up in {best[0] * 1000:.0f} ms (best of {RUNS}; worst {max(runs)[0] * 1000:.0f} ms);"
          f" heavy modules imported: {best[1] or 'none'}")


if __name__ == "__main__":
    main()
