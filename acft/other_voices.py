"""Speech of other voices mixed into the training of one person's recordings. Trained on one voice alone, ACFT
and stage 1 move what the model hears in everyone else's speech (the README measures it: other speakers lose
words the base model heard); a few dozen sentences in other voices beside the person's clips hold it, and
synthetic ones are enough. espeak-ng speaks them when training starts, so nothing is downloaded or shipped."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from wacft.acft.data import Clip, duration
from wacft.audio import to_whisper_audio
from wacft.errors import WacftError
from wacft.extras import needs_extra
from wacft.record.folder import STATE, wav_bytes

# everyday sentences (short dictations among them) and espeak-ng's own English voices; the bench's test sets
# use neither, so its measurement of what these hold is on voices and words they never trained
SENTENCES = (
    "The weather is nice today.", "Please send me the report.", "We should meet at the station tomorrow.",
    "Call my mother this evening.", "Where is the nearest pharmacy?", "I would like a cup of coffee.",
    "The train leaves at nine.", "Can you help me with this?", "Good morning, everyone.", "Let us go for a walk.",
    "Sure.", "Okay, see you later.",
)
VOICES = ("en-us", "en-gb", "en-gb-x-rp")
COUNT = len(SENTENCES) * len(VOICES)
SECONDS = 57.0  # all of them together, as espeak-ng 1.51 says them: what the time estimate counts on


def wanted(config) -> bool:
    """Whether a run mixes them in: as its settings say, else when the dataset is a folder `wacft record` made,
    which holds one person's voice, in English (stage 1 would teach English sentences under another language's
    token)."""
    if config.other_voices is not None:
        return config.other_voices
    english = (config.language or "en").lower() in ("en", "english")
    return english and (Path(config.dataset).expanduser() / STATE).is_file()


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


def other_voice_clips() -> list[Clip]:
    """Every sentence in every voice, sentence by sentence, held in memory (about 2 MB)."""
    if shutil.which("espeak-ng") is None:
        raise WacftError("Training on one person's recordings mixes in other voices, which espeak-ng speaks, and"
                         " it is not installed; install it (sudo apt-get install espeak-ng), or train with"
                         " --no-other-voices.")
    clips = []
    for text in SENTENCES:
        for voice in VOICES:
            audio = speak(text, voice)
            clips.append(Clip(audio, text, duration(audio)))
    return clips
