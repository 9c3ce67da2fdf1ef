"""Runs on Modal: launch detached, watch through the run's event Queue and the call's logs, cancel,
and fetch what the job left on the volume. modal is imported only here and in modal_jobs."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import asdict, replace
from pathlib import Path

from wacft.acft.backends import FINAL, absorb
from wacft.acft.config import TrainConfig
from wacft.acft.events import EventSink
from wacft.acft.lock import LOCK
from wacft.acft.runs import RunRecord, new_id
from wacft.atomic import atomic_writer
from wacft.checks import modal_token_configured
from wacft.errors import WacftError
from wacft.extras import needs_extra


def check_ready() -> None:
    """What a launch needs, each missing piece one sentence."""
    with needs_extra("modal"):
        import modal
        from modal.exception import NotFoundError

        from wacft import modal_jobs

    if not modal_token_configured():
        raise WacftError(
            "No Modal token is configured; run `modal token new` (or set MODAL_TOKEN_ID and"
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


class ModalBackend:
    name = "modal"

    def __init__(self, gpu: str | None = None):
        with needs_extra("modal"):
            from wacft import modal_jobs

        self.jobs = modal_jobs
        self.gpu = gpu or modal_jobs.DEFAULT_GPU
        if self.gpu not in modal_jobs.GPUS:
            gpus = ", ".join(modal_jobs.GPUS)
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
        return replace(config, dataset=f"{self.jobs.VOLUME_PATH}{remote}")

    def launch(self, config: TrainConfig, convert_types: list[str] = ()) -> RunRecord:
        check_ready()
        if config.push_to:
            from wacft.acft.publish import check_push_access

            check_push_access(config.push_to, config.private)
        run_id = new_id(config.model)
        config = replace(self.upload_dataset(config), out=self.jobs.run_path(run_id))
        function = self.jobs.train_on_gpu.with_options(gpu=self.gpu)
        with self.jobs.app.run(detach=True):  # detached: closing this terminal never stops the run
            call = function.spawn(config.to_json(), run_id, list(convert_types))
        return RunRecord(run_id, self.name, asdict(config), status="running", call_id=call.object_id,
                         gpu=self.gpu).save()

    def watch(self, record: RunRecord, sink: EventSink) -> RunRecord:
        """Events from the run's Queue partition, and the job's own log lines from the call's logs."""
        import modal

        call = modal.FunctionCall.from_id(record.call_id)
        stop = threading.Event()
        threading.Thread(target=self._follow_logs, args=(call, sink, stop), daemon=True).start()
        queue = modal.Queue.from_name(self.jobs.EVENTS_QUEUE, create_if_missing=True)
        try:
            while record.status in ("launching", "running"):
                for event in queue.get_many(100, partition=record.id, timeout=5):
                    absorb(record, event)
                    sink.emit(event)
                    if event["type"] in FINAL:
                        break
                record.save()
        finally:
            stop.set()
        return record.save()

    @staticmethod
    def _follow_logs(call, sink: EventSink, stop: threading.Event) -> None:
        for entry in call.logs.stream(timeout=60):
            if stop.is_set():
                return
            if not entry.message.startswith("{"):  # JSON lines are the events, already on the queue
                sink.emit({"type": "log", "message": entry.message.rstrip()})

    def cancel(self, record: RunRecord) -> RunRecord:
        import modal

        modal.FunctionCall.from_id(record.call_id).cancel()
        record.status = "cancelled"
        return record.save()

    def fetch(self, record: RunRecord, dest: Path, only: str | None = None) -> list[Path]:
        """Download the trained folder (or one converted .bin, e.g. only="q5_0") from the volume."""
        remote = record.config["out"].removeprefix(self.jobs.VOLUME_PATH)
        from modal.volume import FileEntryType

        entries = [
            e for e in self.jobs.volume.listdir(remote, recursive=True)
            if e.type == FileEntryType.FILE and "checkpoint" not in e.path and not e.path.endswith(LOCK)
        ]
        if only:
            entries = [e for e in entries if e.path.endswith((f"model_{only}.bin", "model.bin"))]
        if not entries:
            raise WacftError(
                f"Run {record.id} has nothing to fetch yet; `wacft watch {record.id}` shows its progress."
            )
        written = []
        for entry in entries:
            target = dest / os.path.relpath(entry.path, remote.strip("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_writer(target, force=True) as f:
                for chunk in self.jobs.volume.read_file(entry.path):
                    f.write(chunk)
            written.append(target)
        return written
