"""Where wacft keeps its own files on this machine, all under one folder that WACFT_HOME moves (tests, several
setups side by side): the runs, the wizard's session, crash logs, and verify's cache."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Per-user state: the user data folder, or WACFT_HOME."""
    import platformdirs

    return Path(os.environ.get("WACFT_HOME") or platformdirs.user_data_dir("wacft"))


def runs_dir() -> Path:
    """A record per run (`wacft runs`), and the output folders of runs given none."""
    return data_dir() / "runs"


def session_file() -> Path:
    """The wizard's choices, so that its next start offers to carry on."""
    return data_dir() / "session.json"


def cache_dir() -> Path:
    """What can be made again: the base models converted for verify and their results (the user cache folder, or
    under WACFT_HOME)."""
    import platformdirs

    home = os.environ.get("WACFT_HOME")
    return Path(home) / "cache" if home else Path(platformdirs.user_cache_dir("wacft"))


def shared_cache_dir() -> Path:
    """What every setup on this machine shares, so WACFT_HOME leaves it where it is: the phone's whisper.cpp, a
    Python environment of its own, installed once (the user cache folder)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("wacft"))
