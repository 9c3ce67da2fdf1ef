"""What the output folder carries beside the trained weights (the base model's own tokenizer and processor
files, a model card), and its optional push to the Hugging Face hub (private unless asked)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from wacft.acft import other_voices
from wacft.acft.events import EventSink, log
from wacft.atomic import write_bytes_atomic
from wacft.errors import WacftError
from wacft.extras import beside
from wacft.facts import OTHER_VOICE_CLIPS
from wacft.run_folder import PROCESSOR_FILES

if TYPE_CHECKING:
    from wacft.acft.config import TrainConfig
    from wacft.acft.run_files import Progress

CARD = """---
{base_model}tags: [whisper, acft, whisper.cpp, futo-keyboard]
---
# {name}

{model} fine-tuned with ACFT (audio context fine-tuning) by wacft, so that it stays accurate when
whisper.cpp runs it with a dynamic audio context, as FUTO Keyboard's voice input does.

- base model: {model}
- dataset: {dataset}, {clips} clips of up to {max_len:g} s
{stage1}- ACFT: {epochs} epochs, learning rate {lr:g} per clip, {mode}
- contexts seen by the student: {contexts}
- final loss: {loss}

Convert it for whisper.cpp with `wacft convert`.
"""


def processor_files(model: str) -> list[Path]:
    """The base model's tokenizer and processor files: from its folder, or from the hub's cache."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(model, allow_patterns=list(PROCESSOR_FILES)))
    return [folder / name for name in PROCESSOR_FILES if (folder / name).is_file()]


def copy_files(files: list[Path], folder: Path) -> None:
    for path in files:
        shutil.copyfile(path, folder / path.name)


def write_model_card(folder: Path, config: TrainConfig, progress: Progress, n_clips: int) -> None:
    """`progress` is the run's end state: its final loss, stage 1's best epoch and the contexts covered."""
    on_hub = not Path(config.model).expanduser().is_dir()  # the card's metadata takes hub ids only
    dataset = " ".join(filter(None, (config.dataset, config.dataset_config, f"(split {config.split})")))
    if config.exact_reference:
        mode = "the exact published loop (one clip a step)"
    else:
        mode = f"length-bucketed batches of {config.batch_size}"
        if config.full_context_share:
            mode += f", {config.full_context_share:.0%} of them at full context"
        if config.phone_silence_share:
            mode += f"; {config.phone_silence_share:.0%} of the clips with the silence the phone records around them"
    if other_voices.wanted(config):
        mode += f"; {OTHER_VOICE_CLIPS} clips of other voices (espeak-ng) mixed into the dataset"
    stage1 = ""
    if config.finetune_epochs:
        objective = "cross-entropy" if config.objective == "two-stage" else "cross-entropy + ACFT (joint)"
        best = progress.best
        kept = f"; kept epoch {best['epoch']} (held-out WER {best['wer']:.1%})" if best else ""
        if config.finetune_keep < 1:
            kept += f", {config.finetune_keep:.0%} of its change to the base weights"
        stage1 = f"- stage 1: {config.finetune_epochs} epochs of {objective} on the transcripts{kept}\n"
    low_high = progress.contexts
    contexts = f"{low_high[0]}-{low_high[1]} positions (20 ms each)" if low_high else "full context only"
    card = CARD.format(
        base_model=f"base_model: {config.model}\n" if on_hub else "", name=Path(config.out).name,
        model=config.model, dataset=dataset, clips=n_clips, max_len=config.max_audio_length,
        epochs=config.epochs, lr=config.lr, mode=mode, stage1=stage1, contexts=contexts,
        loss="n/a" if progress.loss is None else f"{progress.loss:.6g}",
    )
    write_bytes_atomic(folder / "README.md", card.encode())


def check_push_access(repo: str, private: bool) -> None:
    """Before training: a token that cannot write to `repo` fails now, not after hours of GPU time."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    try:
        api.whoami()
    except Exception as e:  # no token, a revoked token, or no network: all stop the push
        raise WacftError(
            f"Cannot reach the Hugging Face hub as a logged-in user ({type(e).__name__}); run"
            f" `{beside('hf')} auth login` with a write token, or drop --push-to."
        ) from e
    try:
        api.create_repo(repo, private=private, exist_ok=True)
    except HfHubHTTPError as e:
        raise WacftError(
            f"Your Hugging Face token cannot write to {repo}; use a write token or another repo."
        ) from e


def push(folder: Path, repo: str, files: list[str], sink: EventSink) -> None:
    """Only the model's own files: the output folder may also hold a run's logs and converted .bin files."""
    from huggingface_hub import HfApi

    HfApi().upload_folder(repo_id=repo, folder_path=str(folder), allow_patterns=files)
    log(sink, f"pushed to https://huggingface.co/{repo}")
