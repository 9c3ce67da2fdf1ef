"""The `modal run` entrypoints, for people used to them; they launch the Modal app of modal_jobs.py as
`wacft train --on modal` does, and follow the run in the terminal:

    modal run modal_cli.py::tiny_acft_app                     # FUTO's published recipe on tiny
    modal run modal_cli.py::acft --model openai/whisper-base.en --dataset ./my-clips --epochs 8
"""

from __future__ import annotations

from wacft.facts import DEFAULT_GPU
from wacft.modal_jobs import app
from wacft.services.outputs import DEFAULT_TYPES
from wacft.services.settings import TrainConfig, default, train_settings


def _launch_and_watch(config: TrainConfig, gpu: str, convert: str) -> None:
    """Launch inside the app `modal run` runs (it stops with this entrypoint: `modal run --detach` keeps the run
    going when the terminal closes), then follow it; a person's error is one sentence, as from `wacft`."""
    import sys

    from wacft.cli.terminal import watch_in_terminal
    from wacft.errors import WacftError
    from wacft.services.runs import modal_backend_in_running_app

    try:
        backend = modal_backend_in_running_app(gpu, [t for t in convert.split(",") if t])
        record = backend.launch(config)
        print(f"run {record.id} launched on a Modal {gpu}; `wacft watch {record.id}` reattaches")
        watch_in_terminal(backend, record)
    except WacftError as e:
        print(f"wacft: {e}", file=sys.stderr)
        raise SystemExit(1) from None


@app.local_entrypoint()
def acft(
    model: str, dataset: str, epochs: int = default("epochs"), lr: float = default("lr"),
    max_audio_length: float = default("max_audio_length"), push_to: str = "", language: str = "",
    dataset_config: str = "", split: str = default("split"), gpu: str = DEFAULT_GPU,
    convert: str = ",".join(DEFAULT_TYPES),
    finetune_epochs: int = default("finetune_epochs"), objective: str = default("objective"),
    finetune_lr: float = 0.0, joint_weight: float = default("joint_weight"),
    finetune_keep: float = default("finetune_keep"), freeze_encoder: bool = False, spec_augment: bool = False,
    eval_split: str = "",
):
    options = {k: v for k, v in locals().items() if k not in ("gpu", "convert")}
    options["finetune_lr"] = finetune_lr or None  # 0: the usual rate for the model's size
    _launch_and_watch(train_settings(options), gpu, convert)


FLEURS = "google/fleurs@refs/convert/parquet"  # the hub's parquet export: `datasets` no longer runs FLEURS' script


def _published_recipe(size: str) -> None:
    """FUTO's published run: FLEURS en_us train, 8 epochs, lr 1e-6, clips up to 29 s."""
    config = train_settings({"model": f"openai/whisper-{size}", "dataset": FLEURS, "dataset_config": "en_us",
                             "text_column": "raw_transcription", "language": "en"})
    _launch_and_watch(config, DEFAULT_GPU, ",".join(DEFAULT_TYPES))


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
