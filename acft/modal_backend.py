"""Runs on Modal: launch detached, watch through the run's events in a Dict, cancel, and fetch what the job
left on the volume. modal is imported only here and in modal_jobs; neither imports torch."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wacft.acft import other_voices
from wacft.acft.backends import FINAL, ConvertInput, Progress, absorb
from wacft.acft.config import TrainConfig
from wacft.acft.events import Event, EventSink
from wacft.acft.runs import RunRecord, cancelled_meanwhile, cancelling, new_id
from wacft.acft.validate import InvalidSetting, check, problem
from wacft.atomic import atomic_writer, write_bytes_atomic
from wacft.checks import modal_token_configured
from wacft.convert.ggml import CONVERSION_TYPES
from wacft.errors import WacftError
from wacft.extras import beside, needs_extra
from wacft.facts import DEFAULT_GPU, GPUS, MODAL_MAX_HOURS
from wacft.faults import raise_if_stopped
from wacft.run_folder import FINISHED

if TYPE_CHECKING:
    import modal
    from modal.types import FileEntry

CALL_CHECK_SECONDS = 10.0  # how often a watcher asks Modal whether the call is still running
UPLOAD_BATCH_BYTES = 64 * 1024 * 1024  # a dataset goes up in batches of this much, each kept once it is sent
UPLOADED = ".uploaded"  # written after a dataset's last file: the upload is whole
HELLO_SECONDS = 5.0  # Modal answers a hello in well under a second; its SDK's own calls retry for minutes


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
    say_hello()
    try:
        modal.Secret.from_name(modal_jobs.SECRET_NAME).hydrate()
    except NotFoundError as e:
        raise WacftError(
            f"Modal has no secret named {modal_jobs.SECRET_NAME}; create it with"
            f" `modal secret create {modal_jobs.SECRET_NAME} HF_TOKEN=<your token>`."
        ) from e


def say_hello() -> None:
    """One hello with a short deadline and no retries (as `modal token new` checks a token), so that a machine
    offline, or a server that never answers, is told in seconds."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from google.protobuf.empty_pb2 import Empty
    from modal.client import _Client
    from modal.config import config
    from modal.exception import AuthError
    from modal_proto import api_pb2

    async def hello() -> None:
        token = (config["token_id"], config["token_secret"])
        async with _Client(config["server_url"], api_pb2.CLIENT_TYPE_CLIENT, token) as client:
            await client._stub.ClientHello(Empty(), retry=None)

    try:  # in a thread of its own: the caller may be inside an event loop (`modal run`'s entrypoints)
        with ThreadPoolExecutor(1) as pool:  # the deadline covers connecting too, which the SDK retries for 63 s
            pool.submit(asyncio.run, asyncio.wait_for(hello(), HELLO_SECONDS)).result()
    except AuthError as e:
        raise WacftError(f"Modal refused the token ({e}); run `{beside('modal')} token new` to make a new one.") from e
    except Exception as e:  # an unknown host, a refused or silent connection: all the person can do is the same
        why = f"no answer in {HELLO_SECONDS:g} s" if isinstance(e, asyncio.TimeoutError) else str(e) or type(e).__name__
        raise WacftError(f"Modal does not answer at {config['server_url']} ({why}); check this machine is online"
                         " and run again.") from e


def folder_digest(folder: Path) -> str:
    """Names, sizes and contents: the same local dataset is uploaded once."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def batches(files: list[Path], size: int) -> list[list[Path]]:
    """The files in order, cut into runs of about `size` bytes (a larger file alone)."""
    runs: list[list[Path]] = []
    current: list[Path] = []
    held = 0
    for path in files:
        if current and held + path.stat().st_size > size:
            runs.append(current)
            current, held = [], 0
        current.append(path)
        held += path.stat().st_size
    return runs + ([current] if current else [])


def call_outcome(call: modal.FunctionCall[object]) -> str | None:
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


def keep(record: RunRecord, events: list[Event]) -> RunRecord:
    """The record, and the events seen so far as JSON lines beside it (timed: the estimate learns this GPU's
    speed from them, as from a local run's). Written whole and atomically: two watchers write the same."""
    assert record.events is not None  # a watch names its file first
    write_bytes_atomic(Path(record.events), "".join(json.dumps(e) + "\n" for e in events).encode())
    return cancelled_meanwhile(record).save()


def fetched_whole(target: Path, entry: FileEntry) -> bool:
    """Whether an earlier fetch left the volume's file `entry` here whole. A fetched file gets its name only
    once all of it has come, and then the volume's mtime: the same size and mtime mean this very file, while a
    file of the same size from another run or an earlier attempt (the volume lists no checksum) is fetched
    again."""
    try:
        here = target.stat()
    except FileNotFoundError:
        return False
    return here.st_size == entry.size and int(here.st_mtime) == entry.mtime


def known_types(types: tuple[str, ...] | list[str]) -> None:
    unknown = [t for t in types if t not in CONVERSION_TYPES]
    if unknown:
        raise WacftError(f"wacft converts to {', '.join(CONVERSION_TYPES[:-1])} or {CONVERSION_TYPES[-1]}, not"
                         f" {', '.join(unknown)}.")


class ModalBackend:
    """A run on a Modal GPU. What the job converts beside the weights (`convert_types`) and the GPU hours it may
    use across all its containers (`max_hours`, its budget) belong to where it runs, so they are given here, not
    to `launch`."""

    name = "modal"
    remote = True
    in_running_app = False  # set by `modal run`'s entrypoints: the app runs already, and running it again is refused

    def __init__(self, gpu: str | None = None, convert_types: tuple[str, ...] | list[str] = (),
                 max_hours: float | None = None):
        with needs_extra("modal"):
            from wacft import modal_jobs

        self.jobs = modal_jobs
        self.gpu = gpu or DEFAULT_GPU
        wrong = problem("max_hours", max_hours)  # the same rule as the wizard's field
        if wrong:
            raise InvalidSetting(wrong)
        known_types(convert_types)  # here, not after the paid training, where the job converts
        self.convert_types, self.max_hours = list(convert_types), max_hours
        if self.gpu not in GPUS:
            gpus = ", ".join(GPUS)
            raise WacftError(f"{self.gpu} is not a GPU wacft runs on; pick one of {gpus}.")

    def upload(self, given: str, kind: str, say: Callable[[str], None]) -> str:
        """A local folder (a dataset, a model) goes to the volume once, by content hash, and its path there is
        returned (a container has nothing of this machine's); anything else is a hub id, returned as it is. It goes
        in batches: one cut off keeps the batches sent before it, and the next launch sends only the files the
        volume does not have whole."""
        folder = Path(given).expanduser()
        if not folder.is_dir():
            return given
        root = f"{kind}s/{folder_digest(folder)}"
        remote = f"{root}/{folder.name}"  # its name kept: a run is named for its model
        there = {e.path: e.size for e in self.listed(root, recursive=True)}
        if f"{root}/{UPLOADED}" not in there:
            files = sorted(p for p in folder.rglob("*") if p.is_file())
            todo = [p for p in files if there.get(f"{remote}/{p.relative_to(folder).as_posix()}") != p.stat().st_size]
            total = sum(p.stat().st_size for p in files)
            sent = total - sum(p.stat().st_size for p in todo)
            if sent:
                say(f"uploading the {kind}: {sent / 1e6:.0f} of {total / 1e6:.0f} MB already on the volume")
            for batch in batches(todo, UPLOAD_BATCH_BYTES):
                raise_if_stopped()
                with self.jobs.volume.batch_upload(force=True) as upload:
                    for path in batch:
                        upload.put_file(path, f"/{remote}/{path.relative_to(folder).as_posix()}")
                sent += sum(p.stat().st_size for p in batch)
                say(f"uploading the {kind}: {100 * sent / total:.0f}% ({sent / 1e6:.0f} of {total / 1e6:.0f} MB)")
            with self.jobs.volume.batch_upload(force=True) as upload:
                upload.put_file(io.BytesIO(b""), f"/{root}/{UPLOADED}")
        return f"{self.jobs.MOUNT}/{remote}"

    def launch(self, config: TrainConfig, *, resume: bool = False, force: bool = False,
               say: Callable[[str], None] = print, confirm: Callable[[], None] | None = None) -> RunRecord:
        """Start the job detached, in a folder of its own on the volume (so `force` has nothing to train over).
        `confirm`, once Modal is known to be ready, may refuse the spend (a WacftError) before anything is
        uploaded."""
        if resume:
            raise WacftError("A Modal run is resumed by its id: `wacft resume RUN`, or r in the wizard's monitor.")
        run_id = new_id(config.model)
        check(replace(config, out=self.jobs.run_path(run_id)))  # its folder is on the volume
        check_ready()
        if confirm:
            confirm()
        if config.push_to:
            from wacft.acft.publish import check_push_access

            check_push_access(config.push_to, config.private)
        # decided here, where the dataset is the person's: the job sees only the volume's copy
        config = replace(config, other_voices=other_voices.wanted(config), out=self.jobs.run_path(run_id))
        config = replace(config, dataset=self.upload(config.dataset, "dataset", say),
                         model=self.upload(config.model, "model", say))
        return self.spawn(config, run_id, self.convert_types, self.max_hours or MODAL_MAX_HOURS, say)

    def spawn(self, config: TrainConfig, run_id: str, convert_types: list[str], hours: float,
              say: Callable[[str], None]) -> RunRecord:
        """The job, detached, under a budget of `hours` of GPU time across its containers; each container may
        run that long too (Modal's timeout), which the job never reaches: it stops itself within the budget."""
        timeout = max(60, math.ceil(hours * 3600))
        function = self.jobs.train_on_gpu.with_options(gpu=self.gpu, timeout=timeout)
        files = self.jobs.shipped_files()
        raise_if_stopped()  # not a paid run for a Ctrl+C the upload swallowed
        say(f"uploading wacft's code: {len(files)} files, {sum(f.stat().st_size for f in files) / 1e3:.0f} kB")
        # detached: closing this terminal never stops the run
        with contextlib.nullcontext() if self.in_running_app else self.jobs.app.run(detach=True):
            call = function.spawn(config.to_json(), run_id, convert_types, hours, self.gpu)
        return RunRecord(run_id, self.name, asdict(config), status="running", call_id=call.object_id,
                         gpu=self.gpu, budget_hours=hours, convert=list(convert_types)).save()

    def watch(self, record: RunRecord, sink: EventSink, stop: threading.Event | None = None,
              poll: float = 1.0) -> RunRecord:
        """Every event of the run from its first, then follow it until it ends (or `stop` is set: between two
        calls to Modal, never inside one). A call that ended without a final event is reported failed within
        CALL_CHECK_SECONDS, with what Modal says happened."""
        import modal

        stop = stop or threading.Event()
        assert record.call_id is not None  # a Modal run's record is made with it
        call = modal.FunctionCall.from_id(record.call_id)
        channel = self.jobs.EventChannel(self.jobs.events_dict(), record.id)
        seq, checked = 0, time.monotonic()
        seen: list[Event] = []
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

    def resume(self, record: RunRecord, say: Callable[[str], None] = print) -> RunRecord:
        """The stopped run again from its checkpoint on the volume (or its saved model, to convert), in the same
        folder, as a new record with a budget of its own: this backend's `max_hours`, else the run's."""
        names = {Path(e.path).name for e in self.listing(record)}
        if not names & {self.jobs.CHECKPOINT, FINISHED}:
            raise WacftError(f"Run {record.id} stopped before its first checkpoint, so there is nothing to resume;"
                             " launch it again from the start.")
        check_ready()
        config = TrainConfig.from_json(json.dumps(record.config), saved=True)
        hours = self.max_hours or record.budget_hours or MODAL_MAX_HOURS
        return self.spawn(config, new_id(config.model), record.convert, hours, say)

    def kept_checkpoint(self, record: RunRecord) -> bool:
        return True  # on its volume, out of sight from here: `resume` says so when there is none

    def resume_cost(self, record: RunRecord, max_hours: float | None) -> str | None:
        from wacft.acft.estimate import worst_case

        return worst_case(record.gpu or self.gpu, max_hours or record.budget_hours)

    def last_step(self, record: RunRecord) -> dict[str, Any]:
        return record.last

    def settle(self, record: RunRecord) -> RunRecord:
        return record  # a watch asks Modal; listing runs does not

    def listing(self, record: RunRecord, recursive: bool = False) -> list[FileEntry]:
        """The run's folder on the volume; empty where there is none yet."""
        return self.listed(self.folder(record), recursive)

    def listed(self, path: str, recursive: bool = False) -> list[FileEntry]:
        """A folder on the volume; empty where there is none."""
        from modal.exception import NotFoundError

        try:
            return self.jobs.volume.listdir(path, recursive=recursive)
        except (NotFoundError, FileNotFoundError):
            return []

    def folder(self, record: RunRecord) -> str:
        out: str = record.config["out"]
        return out.removeprefix(self.jobs.MOUNT).strip("/")

    def cancel(self, record: RunRecord) -> RunRecord:
        """Recorded first, so that a watcher in another process reports the end that follows as a cancel."""
        import modal

        assert record.call_id is not None  # a Modal run's record is made with it
        with cancelling(record):
            modal.FunctionCall.from_id(record.call_id).cancel(terminate_containers=True)
        return record

    def fetch(self, record: RunRecord, dest: Path, only: str | None = None,
              progress: Progress | None = None) -> list[Path]:
        """Download the trained folder (or one converted .bin, e.g. only="q5_0") from the volume. An interrupted
        fetch resumes file by file: the files it finished are not fetched again (see `fetched_whole`), the one
        it was in is fetched again whole."""
        from modal.volume import FileEntryType  # type: ignore[attr-defined]  # modal's stub leaves out its re-export

        known_types([only] if only else [])
        remote = self.folder(record)
        complete = self.completed(record)
        entries = [e for e in self.listing(record, recursive=True)
                   if e.type == FileEntryType.FILE and complete.get(os.path.relpath(e.path, remote)) == e.size]
        if only:
            entries = [e for e in entries if Path(e.path).name == f"model_{only}.bin"]
        if not entries:
            what = f"no {only} file" if only and complete else "no finished model"
            raise WacftError(f"Run {record.id} has {what} on the volume yet (it is {record.status});"
                             f" `wacft watch {record.id}` shows its progress.")
        progress = progress or (lambda done, total: None)
        total, done = sum(e.size for e in entries), 0
        written: list[Path] = []
        for entry in entries:
            target = dest / os.path.relpath(entry.path, remote)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not fetched_whole(target, entry):

                def fetching(n: int, before: int = done) -> None:  # `before`: bound now, as the file starts
                    progress(before + n, total)

                self.download(entry, target, fetching)
            done += entry.size
            progress(done, total)
            written.append(target)
        return written

    def completed(self, record: RunRecord) -> dict[str, int]:
        """The files the job listed once the model and its conversions were whole (name: size); empty before."""
        from modal.exception import NotFoundError

        try:
            complete: dict[str, int] = json.loads(
                b"".join(self.jobs.volume.read_file(f"{self.folder(record)}/{self.jobs.COMPLETE}")))
            return complete
        except (NotFoundError, FileNotFoundError):
            return {}

    def download(self, entry: FileEntry, target: Path, progress: Callable[[int], None]) -> None:
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
                          progress: Progress | None = None) -> ConvertInput:
        """The .bin files the job made, when it made every type asked for; else the trained weights, fetched into
        `dest` to convert here."""
        made = set(record.artifacts) - {"model"}
        if types and set(types) <= made:
            return ConvertInput(made={t: self.fetch(record, dest, only=t, progress=progress)[0] for t in types})
        self.fetch(record, dest, progress=progress)
        return ConvertInput(str(dest))
