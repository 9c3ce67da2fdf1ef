"""The microphone and the speaker, through sounddevice (PortAudio): a take records until it is stopped,
until the speech is followed by a pause, or until it is as long as a training clip may be, and shows its
level as it goes. sounddevice is the `record` extra; without it, or without a microphone, the person is
told so in one sentence and the rest of wacft works as before."""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

import numpy as np

from wacft.audio import SILENCE_DB, level_db, speech_bounds, speech_threshold, to_whisper_audio
from wacft.errors import WacftError
from wacft.facts import SAMPLE_RATE

MAX_SECONDS = 29.0  # training skips longer clips
PAUSE_SECONDS = 1.2  # silence after speech that ends a take by itself
BLOCK = 0.05  # seconds a callback gets; also the meter's refresh
Device = int | str | None  # sounddevice's: its number, a part of its name, or the default


def sounddevice() -> ModuleType:
    """The sounddevice module with PortAudio's device list made afresh (a microphone plugged in after
    wacft started is then found). Call only while no stream is open."""
    try:
        import sounddevice as sd
    except ImportError as e:
        raise WacftError("Recording needs the `record` extra and PortAudio: pip install 'wacft[record]' and,"
                         " on Debian or Ubuntu, apt install libportaudio2.") from e
    except OSError as e:  # the module is there, the PortAudio library is not
        raise WacftError("Recording needs the PortAudio library: on Debian or Ubuntu apt install libportaudio2,"
                         " on macOS brew install portaudio.") from e
    sd.stop()  # the clip playing, if any: restarting PortAudio closes its stream
    sd._terminate()  # PortAudio lists devices only when it starts
    sd._initialize()
    module: ModuleType = sd  # (it has no types of its own)
    return module


def _rate(sd: ModuleType, device: Device, kind: str) -> int:
    """16 kHz when the device takes it, else its own rate (resampled here)."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        info = sd.query_devices(device, kind=kind)
    except (sd.PortAudioError, ValueError) as e:
        what = "microphone" if kind == "input" else "speaker or headphones"
        raise WacftError(f"No {what} found: plug one in (or let this terminal use it) and try again.") from e
    try:
        check(device, samplerate=SAMPLE_RATE, channels=1, dtype="float32")
        return SAMPLE_RATE
    except (sd.PortAudioError, ValueError):
        return int(info["default_samplerate"])


class Take:
    """One recording from the microphone. `level` (dBFS) and `seconds` may be read from any thread."""

    def __init__(self, device: Device = None, *, max_seconds: float = MAX_SECONDS, pause: float | None = PAUSE_SECONDS):
        self.sd = sounddevice()
        self.rate = _rate(self.sd, device, "input")
        self.device, self.max_seconds, self.pause = device, max_seconds, pause
        self.blocks: list[np.ndarray] = []
        self.levels: list[float] = []
        self.level = SILENCE_DB
        self.ended = threading.Event()  # set when the take stops by itself
        self.stream: Any = None  # sounddevice's InputStream, once started

    @property
    def seconds(self) -> float:
        return len(self.levels) * BLOCK

    def start(self) -> Take:
        sd = self.sd
        try:
            self.stream = sd.InputStream(samplerate=self.rate, channels=1, dtype="float32", device=self.device,
                                         blocksize=int(self.rate * BLOCK), callback=self._block,
                                         finished_callback=self.ended.set)
            self.stream.start()
        except sd.PortAudioError as e:
            raise WacftError(f"The microphone could not be opened ({e}); close other programs using it and"
                             " try again.") from e
        return self

    def _block(self, indata: np.ndarray, frames: int, time: object, status: object) -> None:
        block = indata[:, 0].copy()
        self.blocks.append(block)
        self.level = level_db(block)
        self.levels.append(self.level)
        if self.seconds >= self.max_seconds or self._paused():
            raise self.sd.CallbackStop

    def _paused(self) -> bool:
        """Speech was heard and has been followed by `pause` seconds below the speech threshold."""
        if self.pause is None:
            return False
        quiet = int(self.pause / BLOCK)
        levels = np.array(self.levels)
        loud = levels > speech_threshold(levels)
        return bool(loud.any() and len(loud) > quiet and not loud[-quiet:].any())

    def stop(self) -> np.ndarray:
        """Everything recorded, as float32 mono at 16 kHz."""
        if self.stream is not None:
            self.stream.stop()
            self.stream.close()
        audio = np.concatenate(self.blocks) if self.blocks else np.zeros(0, np.float32)
        return to_whisper_audio(audio, self.rate)


def trimmed(audio: np.ndarray) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The take with the silence before and after its speech cut off, and where it was cut."""
    bounds = speech_bounds(audio)
    return (audio[bounds[0]:bounds[1]] if bounds else audio), bounds


def play(audio: np.ndarray, device: Device = None) -> None:
    """Start playing a clip (returns at once; `stop_playing` ends it)."""
    sd = sounddevice()
    rate = _rate(sd, device, "output")
    sd.play(audio if rate == SAMPLE_RATE else _resample(audio, rate), rate, device=device)


def _resample(audio: np.ndarray, rate: int) -> np.ndarray:
    import soxr

    resampled: np.ndarray = soxr.resample(audio, SAMPLE_RATE, rate).astype(np.float32)
    return resampled


def stop_playing() -> None:
    import sounddevice as sd

    sd.stop()
