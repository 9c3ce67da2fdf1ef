"""A fake Modal control plane: the real `modal` client talks to it over gRPC as to Modal's servers.

Written on the service base the modal wheel ships (`modal_proto.api_grpc.ModalClientBase`), implementing
only the calls wacft's launch, watch, cancel and fetch make; any other call fails UNIMPLEMENTED (and is
recorded, so a test sees it). Every call is recorded with its request. What it models:
- apps, images, mounts, secrets, functions: accepted and remembered (the image is never built);
- a spawned call runs the function's body in a local subprocess (tests/fake_modal/container.py), retried as
  the function's retry policy says (without its delays); `kill_after_commit` kills it mid-run, as a
  preemption or a lost container would;
- a volume: a committed folder that clients list and read, and per container a working copy made from it at
  start, copied back on each commit, so what a killed container did not commit is lost, as on Modal;
- a Dict: bytes by key, as the client serialises them;
- `hold_reads` holds back the blocks of one volume file after its first, so a test can stop a fetch mid-file.
Blocks of volume files are served over HTTP on a second port, as Modal serves them from blob storage.
"""

from __future__ import annotations

import asyncio
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


@dataclass
class Call:
    id: str
    function: api_pb2.Function
    args: bytes
    attempts: int = 0
    process: asyncio.subprocess.Process | None = None
    result: api_pb2.GenericResult | None = None
    commits: int = 0
    synced: set = field(default_factory=set)  # the container's files at its last sync with the volume
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
        self.files: dict[str, bytes] = {}  # mount / upload content by sha256
        self.kill_after_commit: int | None = None  # kill a call's container right after its Nth commit
        self.retries: int | None = None  # overrides the function's retry policy
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
        await self._take(stream, "AppClientDisconnect")
        await stream.send_message(Empty())

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

    async def MountPutFile(self, stream):
        request = await self._take(stream, "MountPutFile")
        if request.WhichOneof("data_oneof") == "data":
            self.files[request.sha256_hex] = request.data
        await stream.send_message(api_pb2.MountPutFileResponse(exists=request.sha256_hex in self.files))

    async def MountBatchedCheckExistence(self, stream):
        request = await self._take(stream, "MountBatchedCheckExistence")
        missing = [h for h in request.sha256_hex_hashes if h not in self.files]
        await stream.send_message(api_pb2.MountBatchedCheckExistenceResponse(missing_sha256_hex_hashes=missing))

    async def MountGetOrCreate(self, stream):
        await self._take(stream, "MountGetOrCreate")
        await stream.send_message(api_pb2.MountGetOrCreateResponse(mount_id=self.new_id("mo")))

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
        """The call's attempts, each a container: a subprocess with its own working copy of the volume."""
        policy = call.function.retry_policy
        attempts = 1 + (self.retries if self.retries is not None else policy.retries)
        function = call.function
        outcome = None
        while call.attempts < attempts and not call.cancelled:
            call.attempts += 1
            call.work = self.root / "containers" / call.id  # one mount point, as /vol is on Modal
            shutil.rmtree(call.work, ignore_errors=True)  # a new container: only what was committed
            shutil.copytree(self.volume, call.work)
            call.synced = files_in(call.work)
            result_path = call.work.with_suffix(".result")
            call.process = await asyncio.create_subprocess_exec(
                sys.executable, str(CONTAINER), function.module_name, function.function_name, str(call.work),
                str(result_path), stdin=asyncio.subprocess.PIPE,
                env={**os.environ, **self.env, "MODAL_TOKEN_ID": f"ak-{call.id}"},  # its token names its call
                start_new_session=True)
            call.process.stdin.write(call.args)
            call.process.stdin.close()
            try:
                code = await asyncio.wait_for(call.process.wait(), function.timeout_secs or None)
            except asyncio.TimeoutError:
                call.process.send_signal(signal.SIGKILL)
                await call.process.wait()
                outcome = failure("Function timed out", api_pb2.GenericResult.GENERIC_STATUS_TIMEOUT)
                break
            if call.cancelled:
                outcome = failure("Function call was cancelled", api_pb2.GenericResult.GENERIC_STATUS_TERMINATED)
            elif code == 0:
                outcome = pickle.loads(result_path.read_bytes())
                if outcome.status == api_pb2.GenericResult.GENERIC_STATUS_SUCCESS:
                    break
            else:
                outcome = failure(f"Container exited with code {code}",
                                  api_pb2.GenericResult.GENERIC_STATUS_INTERNAL_FAILURE)
        call.result = outcome  # only now: while a retry is pending, the call has no output

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
            now = files_in(call.work)
            for gone in call.synced - now:  # what the container deleted goes from the volume too
                (self.volume / gone).unlink(missing_ok=True)
            shutil.copytree(call.work, self.volume, dirs_exist_ok=True)
            call.synced = now
            call.commits += 1
            if self.kill_after_commit is not None and call.commits == self.kill_after_commit:
                call.process.send_signal(signal.SIGKILL)
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
            target.write_bytes(self.files[file.sha256_hex])
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


def files_in(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


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
