"""Speech of other voices mixed into the training of one person's recordings. Trained on one voice alone, ACFT
and stage 1 move what the model hears in everyone else's speech (the README measures it: other speakers lose
words the base model heard); a few dozen sentences in other voices beside the person's clips hold it, and
synthetic ones are enough. espeak-ng speaks them when training starts, so nothing is downloaded or shipped."""

from __future__ import annotations

import functools
import hashlib
import io
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from wacft.audio import to_whisper_audio
from wacft.dataset.clips import METADATA_FILES, Clip, duration, named_speakers
from wacft.errors import WacftError
from wacft.extras import needs_extra
from wacft.facts import OTHER_VOICES, language_code, language_name
from wacft.record.folder import STATE, wav_bytes
from wacft.record.prompts import frames

if TYPE_CHECKING:
    from wacft.acft.config import TrainConfig

NAMES_NONE = "a folder that names no speaker"  # taken as one voice: the one case where that is a guess
# all of them together, as espeak-ng 1.51 says them: what the time estimate counts on
SECONDS = {"en": 57.0, "de": 58.0, "fr": 50.0, "es": 60.0, "it": 58.0, "pt": 59.0, "nl": 62.0, "pl": 63.0}


def language_of(config: TrainConfig) -> str:
    """The run's language as a code; English when none is named (an English-only model)."""
    return language_code(config.language) or "en"


def seconds(config: TrainConfig) -> float:
    """How long a run's other voices speak, all together."""
    return SECONDS.get(language_of(config), SECONDS["en"])


def sentences(language: str) -> list[str]:
    """The everyday sentences in `language` (a code), as the file has them."""
    return frames(language)["everyday"]


def one_voice(dataset: str) -> str | None:
    """Why `dataset` is taken as one person's voice; None where it names several speakers, or is not a folder of
    recordings with their metadata (a hub dataset: public corpora are many voices). A folder that names no speaker
    is taken as one: a person's own recordings rarely name their one speaker."""
    folder = Path(dataset).expanduser()
    if (folder / STATE).is_file():
        return "a folder `wacft record` made"
    metadata = next((folder / name for name in METADATA_FILES if (folder / name).is_file()), None)
    if metadata is None:  # a hub id, or files `datasets` reads
        return None
    try:  # by content, not modification time: a rewrite within the clock's tick keeps that
        digest = hashlib.blake2b(metadata.read_bytes()).digest()
    except OSError:
        return None
    return _one_voice_named(str(folder), digest)


@functools.lru_cache(maxsize=8)
def _one_voice_named(folder: str, digest: bytes) -> str | None:
    """`one_voice` by what the folder's metadata names, parsed once for each content of that file (`digest`): the
    wizard asks on every refresh, and 200,000 rows take 0.4 s to parse, 0.015 s to hash."""
    try:
        named = named_speakers(Path(folder))
    except WacftError:  # metadata that cannot be read: loading the clips says what is wrong
        return None
    if named is None:
        return NAMES_NONE
    return "a folder that names one speaker" if named == 1 else None


def wanted(config: TrainConfig) -> bool:
    """Whether a run mixes them in: as its settings say, else where the dataset is one voice (`one_voice`) in a
    language they are spoken in."""
    if config.other_voices is not None:
        return config.other_voices
    return language_of(config) in OTHER_VOICES and one_voice(config.dataset) is not None


def speak(text: str, voice: str) -> bytes:
    """`text` in `voice` as a 16 kHz mono 16-bit WAV file's bytes."""
    with needs_extra("data"):
        import soundfile

    result = subprocess.run(["espeak-ng", "-v", voice, "--stdout", "--", text], capture_output=True, check=False)
    if result.returncode or not result.stdout:
        raise WacftError(f"espeak-ng could not say a sentence in the voice {voice}"
                         f" ({result.stderr.decode(errors='replace').strip() or 'no audio'}); reinstall espeak-ng,"
                         " or train with --no-other-voices.")
    samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32")
    return wav_bytes(to_whisper_audio(samples, rate))


def other_voice_clips(language: str = "en") -> list[Clip]:
    """Every sentence of `language` (a code) in each of its voices, sentence by sentence, held in memory (about
    2 MB)."""
    if language not in OTHER_VOICES:
        raise WacftError(f"The other voices speak {', '.join(language_name(c) for c in OTHER_VOICES)}, not"
                         f" {language_name(language)}; train with --no-other-voices.")
    if shutil.which("espeak-ng") is None:
        raise WacftError("Training on one person's recordings mixes in other voices, which espeak-ng speaks, and"
                         " it is not installed; install it (sudo apt-get install espeak-ng), or train with"
                         " --no-other-voices.")
    clips = []
    for text in sentences(language):
        for voice in OTHER_VOICES[language]:
            audio = speak(text, voice)
            clips.append(Clip(audio, text, duration(audio)))
    return clips
