"""The Modal app: ACFT training on a cloud GPU, its checkpoints and outputs on a Volume.

    modal run modal_jobs.py::tiny_acft_app                     # FUTO's published recipe on tiny
    modal run modal_jobs.py::acft --model openai/whisper-base.en --dataset ./my-clips --epochs 8

The GPU function's body is the training engine's own entry point. Events go to a Queue partition named
after the run (and the latest state to a Dict) so the caller watches it live, as it watches a local run.
Every retry resumes from the last checkpoint on the volume, which is committed after each checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

import modal

from wacft.acft.config import TrainConfig
from wacft.acft.events import FanOut, JsonLinesSink

APP_NAME = "wacft"
VOLUME_NAME = "wacft"
VOLUME_PATH = "/vol"
SECRET_NAME = "huggingface-token"  # holds HF_TOKEN
EVENTS_QUEUE = "wacft-events"
STATE_DICT = "wacft-state"
GPUS = ("A100-40GB", "A100-80GB", "H100")
DEFAULT_GPU = GPUS[0]
TIMEOUT = 24 * 60 * 60
# Pinned to what the test suite runs with
PACKAGES = (
    "torch==2.13.0", "transformers==5.24.0", "datasets==5.2.0", "soundfile==0.14.0", "soxr==1.1.0",
    "safetensors==0.8.0", "gguf==0.19.0", "numpy==2.4.6", "huggingface_hub==2.4.0", "platformdirs==4.14.8",
    "tqdm==4.70.1", "jiwer==4.0.0",
)

app = modal.App(APP_NAME)
image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(*PACKAGES)
    .env({"HF_HOME": f"{VOLUME_PATH}/hf"})  # downloads of models and datasets persist across runs
    .add_local_python_source("wacft")
)
volume = modal.Volume.from_name(VOLUME_NAME, create_if_missing=True)


def run_path(run_id: str, root: str = VOLUME_PATH) -> str:
    return f"{root}/runs/{run_id}"


class QueueSink:
    """Events to the run's Queue partition; the latest step also to a Dict, for a quick status."""

    def __init__(self, queue, state, run_id: str):
        self.queue, self.state, self.run_id = queue, state, run_id

    def emit(self, event: dict) -> None:
        self.queue.put(event, partition=self.run_id)
        if event["type"] in ("step", "done", "error"):
            self.state[self.run_id] = event


class CommitOnCheckpoint:
    """A checkpoint only survives preemption once the volume is committed."""

    def __init__(self, volume):
        self.volume = volume

    def emit(self, event: dict) -> None:
        if event["type"] in ("checkpoint", "done"):
            self.volume.commit()


def run_job(config_json: str, run_id: str, convert_types: list[str], sink, root: str = VOLUME_PATH) -> dict:
    """The GPU function's body, runnable anywhere: train into the run's folder (resuming when a checkpoint is
    there, as after a preemption), then convert beside the weights."""
    from wacft.acft.trainer import CHECKPOINT, train  # torch is in the GPU image, not needed to launch there

    config = TrainConfig.from_json(config_json)
    config.out = run_path(run_id, root)
    resume = (Path(config.out) / CHECKPOINT).is_dir()
    out = train(config, sink, resume=resume)
    artifacts = {"model": str(out)}
    if convert_types:
        from wacft.convert.convert import convert, plan_outputs

        for result in convert(str(out), plan_outputs(out / "model.bin", convert_types), force=True):
            artifacts[result.file_type.name] = str(result.path)
        sink.emit({"type": "log", "message": f"converted: {', '.join(convert_types)}"})
    return artifacts


@app.function(
    image=image,
    gpu=DEFAULT_GPU,
    volumes={VOLUME_PATH: volume},
    secrets=[modal.Secret.from_name(SECRET_NAME)],
    timeout=TIMEOUT,
    retries=modal.Retries(max_retries=3, initial_delay=10.0, backoff_coefficient=2.0),
)
def train_on_gpu(config_json: str, run_id: str, convert_types: list[str]) -> dict:
    queue = modal.Queue.from_name(EVENTS_QUEUE, create_if_missing=True)
    state = modal.Dict.from_name(STATE_DICT, create_if_missing=True)
    sink = FanOut(QueueSink(queue, state, run_id), CommitOnCheckpoint(volume), JsonLinesSink(sys.stdout))
    return run_job(config_json, run_id, convert_types, sink)


def _launch_and_watch(config: TrainConfig, gpu: str, convert: str) -> None:
    from wacft.acft.cli import watch_in_terminal
    from wacft.acft.modal_backend import ModalBackend

    backend = ModalBackend(gpu)
    record = backend.launch(config, convert_types=[t for t in convert.split(",") if t])
    print(f"run {record.id} launched on a Modal {gpu}; `wacft watch {record.id}` reattaches")
    watch_in_terminal(backend, record)


@app.local_entrypoint()
def acft(
    model: str, dataset: str, epochs: int = 8, lr: float = 1e-6, max_audio_length: float = 29.0,
    push_to: str = "", language: str = "", dataset_config: str = "", split: str = "train", gpu: str = DEFAULT_GPU,
    convert: str = "q8_0,q5_0", finetune_epochs: int = 0, objective: str = "two-stage", finetune_lr: float = 0.0,
    freeze_encoder: bool = False, spec_augment: bool = False, eval_split: str = "",
):
    config = TrainConfig(
        model=model, dataset=dataset, out="", epochs=epochs, lr=lr, max_audio_length=max_audio_length,
        push_to=push_to or None, language=language or None, dataset_config=dataset_config or None, split=split,
        finetune_epochs=finetune_epochs, objective=objective, finetune_lr=finetune_lr or None,
        freeze_encoder=freeze_encoder, spec_augment=spec_augment, eval_split=eval_split or None,
    )
    _launch_and_watch(config, gpu, convert)


def _published_recipe(size: str) -> None:
    """FUTO's published run: FLEURS en_us train, 8 epochs, lr 1e-6, clips up to 29 s."""
    config = TrainConfig(model=f"openai/whisper-{size}", dataset="google/fleurs", dataset_config="en_us",
                         text_column="raw_transcription", out="", language="en")
    _launch_and_watch(config, DEFAULT_GPU, "q8_0,q5_0")


@app.local_entrypoint()
def tiny_acft_app():
    _published_recipe("tiny")


@app.local_entrypoint()
def base_acft_app():
    _published_recipe("base")


@app.local_entrypoint()
def small_acft_app():
    _published_recipe("small")


@app.local_entrypoint()
def medium_acft_app():
    _published_recipe("medium")
