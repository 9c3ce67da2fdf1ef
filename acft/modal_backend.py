"""Runs on Modal: launch detached, watch through the run's events in a Dict, cancel, and fetch what the job
left on the volume. modal is imported only here and in modal_jobs; neither imports torch."""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from wacft.acft import other_voices
from wacft.acft.backends import FINAL, Progress, absorb
from wacft.acft.config import TrainConfig
from wacft.acft.events import EventSink
from wacft.acft.runs import RunRecord, cancelled_meanwhile, cancelling, new_id
from wacft.acft.validate import InvalidSetting, check, problem
from wacft.atomic import atomic_writer, write_bytes_atomic
from wacft.checks import modal_token_configured
from wacft.errors import WacftError
from wacft.extras import beside, needs_extra
from wacft.facts import DEFAULT_GPU, GPUS
from wacft.faults import raise_if_stopped

NO_RESUME = "A Modal run resumes on its own retries; start a new run from the training step."
CALL_CHECK_SECONDS = 10.0  # how often a watcher asks Modal whether the call is still running


def check_ready() -> None:
    """What a launch needs, each missing piece one sentence."""
    with needs_extra("modal"):
        import modal
        from modal.exception import NotFoundError

        from wacft import modal_jobs

    if not modal_token_configured():
        raise WacftError(
            f"No Modal token is configured; run `{beside('modal')} token new` (or set MODAL_TOKEN_ID and"
            " MODAL_TOKEN_SECRET)."
        )
    try:
        modal.Secret.from_name(modal_jobs.SECRET_NAME).hydrate()
    except NotFoundError as e:
        raise WacftError(
            f"Modal has no secret named {modal_jobs.SECRET_NAME}; create it with"
            f" `modal secret create {modal_jobs.SECRET_NAME} HF_TOKEN=<your token>`."
        ) from e


def folder_digest(folder: Path) -> str:
    """Names, sizes and contents: the same local dataset is uploaded once."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def call_outcome(call) -> str | None:
    """None while the call runs (or waits for a retry); else what Modal says of how it ended."""
    try:
        result = call.get(timeout=0)
    except TimeoutError:
        return None
    except BaseException as e:  # Modal raises the job's exception, or its own for a lost container
        if isinstance(e, KeyboardInterrupt):
            raise
        return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    return f"the job returned {result!r}"


def keep(record: RunRecord, events: list[dict]) -> RunRecord:
    """The record, and the events seen so far as JSON lines beside it (timed: the estimate learns this GPU's
    speed from them, as from a local run's). Written whole and atomically: two watchers write the same."""
    write_bytes_atomic(Path(record.events), "".join(json.dumps(e) + "\n" for e in events).encode())
    return cancelled_meanwhile(record).save()


def fetched_whole(target: Path, entry) -> bool:
    """Whether an earlier fetch left the volume's file `entry` here whole. A fetched file gets its name only
    once all of it has come, and then the volume's mtime: the same size and mtime mean this very file, while a
    file of the same size from another run or an earlier attempt (the volume lists no checksum) is fetched
    again."""
    try:
        here = target.stat()
    except FileNotFoundError:
        return False
    return here.st_size == entry.size and int(here.st_mtime) == entry.mtime


class ModalBackend:
    """A run on a Modal GPU. What the job converts beside the weights (`convert_types`) and how long it may run
    (`max_hours`, the function's timeout) belong to where it runs, so they are given here, not to `launch`."""

    name = "modal"

    def __init__(self, gpu: str | None = None, convert_types: tuple[str, ...] | list[str] = (),
                 max_hours: float | None = None):
        with needs_extra("modal"):
            from wacft import modal_jobs

        self.jobs = modal_jobs
        self.gpu = gpu or DEFAULT_GPU
        wrong = problem("max_hours", max_hours)  # the same rule as the wizard's field
        if wrong:
            raise InvalidSetting(wrong)
        self.convert_types, self.max_hours = list(convert_types), max_hours
        if self.gpu not in GPUS:
            gpus = ", ".join(GPUS)
            raise WacftError(f"{self.gpu} is not a GPU wacft runs on; pick one of {gpus}.")

    def upload_dataset(self, config: TrainConfig) -> TrainConfig:
        """A local folder goes to the volume once (by content hash); the job then reads it from there."""
        folder = Path(config.dataset).expanduser()
        if not folder.is_dir():
            return config
        from modal.exception import NotFoundError

        remote = f"/datasets/{folder_digest(folder)}"
        try:
            self.jobs.volume.listdir(remote)
        except (NotFoundError, FileNotFoundError):
            with self.jobs.volume.batch_upload() as batch:
                batch.put_directory(str(folder), remote)
        # decided here, where the folder is the person's: the job sees only the volume's copy
        return replace(config, dataset=f"{self.jobs.MOUNT}{remote}", other_voices=other_voices.wanted(config))

    def launch(self, config: TrainConfig, *, resume: bool = False, force: bool = False,
               say: Callable[[str], None] = print, confirm: Callable[[], None] | None = None) -> RunRecord:
        """Start the job detached, in a folder of its own on the volume (so `force` has nothing to train over);
        `max_hours` bounds what it may spend. `confirm`, once Modal is known to be ready, may refuse the spend (a
        WacftError) before anything is uploaded."""
        if resume:
            raise WacftError(NO_RESUME)
        run_id = new_id(config.model)
        check(replace(config, out=self.jobs.run_path(run_id)))  # its folder is on the volume
        check_ready()
        if confirm:
            confirm()
        if config.push_to:
            from wacft.acft.publish import check_push_access

            check_push_access(config.push_to, config.private)
        config = replace(self.upload_dataset(config), out=self.jobs.run_path(run_id))
        timeout = self.jobs.TIMEOUT if self.max_hours is None else max(60, math.ceil(self.max_hours * 3600))
        function = self.jobs.train_on_gpu.with_options(gpu=self.gpu, timeout=timeout)
        files = self.jobs.shipped_files()
        raise_if_stopped()  # not a paid run for a Ctrl+C the upload swallowed
        say(f"uploading wacft's code: {len(files)} files, {sum(f.stat().st_size for f in files) / 1e3:.0f} kB")
        with self.jobs.app.run(detach=True):  # detached: closing this terminal never stops the run
            call = function.spawn(config.to_json(), run_id, self.convert_types)
        return RunRecord(run_id, self.name, asdict(config), status="running", call_id=call.object_id,
                         gpu=self.gpu).save()

    def watch(self, record: RunRecord, sink: EventSink, stop: threading.Event | None = None,
              poll: float = 1.0) -> RunRecord:
        """Every event of the run from its first, then follow it until it ends (or `stop` is set: between two
        calls to Modal, never inside one). A call that ended without a final event is reported failed within
        CALL_CHECK_SECONDS, with what Modal says happened."""
        import modal

        stop = stop or threading.Event()
        call = modal.FunctionCall.from_id(record.call_id)
        channel = self.jobs.EventChannel(self.jobs.events_dict(), record.id)
        seq, checked, seen = 0, time.monotonic(), []
        record.events = str(record.path.with_suffix(".events.jsonl"))
        while not stop.is_set():
            raise_if_stopped()
            batch = channel.read(seq)
            if batch is not None:
                seq += 1
                seen += batch
                for event in batch:
                    absorb(record, event)
                    sink.emit(event)
                    if event["type"] in FINAL:
                        return keep(record, seen)
                continue
            if time.monotonic() - checked >= CALL_CHECK_SECONDS:
                checked = time.monotonic()
                ended = call_outcome(call)
                if ended is not None and channel.read(seq) is None:  # nothing came in while we asked
                    record.status = "failed"
                    record.error = f"the job on Modal ended without finishing ({ended})"
                    return keep(record, seen)
                keep(record, seen)
            stop.wait(poll)
        return record  # unsaved: what this watch has replayed so far is not the run's state

    def resume(self, record: RunRecord) -> RunRecord:
        raise WacftError(NO_RESUME)

    def cancel(self, record: RunRecord) -> RunRecord:
        """Recorded first, so that a watcher in another process reports the end that follows as a cancel."""
        import modal

        with cancelling(record):
            modal.FunctionCall.from_id(record.call_id).cancel(terminate_containers=True)
        return record

    def fetch(self, record: RunRecord, dest: Path, only: str | None = None,
              progress: Progress | None = None) -> list[Path]:
        """Download the trained folder (or one converted .bin, e.g. only="q5_0") from the volume. An interrupted
        fetch resumes file by file: the files it finished are not fetched again (see `fetched_whole`), the one
        it was in is fetched again whole."""
        from modal.exception import NotFoundError
        from modal.volume import FileEntryType

        remote = record.config["out"].removeprefix(self.jobs.MOUNT).strip("/")
        try:
            entries = [e for e in self.jobs.volume.listdir(remote, recursive=True)
                       if e.type == FileEntryType.FILE and not Path(e.path).name.startswith(".")
                       and self.jobs.CHECKPOINT not in Path(e.path).parts]
        except (NotFoundError, FileNotFoundError):
            entries = []
        if only:
            entries = [e for e in entries if Path(e.path).name == f"model_{only}.bin"]
        finished = only or any(Path(e.path).name == "config.json" for e in entries)  # written at the end
        if not entries or not finished:
            what = f"no {only} file" if only else "no trained model"
            raise WacftError(f"Run {record.id} has {what} on the volume yet (it is {record.status});"
                             f" `wacft watch {record.id}` shows its progress.")
        progress = progress or (lambda done, total: None)
        total, done, written = sum(e.size for e in entries), 0, []
        for entry in entries:
            target = dest / os.path.relpath(entry.path, remote)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not fetched_whole(target, entry):
                self.download(entry, target, lambda n, before=done: progress(before + n, total))
            done += entry.size
            progress(done, total)
            written.append(target)
        return written

    def download(self, entry, target: Path, progress: Callable[[int], None]) -> None:
        """One file, whole or not at all: written under a temporary name, renamed into place once every byte
        the volume's listing promised has come, then given the listing's mtime (see `fetched_whole`).
        Not resumed inside the file: that needs a ranged read, which Modal's protocol has (VolumeGetFile2's
        `start` and `len`) but modal 1.6's `Volume.read_file` does not offer, and calling the private stub would
        break on an SDK upgrade; besides, the temporary file is reserved at its full size up front, so its size
        says nothing of how much arrived."""
        got = 0
        with atomic_writer(target, force=True, size=entry.size) as f:
            for chunk in self.jobs.volume.read_file(entry.path):
                raise_if_stopped()
                f.write(chunk)
                got += len(chunk)
                progress(got)
            if got != entry.size:  # the file changed on the volume since it was listed
                raise WacftError(f"{entry.path} changed on the volume while it was fetched ({got:,} bytes of"
                                 f" {entry.size:,}); run the fetch again.")
        os.utime(target, (entry.mtime, entry.mtime))

    def fetch_for_convert(self, record: RunRecord, dest: Path, types: list[str],
                          progress: Progress | None = None) -> dict[str, Path] | Path:
        """What the convert step needs after a Modal run: the .bin files the job made when it made every type
        asked for ({type: path}), else the trained weights (the local folder), to convert here."""
        made = set(record.artifacts) - {"model"}
        if types and set(types) <= made:
            return {t: self.fetch(record, dest, only=t, progress=progress)[0] for t in types}
        self.fetch(record, dest, progress=progress)
        return dest
