"""The facts about Whisper, FUTO Keyboard and Modal that several modules need, each stated once here.

Standard library only: the wizard's first screen, the convert and push paths and the Modal job all import it.
"""

from __future__ import annotations

# Whisper's audio: 16 kHz, and one encoder position is 20 ms of it, so 30 s fill the 1500 positions
SAMPLE_RATE = 16000
SAMPLES_PER_POSITION = 320
POSITIONS_PER_SECOND = SAMPLE_RATE // SAMPLES_PER_POSITION
FULL_CONTEXT = 1500
WHISPER_SECONDS = FULL_CONTEXT / POSITIONS_PER_SECOND  # all Whisper hears at once: longer clips cannot be trained on

# Whisper's published sizes: (d_model, encoder layers, decoder layers). turbo is large-v3 with 4 decoder layers
MODEL_SIZES = {"tiny": (384, 4, 4), "base": (512, 6, 6), "small": (768, 12, 12), "medium": (1024, 24, 24),
               "turbo": (1280, 32, 4), "large": (1280, 32, 32)}
WIZARD_SIZES = ("tiny", "base", "small", "medium")  # the sizes the wizard offers
FUTO_SIZES = ("tiny", "base", "small")  # the sizes FUTO Keyboard runs
FUTO_WIDEST = max(MODEL_SIZES[size][0] for size in FUTO_SIZES)
FUTO_GLOSSARY_TOKENS = 200  # about where FUTO Keyboard cuts the personal dictionary's glossary prompt
# FUTO Keyboard hands the model everything it recorded (AudioRecognizer.kt): from the tap, the 0.6 s in which
# its start sound plays, to the ~2 s without speech (66 VAD frames of 30 ms) after which it stops listening
FUTO_LEAD_SECONDS = 0.6
FUTO_TAIL_SECONDS = 66 * 480 / SAMPLE_RATE
# the audio context FUTO Keyboard gives whisper.cpp (android-keyboard's WhisperGGML.cpp): the clip's positions and
# this margin, at least the floor
FUTO_CONTEXT_MARGIN = 32
FUTO_MIN_CONTEXT = 160

# vocabulary sizes: English-only models have no language tokens; large-v3 added one language
ENGLISH_VOCAB = 51864
MULTILINGUAL_VOCAB = 51865
LARGE_V3_VOCAB = 51866


def is_multilingual(vocab_size: int) -> bool:
    """As openai/whisper decides it, from the config's vocabulary (never the model's name): a vocabulary this
    large has language tokens."""
    return vocab_size >= MULTILINGUAL_VOCAB


# Modal's published GPU prices, USD per second of GPU time. modal.com/pricing, as transcribed by
# techbytes.app "Serverless GPU Pricing Matrix" (verified there 2026-05-07: H100 $0.001097/s, A100 80GB
# $2.4984/h) and by a public 2026 GPU price survey (T4 ... B200, incl. A100 40GB $0.000583/s); looked up
# 2026-11-25. GPU only: the container's CPU and memory are billed on top (below).
GPU_PRICE_PER_SECOND = {"A100-40GB": 0.000583, "A100-80GB": 0.000694, "H100": 0.001097}
MODAL_MAX_HOURS = 24.0  # the longest timeout Modal gives a function: a run's budget of GPU hours at most
GPUS = tuple(GPU_PRICE_PER_SECOND)  # the Modal GPUs wacft runs on
DEFAULT_GPU = GPUS[0]
# The job's container beside its GPU, billed per second on top of it (modal.com/pricing: $0.0000131 per physical
# core, $0.00000222 per GiB; the rates several public Modal cost calculators use, looked up 2026-12-07): cores to
# decode and featurise clips ahead of the GPU, memory for the dataset's audio and two copies of the model
MODAL_CPU_CORES = 4.0
MODAL_MEMORY_MIB = 16384
CONTAINER_PRICE_PER_SECOND = MODAL_CPU_CORES * 0.0000131 + MODAL_MEMORY_MIB / 1024 * 0.00000222


def modal_price_per_second(gpu: str) -> float:
    """What a second of the job costs on Modal: the GPU and the container's cores and memory."""
    return GPU_PRICE_PER_SECOND[gpu] + CONTAINER_PRICE_PER_SECOND

# Whisper's languages, code -> name, in the order of their tokens (<|en|> is the first after <|startoftranscript|>:
# whisper.cpp numbers them the same way). openai/whisper's tokenizer.py; "yue" came with large-v3's extra token.
LANGUAGES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer", "sn": "shona",
    "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao",
    "uz": "uzbek", "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog",
    "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala", "ha": "hausa",
    "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}
# written without spaces between words: scored by characters (CER), not words
UNSPACED_LANGUAGES = ("zh", "ja", "th", "lo", "my", "yue", "bo", "km")


def language_code(value: str | None) -> str | None:
    """The Whisper language code for a code or an English name, in any case ("de", "German"); None for none or
    one Whisper does not know."""
    if not value:
        return None
    wanted = value.strip().lower()
    if wanted in LANGUAGES:
        return wanted
    return next((code for code, name in LANGUAGES.items() if name == wanted), None)


def language_name(code: str) -> str:
    """"de" -> "German", as a person reads it (FUTO Keyboard lists languages by name)."""
    return LANGUAGES.get(code, code).title()


# The other voices mixed into one person's recordings (acft/other_voices.py): espeak-ng's voices of each
# language the project has everyday sentences in (the [everyday] section of record/frames*.txt, written for
# it): its accents of the language where it has several, else one voice in
# three timbres (+f3 a female voice, +m3 a lower male one; its fr-be says these as fr does). The bench's test
# sets use none of these sentences, so its measurement of what they hold is on voices and words they never
# trained.
OTHER_VOICES = {
    "en": ("en-us", "en-gb", "en-gb-x-rp"), "de": ("de", "de+f3", "de+m3"), "fr": ("fr", "fr+f3", "fr+m3"),
    "es": ("es", "es-419", "es+f3"), "it": ("it", "it+f3", "it+m3"), "pt": ("pt", "pt-br", "pt-br+f3"),
    "nl": ("nl", "nl+f3", "nl+m3"), "pl": ("pl", "pl+f3", "pl+m3"),
}
OTHER_VOICE_SENTENCES = 12  # in each language
OTHER_VOICE_CLIPS = OTHER_VOICE_SENTENCES * 3  # every sentence in each of its three voices
