"""What a training step pays to publish its event on Modal, and what the old per-step Queue/Dict calls cost.

    .venv/bin/python bench/bench_modal_events.py [--events 6000]

Both run through the real `modal` client against the fake Modal control plane of tests/fake_modal (gRPC on
loopback, so a real Modal round trip, tens of ms away, costs far more than printed here). Printed: the cost of
`emit` per step through wacft's BufferedPublisher into the events Dict (median, 99th percentile, max), how many
Dict calls carried the events, and the cost per step of one blocking Dict write per event (what the job did
before, besides a Queue put). Target: publishing costs a step under 1 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fake_modal.server import FakeModalServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=6000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeModalServer(Path(tmp)) as server:
        os.environ.update(server.env)
        import modal

        from wacft.acft.events import BufferedPublisher
        from wacft.modal_jobs import EVENTS_DICT, EventChannel

        store = modal.Dict.from_name(EVENTS_DICT, create_if_missing=True)
        publisher = BufferedPublisher(EventChannel(store, "bench").send)
        costs = []
        for step in range(args.events):
            event = {"type": "step", "step": step, "total_steps": args.events, "loss": 1.0 / (step + 1)}
            start = time.perf_counter()
            publisher.emit(event)
            costs.append(time.perf_counter() - start)
            time.sleep(0.0002)  # a (very fast) training step
        publisher.close()
        costs.sort()
        updates = len(server.modal.called("DictUpdate"))
        print(f"buffered publish, {args.events} events: median {statistics.median(costs) * 1e6:.1f} µs,"
              f" p99 {costs[int(len(costs) * 0.99)] * 1e6:.1f} µs, max {costs[-1] * 1e3:.2f} ms per step;"
              f" {updates} Dict writes carried them")
        blocking = []
        for step in range(500):
            start = time.perf_counter()
            store["bench-state"] = {"type": "step", "step": step}
            blocking.append(time.perf_counter() - start)
        print(f"one blocking Dict write per step (loopback): median {statistics.median(blocking) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
