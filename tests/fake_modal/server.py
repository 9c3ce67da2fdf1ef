"""A fake Modal control plane: the real `modal` client talks to it over gRPC as to Modal's servers.

Written on the service base the modal wheel ships (`modal_proto.api_grpc.ModalClientBase`), implementing
only the calls wacft's launch, watch, cancel and fetch (and `modal run`) make; any other call fails
UNIMPLEMENTED (and is recorded, so a test sees it). Every call is recorded with its request. What it models,
as Modal's service behaves:
- apps, images, secrets, functions: accepted and remembered (the image is never built: this venv stands in);
- mounts: the files the client uploaded, by content; a container has those of its function's mounts and
  nothing else of wacft (tests/fake_modal/container.py imports it from there, never from the checkout);
- a spawned call runs the function's body in a local subprocess per container. A container that dies without
  a result (killed: a preemption, a lost worker) is started again without counting against the retry policy;
  the function's own exceptions and its timeouts count, and are retried up to the policy's retries (without
  its delays). `kill_after_commit` kills a container right after its Nth commit, `kills` times in all;
  `kill_on` kills it when a file matching a pattern (PurePath.match) appears in its working copy; `pause_on`
  commits and stops (SIGSTOP) it there until `resume_paused`;
- a volume: a committed folder that clients list and read, and per container a working copy made from it at
  start, committed back when the job commits, every AUTOCOMMIT_SECONDS on its own (a consistent snapshot: the
  container is stopped meanwhile) and when it exits; what a killed container wrote since is lost;
- uploads of LARGE_FILE_LIMIT and more go through blob storage: BlobCreate, then a PUT to the blob URL;
- a Dict: bytes by key, as the client serialises them;
- `hold_reads` holds back the blocks of one volume file after its first, so a test can stop a fetch mid-file.
Blocks of volume files and blobs are served over HTTP on a second port, as Modal serves them from blob storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import pickle
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpclib.server
from aiohttp import web
from google.protobuf.empty_pb2 import Empty
from grpclib import GRPCError, Status
from modal_proto import api_pb2
from modal_proto.api_grpc import ModalClientBase

BLOCK = 8 * 1024 * 1024  # Modal's volume block size: one URL per block
CONTAINER = Path(__file__).with_name("container.py")
AUTOCOMMIT_SECONDS = 1.0  # Modal commits a container's volumes every few seconds on its own
RESTART_GUARD = 50  # Modal restarts a lost container without limit; a test that kills more is broken


@dataclass
class Call:
    id: str
    function: api_pb2.Function
    args: bytes
    attempts: int = 0  # containers started
    failures: int = 0  # attempts that count against the retry policy: the function's exceptions, timeouts
    process: asyncio.subprocess.Process | None = None
    result: api_pb2.GenericResult | None = None
    commits: int = 0
    synced: set = field(default_factory=set)  # the container's files at its last sync with the volume
    committed: float = 0.0  # when it last was (time.monotonic())
    lost: bool = False  # its container was killed: nothing it wrote since its last commit is kept
    cancelled: bool = False
    work: Path | None = None


@dataclass
class Recorded:
    method: str
    request: object
    time: float = field(default_factory=time.time)


class FakeModal(ModalClientBase):
    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env
        self.volume = root / "volume"  # the committed state of the one volume wacft uses
        self.volume.mkdir(parents=True, exist_ok=True)
        self.calls: list[Recorded] = []
        self.ids = itertools.count(1)
        self.functions: dict[str, api_pb2.Function] = {}
        self.function_calls: dict[str, Call] = {}
        self.dicts: dict[str, dict[bytes, bytes]] = {}
        self.named: dict[tuple[str, str], str] = {}  # (kind, name) -> id
        self.stopped_apps: set[str] = set()
        self.mounted: set[int] = set()  # the volume's mount points in use by running containers
        self.store = root / "files"  # uploaded content, one file per sha256, as Modal's storage keeps it
        self.store.mkdir(exist_ok=True)
        self.blobs: dict[str, Path] = {}  # blob id -> what its PUT brought
        self.mounts: dict[str, list] = {}  # mount id -> its MountFiles
        self.kill_after_commit: int | None = None  # kill a call's container right after its Nth commit
        self.kills = 1  # ... so many times in all
        self.kill_on: str | None = None  # kill a container once a file matching this appears in its volume
        self.pause_on: str | None = None  # commit and stop a container once a file matching this appears
        self.paused = threading.Event()
        self.retries: int | None = None  # overrides the function's retry policy
        self.timeout: int | None = None  # overrides the function's timeout (seconds)
        self.gpu_device: str | None = "cpu"  # what the job trains on here; None: CUDA, which this machine lacks
        # a volume file whose blocks after its first are held back while this names it: a fetch caught mid-file
        self.hold_reads: str | None = None
        self.holding = threading.Event()  # set once a block is held back
        self.blob_url = ""

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self.ids)}"

    async def _take(self, stream, method: str):
        request = await stream.recv_message()
        self.calls.append(Recorded(method, request))
        return request

    def named_id(self, kind: str, prefix: str, name: str) -> str:
        if (kind, name) not in self.named:
            self.named[kind, name] = self.new_id(prefix)
        return self.named[kind, name]

    # connection, apps, images, mounts, secrets

    async def ClientHello(self, stream):
        await self._take(stream, "ClientHello")
        await stream.send_message(api_pb2.ClientHelloResponse())

    async def EnvironmentGetOrCreate(self, stream):
        await self._take(stream, "EnvironmentGetOrCreate")
        settings = api_pb2.EnvironmentSettings(image_builder_version="2025.06")
        await stream.send_message(api_pb2.EnvironmentGetOrCreateResponse(
            environment_id=self.new_id("en"), metadata=api_pb2.EnvironmentMetadata(name="main", settings=settings)))

    async def AppCreate(self, stream):
        await self._take(stream, "AppCreate")
        await stream.send_message(api_pb2.AppCreateResponse(app_id=self.new_id("ap")))

    async def AppHeartbeat(self, stream):
        await self._take(stream, "AppHeartbeat")
        await stream.send_message(Empty())

    async def AppPublish(self, stream):
        await self._take(stream, "AppPublish")
        await stream.send_message(api_pb2.AppPublishResponse())

    async def AppClientDisconnect(self, stream):
        request = await self._take(stream, "AppClientDisconnect")
        self.stopped_apps.add(request.app_id)
        await stream.send_message(Empty())

    async def AppGetLogs(self, stream):
        """`modal run` follows the app's logs until the app is done; the fake has none to show (the job's events
        reach the watcher through the Dict), so each call waits a little and says whether the app has stopped."""
        request = await self._take(stream, "AppGetLogs")
        deadline = time.monotonic() + min(request.timeout, 1.0)
        while request.app_id not in self.stopped_apps and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await stream.send_message(api_pb2.TaskLogsBatch(app_done=request.app_id in self.stopped_apps))

    async def SecretGetOrCreate(self, stream):
        request = await self._take(stream, "SecretGetOrCreate")
        if (("secret", request.deployment_name) not in self.named
                and request.object_creation_type != api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING):
            raise GRPCError(Status.NOT_FOUND, f"Secret '{request.deployment_name}' not found")
        secret_id = self.named_id("secret", "st", request.deployment_name)
        await stream.send_message(api_pb2.SecretGetOrCreateResponse(secret_id=secret_id))

    async def ImageGetOrCreate(self, stream):
        await self._take(stream, "ImageGetOrCreate")
        done = api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_SUCCESS)
        await stream.send_message(api_pb2.ImageGetOrCreateResponse(image_id=self.new_id("im"), result=done))

    def content(self, sha256: str) -> Path:
        return self.store / sha256

    async def MountPutFile(self, stream):
        request = await self._take(stream, "MountPutFile")
        kind = request.WhichOneof("data_oneof")
        if kind == "data":
            self.content(request.sha256_hex).write_bytes(request.data)
        elif kind == "data_blob_id":  # a large file, already in blob storage: checked, then kept by content
            blob = self.blobs.pop(request.data_blob_id)
            if sha256_of(blob) != request.sha256_hex:
                raise GRPCError(Status.INVALID_ARGUMENT, "the blob's content does not match its sha256")
            os.replace(blob, self.content(request.sha256_hex))
        exists = self.content(request.sha256_hex).is_file()
        await stream.send_message(api_pb2.MountPutFileResponse(exists=exists))

    async def MountBatchedCheckExistence(self, stream):
        request = await self._take(stream, "MountBatchedCheckExistence")
        missing = [h for h in request.sha256_hex_hashes if not self.content(h).is_file()]
        await stream.send_message(api_pb2.MountBatchedCheckExistenceResponse(missing_sha256_hex_hashes=missing))

    async def MountGetOrCreate(self, stream):
        request = await self._take(stream, "MountGetOrCreate")
        mount_id = self.new_id("mo")
        self.mounts[mount_id] = list(request.files)
        await stream.send_message(api_pb2.MountGetOrCreateResponse(mount_id=mount_id))

    async def BlobCreate(self, stream):
        """One upload URL (Modal gives several parts only past 1 GiB); the PUT there brings the content."""
        await self._take(stream, "BlobCreate")
        blob_id = self.new_id("bl")
        self.blobs[blob_id] = self.root / "blobs" / blob_id
        self.blobs[blob_id].parent.mkdir(exist_ok=True)
        await stream.send_message(api_pb2.BlobCreateResponse(
            blob_ids=[blob_id], upload_urls=api_pb2.UploadUrlList(items=[f"{self.blob_url}/blob/{blob_id}"])))

    async def receive_blob(self, request: web.Request) -> web.Response:
        """A blob's PUT, streamed to disk; one cut off leaves nothing (a retry or a later upload sends it again)."""
        target = self.blobs.get(request.match_info["blob"])
        if target is None:
            return web.Response(status=404)
        md5, partial = hashlib.md5(), target.with_suffix(".part")
        try:
            with open(partial, "wb") as f:
                async for chunk in request.content.iter_chunked(1 << 20):
                    f.write(chunk)
                    md5.update(chunk)
        except (ConnectionError, asyncio.CancelledError):
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)
        return web.Response(headers={"ETag": f'"{md5.hexdigest()}"'})

    # functions and their calls

    async def FunctionPrecreate(self, stream):
        request = await self._take(stream, "FunctionPrecreate")
        await stream.send_message(api_pb2.FunctionPrecreateResponse(
            function_id=self.new_id("fu"), handle_metadata=handle(request.function_name)))

    async def FunctionCreate(self, stream):
        request = await self._take(stream, "FunctionCreate")
        function_id = request.existing_function_id or self.new_id("fu")
        data = request.function_data
        if not data.ranked_functions:  # the client sent one definition rather than ranked variants
            f = request.function
            data = api_pb2.FunctionData(module_name=f.module_name, function_name=f.function_name,
                                        ranked_functions=[api_pb2.FunctionData.RankedFunction(function=f)])
        self.functions[function_id] = data.ranked_functions[0].function
        await stream.send_message(api_pb2.FunctionCreateResponse(
            function_id=function_id, function_data=data, handle_metadata=handle(data.function_name)))

    async def FunctionBindParams(self, stream):  # with_options(...) binds the options to a new function id
        request = await self._take(stream, "FunctionBindParams")
        bound = self.new_id("fu")
        function = api_pb2.Function()
        function.CopyFrom(self.functions[request.function_id])
        if request.function_options.HasField("timeout_secs"):
            function.timeout_secs = request.function_options.timeout_secs
        if request.function_options.HasField("retry_policy"):
            function.retry_policy.CopyFrom(request.function_options.retry_policy)
        self.functions[bound] = function
        await stream.send_message(api_pb2.FunctionBindParamsResponse(
            bound_function_id=bound, handle_metadata=handle(function.function_name)))

    async def FunctionMap(self, stream):
        request = await self._take(stream, "FunctionMap")
        call = Call(self.new_id("fc"), self.functions[request.function_id], request.pipelined_inputs[0].input.args)
        self.function_calls[call.id] = call
        asyncio.get_running_loop().create_task(self.run(call))
        item = api_pb2.FunctionPutInputsResponseItem(idx=0, input_id=self.new_id("in"))
        await stream.send_message(api_pb2.FunctionMapResponse(function_call_id=call.id, pipelined_inputs=[item],
                                                              retry_policy=call.function.retry_policy))

    async def FunctionGetOutputs(self, stream):
        request = await self._take(stream, "FunctionGetOutputs")
        call = self.function_calls[request.function_call_id]
        deadline = time.monotonic() + min(request.timeout, 5.0)
        while call.result is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        outputs = [] if call.result is None else [api_pb2.FunctionGetOutputsItem(
            result=call.result, idx=0, data_format=api_pb2.DATA_FORMAT_PICKLE, retry_count=call.attempts - 1)]
        await stream.send_message(api_pb2.FunctionGetOutputsResponse(
            outputs=outputs, num_unfinished_inputs=0 if call.result else 1, last_entry_id="0-0"))

    async def FunctionCallCancel(self, stream):
        request = await self._take(stream, "FunctionCallCancel")
        call = self.function_calls[request.function_call_id]
        call.cancelled = True
        if call.process and call.process.returncode is None:
            call.process.send_signal(signal.SIGKILL)
        await stream.send_message(Empty())

    async def run(self, call: Call) -> None:
        """The call's containers, each a subprocess with its own working copy of the volume and the uploaded code,
        started again after a kill (free, as on Modal) and after a failure or a timeout while retries are left."""
        function = call.function
        retries = self.retries if self.retries is not None else function.retry_policy.retries
        timeout = self.timeout or function.timeout_secs or None
        outcome = None
        while not call.cancelled and call.attempts < RESTART_GUARD:
            call.attempts += 1
            call.lost = False
            # where the volume is mounted: the same folder for every container that is not running beside another
            # (on Modal it is /vol for all: a checkpoint's paths hold across containers and calls)
            slot = min(set(range(len(self.mounted) + 1)) - self.mounted)
            self.mounted.add(slot)
            call.work = self.root / "containers" / f"vol{slot}"
            shutil.rmtree(call.work, ignore_errors=True)  # a new container: only what was committed
            shutil.copytree(self.volume, call.work)
            call.synced = files_in(call.work)
            result_path = call.work.with_suffix(".result")
            result_path.unlink(missing_ok=True)
            call.process = await asyncio.create_subprocess_exec(
                sys.executable, str(CONTAINER), function.module_name, function.function_name, str(call.work),
                str(result_path), str(self.code(call)), self.gpu_device or "", stdin=asyncio.subprocess.PIPE,
                env={**os.environ, **self.env, "MODAL_TOKEN_ID": f"ak-{call.id}"},  # its token names its call
                start_new_session=True)
            call.process.stdin.write(call.args)
            call.process.stdin.close()
            watcher = asyncio.get_running_loop().create_task(self.autocommit(call))
            try:
                code = await asyncio.wait_for(call.process.wait(), timeout)
            except asyncio.TimeoutError:
                code = None
                call.process.send_signal(signal.SIGKILL)
                await call.process.wait()
            finally:
                watcher.cancel()
                self.mounted.discard(slot)
            if call.cancelled:
                outcome = failure("Function call was cancelled", api_pb2.GenericResult.GENERIC_STATUS_TERMINATED)
                break
            if code is None:  # timed out: counts, and is retried
                outcome = failure("Function timed out", api_pb2.GenericResult.GENERIC_STATUS_TIMEOUT)
            elif code == 0 and result_path.is_file():
                self.sync(call)  # Modal commits a container's volumes as it shuts down
                outcome = pickle.loads(result_path.read_bytes())
                if outcome.status == api_pb2.GenericResult.GENERIC_STATUS_SUCCESS:
                    break
            else:  # lost: started again, whatever the retry policy says
                outcome = failure(f"Container exited with code {code}",
                                  api_pb2.GenericResult.GENERIC_STATUS_INTERNAL_FAILURE)
                continue
            call.failures += 1
            if call.failures > retries:
                break
        call.result = outcome  # only now: while a retry is pending, the call has no output

    def code(self, call: Call) -> Path:
        """The container's Python files: those the client uploaded in its function's mounts, by content."""
        folder = self.root / "code" / call.id
        if not folder.is_dir():
            for mount_id in call.function.mount_ids:
                for file in self.mounts.get(mount_id, []):
                    target = folder / file.filename.lstrip("/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(self.content(file.sha256_hex), target)
        return folder / "root"  # Modal puts /root on the container's Python path

    async def autocommit(self, call: Call) -> None:
        """Modal's own commits while the container runs, and the kills and pauses a test asked for."""
        while True:
            await asyncio.sleep(AUTOCOMMIT_SECONDS / 10)
            if self.paused.is_set():
                continue
            for pattern, act in ((self.kill_on, self.kill), (self.pause_on, self.pause)):
                if pattern and any(f.match(pattern) for f in files_in(call.work)):
                    if act == self.kill:
                        self.kill_on = None
                    act(call)
            if time.monotonic() - call.committed >= AUTOCOMMIT_SECONDS and not self.paused.is_set():
                self.snapshot(call)

    def snapshot(self, call: Call, stay_stopped: bool = False) -> None:
        """A commit of the container's files as they are at one instant: it is stopped while they are copied."""
        if call.lost:
            return
        try:
            os.killpg(call.process.pid, signal.SIGSTOP)
        except ProcessLookupError:
            return
        try:
            self.sync(call)
        finally:
            if not stay_stopped:
                os.killpg(call.process.pid, signal.SIGCONT)

    def kill(self, call: Call) -> None:
        call.lost = True
        call.process.send_signal(signal.SIGKILL)

    def pause(self, call: Call) -> None:
        self.pause_on, self.paused_call = None, call
        self.snapshot(call, stay_stopped=True)
        self.paused.set()

    def resume_paused(self) -> None:
        self.paused.clear()
        os.killpg(self.paused_call.process.pid, signal.SIGCONT)

    def sync(self, call: Call) -> None:
        """The container's working copy becomes the committed state."""
        now = files_in(call.work)
        for gone in call.synced - now:  # what the container deleted goes from the volume too, folders and all
            (self.volume / gone).unlink(missing_ok=True)
            for folder in (self.volume / gone).parents:
                if folder == self.volume or (call.work / folder.relative_to(self.volume)).is_dir():
                    break
                with contextlib.suppress(OSError):  # not empty: someone else's files are in it
                    folder.rmdir()
        for name in now:
            with contextlib.suppress(FileNotFoundError):  # gone since it was listed: the next commit says so
                copy_if_changed(call.work / name, self.volume / name)
        call.synced, call.committed = now, time.monotonic()

    # volumes

    async def VolumeGetOrCreate(self, stream):
        request = await self._take(stream, "VolumeGetOrCreate")
        volume_id = self.named_id("volume", "vo", request.deployment_name)
        metadata = api_pb2.VolumeMetadata(version=api_pb2.VOLUME_FS_VERSION_V1, name=request.deployment_name)
        await stream.send_message(api_pb2.VolumeGetOrCreateResponse(
            volume_id=volume_id, version=api_pb2.VOLUME_FS_VERSION_V1, metadata=metadata))

    async def VolumeHeartbeat(self, stream):
        await self._take(stream, "VolumeHeartbeat")
        await stream.send_message(Empty())

    async def VolumeCommit(self, stream):
        """From a container (its token id names its call): its working copy becomes the committed state."""
        await self._take(stream, "VolumeCommit")
        call = self.function_calls.get(stream.metadata.get("x-modal-token-id", "").removeprefix("ak-"))
        if call is not None:
            self.snapshot(call)
            call.commits += 1
            if self.kills and self.kill_after_commit is not None and call.commits == self.kill_after_commit:
                self.kills -= 1
                call.commits = 0  # the next container is killed after as many of its own
                self.kill(call)
        await stream.send_message(api_pb2.VolumeCommitResponse(skip_reload=False))

    async def VolumeReload(self, stream):
        """Nothing to do: a container's working copy holds what it committed, and only it writes the run."""
        await self._take(stream, "VolumeReload")
        await stream.send_message(Empty())

    def resolve(self, path: str) -> Path:
        target = (self.volume / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.volume.resolve()):
            raise GRPCError(Status.INVALID_ARGUMENT, f"{path} is outside the volume")
        return target

    async def VolumeListFiles(self, stream):
        request = await self._take(stream, "VolumeListFiles")
        top = self.resolve(request.path)
        if not top.exists():
            raise GRPCError(Status.NOT_FOUND, f"No such file or directory: {request.path}")
        paths = [top] if top.is_file() else sorted(top.rglob("*") if request.recursive else top.iterdir())
        entries = [api_pb2.FileEntry(
            path=str(p.relative_to(self.volume)), size=p.stat().st_size, mtime=int(p.stat().st_mtime),
            type=api_pb2.FileEntry.FileType.FILE if p.is_file() else api_pb2.FileEntry.FileType.DIRECTORY)
            for p in paths]
        await stream.send_message(api_pb2.VolumeListFilesResponse(entries=entries))

    async def VolumeGetFile2(self, stream):
        request = await self._take(stream, "VolumeGetFile2")
        target = self.resolve(request.path)
        if not target.is_file():
            raise GRPCError(Status.NOT_FOUND, f"No such file: {request.path}")
        size = target.stat().st_size
        rel = target.relative_to(self.volume)
        urls = [f"{self.blob_url}/{rel}?offset={o}&length={min(BLOCK, size - o)}" for o in range(0, size, BLOCK)]
        await stream.send_message(api_pb2.VolumeGetFile2Response(get_urls=urls, size=size, start=0, len=size))

    async def VolumePutFiles(self, stream):
        request = await self._take(stream, "VolumePutFiles")
        for file in request.files:
            target = self.resolve(file.filename)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.content(file.sha256_hex), target)
        await stream.send_message(Empty())

    async def serve_block(self, request: web.Request) -> web.Response:
        target = self.resolve(request.match_info["path"])
        offset, length = int(request.query["offset"]), int(request.query["length"])
        while offset and self.hold_reads == request.match_info["path"]:
            if request.transport is None or request.transport.is_closing():  # the client has gone
                return web.Response(status=499)
            self.holding.set()
            await asyncio.sleep(0.05)
        with open(target, "rb") as f:
            f.seek(offset)
            return web.Response(body=f.read(length))

    # dicts

    async def DictGetOrCreate(self, stream):
        request = await self._take(stream, "DictGetOrCreate")
        dict_id = self.named_id("dict", "di", request.deployment_name)
        self.dicts.setdefault(dict_id, {})
        await stream.send_message(api_pb2.DictGetOrCreateResponse(dict_id=dict_id))

    async def DictHeartbeat(self, stream):
        await self._take(stream, "DictHeartbeat")
        await stream.send_message(Empty())

    async def DictGet(self, stream):
        request = await self._take(stream, "DictGet")
        value = self.dicts[request.dict_id].get(request.key)
        await stream.send_message(api_pb2.DictGetResponse(found=value is not None, value=value or b""))

    async def DictUpdate(self, stream):
        request = await self._take(stream, "DictUpdate")
        store = self.dicts[request.dict_id]
        for entry in request.updates:
            if not (request.if_not_exists and entry.key in store):
                store[entry.key] = entry.value
        await stream.send_message(api_pb2.DictUpdateResponse(created=True))

    # for the tests

    def called(self, method: str) -> list:
        return [c.request for c in self.calls if c.method == method]

    def unimplemented(self, method: str) -> bool:
        return method not in FakeModal.implemented

    def add_secret(self, name: str) -> None:
        self.named_id("secret", "st", name)


def copy_if_changed(source: Path, target: Path) -> None:
    """`source` over `target` unless they are the same size and age already; replaced whole, as a reader of the
    committed volume never sees a file half-written."""
    here = source.stat()
    with contextlib.suppress(FileNotFoundError):
        there = target.stat()
        if (there.st_size, there.st_mtime_ns) == (here.st_size, here.st_mtime_ns):
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.commit")
    shutil.copy2(source, partial)
    os.replace(partial, target)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def files_in(folder: Path) -> set[Path]:
    """Its files now; os.walk passes over a folder that goes while it looks (the container is writing)."""
    return {Path(top, name).relative_to(folder) for top, _, names in os.walk(folder) for name in names}


def handle(function_name: str) -> api_pb2.FunctionHandleMetadata:
    pickle_only = [api_pb2.DATA_FORMAT_PICKLE]
    return api_pb2.FunctionHandleMetadata(
        function_name=function_name, function_type=api_pb2.Function.FUNCTION_TYPE_FUNCTION,
        supported_input_formats=pickle_only, supported_output_formats=pickle_only,
        max_object_size_bytes=2 * 1024 * 1024)


def failure(message: str, status) -> api_pb2.GenericResult:
    return api_pb2.GenericResult(status=status, exception=message)


def _unimplemented(name: str):
    async def handler(self, stream):
        await self._take(stream, name)
        raise GRPCError(Status.UNIMPLEMENTED, f"the fake Modal server does not implement {name}")

    return handler


FakeModal.implemented = frozenset(ModalClientBase.__abstractmethods__ & set(FakeModal.__dict__))
for _name in ModalClientBase.__abstractmethods__:
    if _name not in FakeModal.__dict__:
        setattr(FakeModal, _name, _unimplemented(_name))
FakeModal.__abstractmethods__ = frozenset()


class FakeModalServer:
    """Runs FakeModal on loopback in a thread of its own; `env` points a modal client at it."""

    def __init__(self, root: Path):
        self.env = {"MODAL_TOKEN_ID": "ak-fake", "MODAL_TOKEN_SECRET": "as-fake"}
        self.modal = FakeModal(root, self.env)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeModalServer:
        self.thread.start()
        self.ready.wait(10)
        return self

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.grpc = grpclib.server.Server([self.modal])
        await self.grpc.start("127.0.0.1", 0)
        port = self.grpc._server.sockets[0].getsockname()[1]
        blobs = web.Application()
        blobs.router.add_put("/blob/{blob}", self.modal.receive_blob)
        blobs.router.add_get("/{path:.*}", self.modal.serve_block)
        self.runner = web.AppRunner(blobs)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.modal.blob_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        self.env["MODAL_SERVER_URL"] = f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        async def kill_containers():
            for call in self.modal.function_calls.values():
                call.cancelled = True  # no retry starts another container
                if call.process and call.process.returncode is None:
                    call.process.send_signal(signal.SIGKILL)
                    await call.process.wait()

        async def stop():
            self.modal.hold_reads = None  # a held block's handler would keep the HTTP server from closing
            await kill_containers()
            self.grpc.close()
            await self.grpc.wait_closed()
            await self.runner.cleanup()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:  # calls still between attempts: nothing runs them any more
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await kill_containers()  # one a call was starting meanwhile

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
