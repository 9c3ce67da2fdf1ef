"""A training run's life, the same from the CLI and the wizard: which backend a run goes to (its `launch` checks
the settings before anything starts), training in this process, watch, cancel, resume and fetch, each through
the one `Backend` protocol."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wacft.acft.backends import Backend, LocalBackend, Progress
from wacft.acft.config import TrainConfig
from wacft.acft.estimate import estimate
from wacft.acft.events import CallbackSink, Event, EventSink, StepEvent
from wacft.acft.runs import ACTIVE, STOPPED, RunRecord, list_runs, load_run
from wacft.errors import WacftError

__all__ = ["ACTIVE", "STOPPED", "WHERE", "Backend", "CallbackSink", "Event", "RunRecord", "StepEvent", "backend",
           "backend_for", "cancel", "estimate", "fetch", "kept_checkpoint", "last_step", "list_runs", "load_run",
           "resume", "resume_cost", "settle", "spend", "train_here", "watch"]

WHERE = ("local", "modal")


def backend(where: str, gpu: str | None = None, convert_types: tuple[str, ...] | list[str] = (),
            max_hours: float | None = None) -> Backend:
    """The backend a new run goes to: "local" (a process here) or "modal" (a Modal GPU, converting
    `convert_types` beside the weights and stopped after `max_hours`)."""
    if where == "modal":
        from wacft.acft.modal_backend import ModalBackend

        return ModalBackend(gpu, convert_types, max_hours)
    if where != "local":
        raise WacftError(f"A run goes to one of {', '.join(WHERE)}, not {where}.")
    return LocalBackend()


def modal_backend_in_running_app(gpu: str | None, convert_types: list[str]) -> Backend:
    """The Modal backend for `modal run`'s entrypoints, whose app runs already (running it again is refused)."""
    from wacft.acft.modal_backend import ModalBackend

    modal = ModalBackend(gpu, convert_types)
    modal.in_running_app = True
    return modal


def backend_for(record: RunRecord) -> Backend:
    """The backend an existing run is on."""
    return backend(record.backend, record.gpu)


def train_here(config: TrainConfig, sink: EventSink, resume: bool = False, force: bool = False) -> None:
    """The run in this process (`wacft train --on here`), its events into `sink`."""
    from wacft.acft.validate import check
    from wacft.extras import needs_extra

    check(config)
    with needs_extra("train"):
        from wacft.acft.trainer import train

    train(config, sink, resume=resume, force=force)


def watch(record: RunRecord, sink: EventSink, stop: threading.Event | None = None) -> RunRecord:
    return backend_for(record).watch(record, sink, stop)


def last_step(record: RunRecord) -> dict[str, Any]:
    """The run's latest step event, without a watch (the start screen's progress column)."""
    return backend_for(record).last_step(record)


def kept_checkpoint(record: RunRecord) -> bool:
    return backend_for(record).kept_checkpoint(record)


def resume_cost(record: RunRecord, max_hours: float | None) -> str | None:
    """What resuming the run may cost, to ask about first (a Modal run's new budget); None: nothing."""
    return backend_for(record).resume_cost(record, max_hours)


def settle(record: RunRecord) -> RunRecord:
    """The record as the run is now: a run that ended unwatched is no longer listed as running."""
    return backend_for(record).settle(record)


def cancel(record: RunRecord) -> RunRecord:
    record = settle(record)  # a run that already ended is not cancelled, nor its pid signalled
    if record.status not in ACTIVE:
        raise WacftError(f"Run {record.id} is {record.status}; only a running run can be cancelled.")
    return backend_for(record).cancel(record)


def cancel_if_local(run_id: str) -> RunRecord | None:
    """What a wizard stopped by SIGTERM or SIGHUP does with a run it started: a local one still going is cancelled
    (its trainer checkpoints first, and resumes from there); a Modal run goes on, remote and capped by its budget."""
    record = load_run(run_id)
    if backend_for(record).remote or settle(record).status not in ACTIVE:
        return None
    return cancel(record)


def resume(record: RunRecord, max_hours: float | None = None, say: Callable[[str], None] = print) -> RunRecord:
    """A cancelled or failed run again from its last checkpoint, as a new record; a Modal run with a budget of
    `max_hours` (default: the one it had)."""
    if record.status not in STOPPED:
        raise WacftError(f"Only a cancelled or failed run can be resumed; this one is {record.status}.")
    return backend(record.backend, record.gpu, record.convert, max_hours).resume(record, say=say)


def fetch(record: RunRecord, dest: Path, only: str | None = None, progress: Progress | None = None) -> list[Path]:
    return backend_for(record).fetch(record, dest, only, progress=progress)


def spend(config: TrainConfig, gpu: str, max_hours: float | None, clips: int | None = None,
          seconds: float = 0.0) -> str:
    """What a Modal run will take and cost, and how long it may run: what `wacft train --on modal` prints and the
    wizard asks about before a launch. Without `clips` (the CLI) the dataset is counted here, where it can be."""
    from wacft.acft.estimate import worst_case
    from wacft.extras import MissingExtra

    lines = []
    try:
        if clips is None:
            from wacft.dataset.clips import load_clips

            found = load_clips(config.dataset_spec).clips
            clips, seconds = len(found), sum(c.seconds for c in found)
        lines.append(estimate(config, clips, seconds, gpu).describe())
    except MissingExtra as e:  # the job reads the dataset itself: counting it here is a courtesy
        lines.append(f"No estimate: {e}")
    lines.append(worst_case(gpu, max_hours))
    return "\n".join(lines)
