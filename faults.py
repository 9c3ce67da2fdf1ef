"""What happens when something goes wrong that no sentence foresaw: SIGTERM stops a step as Ctrl+C does
(each step cleans up on KeyboardInterrupt), and an unexpected error becomes a short report whose traceback
goes to a log file, never to the terminal."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import NoReturn

from wacft.atomic import write_bytes_atomic

_stopped = threading.Event()


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Inside it, SIGTERM (what `timeout`, `kill` and service managers send) raises KeyboardInterrupt in the main
    thread as Ctrl+C does, so a stopped step removes its partial files and says so. Both also leave a mark for
    `raise_if_stopped`: Modal's SDK drops an interrupt that lands as one of its calls returns. The handlers it
    replaced come back after it (main() may run inside another program: tests), and the mark goes."""

    def stop(signum: int, frame: FrameType | None) -> NoReturn:
        _stopped.set()
        raise KeyboardInterrupt

    replaced = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in replaced.items():
            signal.signal(signum, handler)
        _stopped.clear()


def raise_if_stopped() -> None:
    """Between two blocking calls of a long step: the stop an SDK swallowed, raised again."""
    if _stopped.is_set():
        raise KeyboardInterrupt


class _ToStderr(logging.Handler):
    """Whatever sys.stderr is when the message comes (tests swap it), prefixed like every other line."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"wacft: {record.getMessage()}", file=sys.stderr)


def report_warnings() -> None:
    """The engine's warnings (a stale partial file removed, ...) on the terminal; the TUI shows its own."""
    logger = logging.getLogger("wacft")
    if not any(isinstance(h, _ToStderr) for h in logger.handlers):
        logger.addHandler(_ToStderr(logging.WARNING))


def logs_dir() -> Path:
    from wacft.paths import data_dir

    return data_dir() / "logs"


def write_crash_log(error: BaseException) -> Path:
    """The full traceback, in a file of its own; returns its path."""
    folder = logs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{type(error).__name__}.log"
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    write_bytes_atomic(path, text.encode())
    return path


def crash_report(error: BaseException) -> str:
    """One short paragraph for the terminal: what happened and where the traceback is."""
    try:
        where = f"the full report is in {write_crash_log(error)}"
    except OSError as e:  # the log cannot be written either (a full disk): say what we know
        where = f"the report could not be saved ({e.strerror})"
    return (f"stopped on an unexpected error ({type(error).__name__}: {error}); {where}."
            " Please include that file when you report it.")
