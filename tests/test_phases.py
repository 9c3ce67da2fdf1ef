"""The trainer's clock for what is not a step: it counts the time a phase takes and the time spent waiting on
the next item of an iterable, and nothing else."""

import time

from wacft.acft.phases import Phases


def slow(items, seconds):
    for item in items:
        time.sleep(seconds)
        yield item


def test_waiting_on_items_is_counted_and_the_consumers_time_is_not():
    phases = Phases()
    seen = []
    for item in phases.waited(slow([1, None, 3], 0.02), "data"):
        seen.append(item)
        time.sleep(0.05)  # the consumer's own work: not waiting
    assert seen == [1, None, 3]  # a None item is an item, not the end
    assert 0.06 <= phases.seconds["data"] < 0.14


def test_a_phase_counts_even_when_it_raises():
    phases = Phases()
    try:
        with phases.timing("checkpoint"):
            time.sleep(0.03)
            raise OSError("disk full")
    except OSError:
        pass
    with phases.timing("checkpoint"):
        time.sleep(0.01)
    sums = phases.sums()
    assert 0.04 <= sums["checkpoint"] < 0.1 and sums["eval"] == sums["data"] == 0
    sums["checkpoint"] = 0  # a copy: later events keep their own sums
    assert phases.seconds["checkpoint"] > 0
