"""The one exception type a person sees: its message is a sentence saying what is wrong and what to do."""

from pathlib import Path


class WacftError(Exception):
    """A problem the person can fix (bad input, missing file, no device); never shown as a traceback."""


def refuse_unreadable(folder: Path, what: str) -> None:
    """A folder this user may not list or enter (`what` is what it should hold): said now, where the first look
    inside it would raise PermissionError (Python before 3.12 raises it even from Path.is_file)."""
    import os

    if os.path.isdir(folder) and not os.access(folder, os.R_OK | os.X_OK):
        raise WacftError(f"The folder {folder} cannot be read (permission denied); make it readable (chmod u+rx),"
                         f" or copy the {what} somewhere you can read them.")
