"""wacft: train your own Whisper for FUTO Keyboard voice input."""

__version__ = "0.1.0"
