"""The Hugging Face hub, asked once and quickly whether it answers, before a download that would retry."""

from __future__ import annotations

HUB_ANSWER_SECONDS = 5.0  # the hub answers a repository's info in well under a second


def hub_unanswered(kind: str, name: str, revision: str | None = None) -> str | None:
    """Why the hub said nothing about the `kind` ("model" or "dataset") `name` within a few seconds (no network,
    or one that swallows requests); None where it answered, whatever it said (the download that follows words
    that). One quick question before huggingface_hub and `datasets`, which retry or wait on a hub that does not
    answer for half a minute or more; callers skip it where those are offline (HF_HUB_OFFLINE) and fail at once."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    try:
        HfApi().repo_info(name, repo_type=kind, revision=revision or None, timeout=HUB_ANSWER_SECONDS)
    except (HfHubHTTPError, HFValidationError):
        return None
    except Exception as e:  # httpx's connection errors and timeouts, whichever kind
        return str(e) or type(e).__name__
    return None
