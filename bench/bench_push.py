"""`wacft push` against a plain `adb push` of the same file to the same phone, in the same run.

    .venv/bin/python bench/bench_push.py [--mb 150] [--rounds 5]

Both run as commands through the real adb server (the `adb` on PATH, on a private port) to the fake phone of
tests/fixtures_adb, taking turns. Printed, as medians over the rounds: the transfer rate each command reports
for the transfer alone (adb's "(N bytes in T s)", wacft's "at X MB/s"), and each whole command's wall time
(wacft's also lists the phone, checks name and free space, has the phone compute a sha256 of the copy and
renames it into place; adb push does none of that). Target: wacft's transfer within 10% of adb push's.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.ggml_file import write_ggml
from fixtures_adb.adbserver import AdbServer
from fixtures_adb.fakeadbd import FakePhone

ADB_RATE = re.compile(r"\((\d+) bytes in ([\d.]+)s\)")
WACFT_RATE = re.compile(r"at ([\d.]+) MB/s")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, out.stdout + out.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=150, help="file size in MB (default 150)")
    parser.add_argument("--rounds", type=int, default=5, help="pushes of each kind (default 5)")
    args = parser.parse_args()
    size = args.mb * 1_000_000

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = work / "base_en_acft_q5_0.bin"
        write_ggml(model, size=size)  # base.en q5_0 hparams: what `wacft push` names the file from
        server = AdbServer(work / "home").start()
        phone = FakePhone(work / "phone")
        try:
            serial = server.connect(phone.address)
            env = server.env
            adb = [server.exe, "-P", str(server.port), "-s", serial, "push", str(model),
                   "/sdcard/Download/adb.bin"]
            wacft = [sys.executable, "-m", "wacft.cli", "push", str(model), "--device", serial, "--force"]
            rates: dict[str, list[float]] = {"adb push": [], "wacft push": []}
            walls: dict[str, list[float]] = {"adb push": [], "wacft push": []}
            for i in range(args.rounds):
                order = [("adb push", adb), ("wacft push", wacft)]
                for name, argv in order if i % 2 == 0 else order[::-1]:  # take turns going first
                    wall, out = timed(argv, env)
                    if name == "adb push":
                        n, seconds = ADB_RATE.search(out).groups()
                        rates[name].append(int(n) / 1e6 / float(seconds))
                    else:
                        rates[name].append(float(WACFT_RATE.search(out)[1]))
                    walls[name].append(wall)
        finally:
            phone.close()
            server.stop()

    print(f"push of {args.mb} MB to the fake phone through the adb server, median of {args.rounds} rounds:")
    for name in rates:
        rate, wall = statistics.median(rates[name]), statistics.median(walls[name])
        print(f"  {name:10}  transfer {rate:7.1f} MB/s   whole command {wall:5.2f} s"
              f" ({args.mb / wall:6.1f} MB/s)")
    ratio = statistics.median(rates["wacft push"]) / statistics.median(rates["adb push"])
    print(f"wacft transfer / adb push transfer: {ratio:.2f} (target: at least 0.90)")


if __name__ == "__main__":
    main()
