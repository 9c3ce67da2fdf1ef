"""The trained model's card, and its optional push to the Hugging Face hub (private unless asked)."""

from __future__ import annotations

from pathlib import Path

from wacft.acft.events import EventSink, log
from wacft.atomic import write_bytes_atomic
from wacft.errors import WacftError

CARD = """---
base_model: {model}
tags: [whisper, acft, whisper.cpp, futo-keyboard]
---
# {name}

{model} fine-tuned with ACFT (audio context fine-tuning) by wacft, so that it stays accurate when
whisper.cpp runs it with a dynamic audio context, as FUTO Keyboard's voice input does.

- dataset: {dataset} (split {split}), {clips} clips
- settings: {epochs} epochs, learning rate {lr:g}, batch {batch}, {mode}, clips up to {max_len:g} s
- final loss: {loss}

Convert it for whisper.cpp with `wacft convert`.
"""


def write_model_card(folder: Path, config, final_loss: float | None, n_clips: int) -> None:
    card = CARD.format(
        model=config.model, name=Path(config.out).name, dataset=config.dataset, split=config.split, clips=n_clips,
        epochs=config.epochs, lr=config.lr, batch=1 if config.exact_reference else config.batch_size,
        mode="exact published loop" if config.exact_reference else "length-bucketed batches",
        max_len=config.max_audio_length, loss="n/a" if final_loss is None else f"{final_loss:.6g}",
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
            f"Cannot reach the Hugging Face hub as a logged-in user ({type(e).__name__}); run `hf auth login`"
            " with a write token, or drop --push-to."
        ) from e
    try:
        api.create_repo(repo, private=private, exist_ok=True)
    except HfHubHTTPError as e:
        raise WacftError(f"Your Hugging Face token cannot write to {repo}; use a write token or another repo.") from e


def push(folder: Path, repo: str, sink: EventSink) -> None:
    from huggingface_hub import HfApi

    HfApi().upload_folder(repo_id=repo, folder_path=str(folder), ignore_patterns=[".*", "checkpoint/*"])
    log(sink, f"pushed to https://huggingface.co/{repo}")
