"""The one exception type a person sees: its message is a sentence saying what is wrong and what to do."""


class WacftError(Exception):
    """A problem the person can fix (bad input, missing file, no device); never shown as a traceback."""
