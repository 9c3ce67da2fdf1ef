"""Text normalisation before WER, in the spirit of openai/whisper's normalisers: case, punctuation, bracketed
asides, fillers, contractions, spelling variants and spelled numbers should not count as recognition errors."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from wacft.extras import needs_extra
from wacft.facts import UNSPACED_LANGUAGES

BRACKETED = re.compile(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>")  # [laughter], (inaudible), <unk>
FILLERS = {"hmm", "hm", "mm", "mmm", "mhm", "uh", "um", "er", "erm", "ah", "eh"}
# applied in this order, as openai/whisper's EnglishTextNormalizer does ("'s" is ambiguous and stays)
CONTRACTIONS = {
    r"\bwon't\b": "will not", r"\bcan't\b": "can not", r"\blet's\b": "let us", r"\bgonna\b": "going to",
    r"\bwanna\b": "want to", r"\bgotta\b": "got to", r"\bmr\b": "mister", r"\bmrs\b": "missus",
    r"\bdr\b": "doctor", r"n't\b": " not", r"'re\b": " are", r"'ll\b": " will", r"'ve\b": " have",
    r"'m\b": " am", r"'d\b": " would",
}
CURRENCIES = {"$": "dollars", "£": "pounds", "€": "euros"}
# British spellings that Whisper often writes the American way (and back): counted as the same word
SPELLINGS = {
    "colour": "color", "favourite": "favorite", "centre": "center", "theatre": "theater", "organise": "organize",
    "realise": "realize", "recognise": "recognize", "travelled": "traveled", "cancelled": "canceled",
    "grey": "gray", "neighbour": "neighbor", "honour": "honor", "labour": "labor", "metre": "meter",
    "programme": "program", "analyse": "analyze", "apologise": "apologize", "behaviour": "behavior",
    "favour": "favor", "flavour": "flavor", "humour": "humor", "harbour": "harbor", "litre": "liter",
    "defence": "defense", "licence": "license", "catalogue": "catalog", "dialogue": "dialog", "jewellery": "jewelry",
    "organisation": "organization", "practise": "practice", "tyre": "tire", "aluminium": "aluminum", "ok": "okay",
}
ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SMALL_NUMBERS = {word: n for n, word in enumerate(ONES)} | {word: 10 * n for n, word in enumerate(TENS, 2)}
SCALES = {"thousand": 1000, "million": 1000**2, "billion": 1000**3}


def remove_symbols(text: str, *, diacritics: bool = False) -> str:
    """Punctuation, symbols and marks become spaces (apostrophes inside words stay); `diacritics` drops
    accents too (é -> e), which suits English but would merge different words elsewhere."""
    text = unicodedata.normalize("NFKD" if diacritics else "NFKC", text)
    if diacritics:
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = re.sub(r"(?<=\w)'(?=\w)", "\x00", text)  # keep "don't" while quotes go
    text = "".join(" " if unicodedata.category(c)[0] in "PSM" else c for c in text)
    return text.replace("\x00", "'")


def basic(text: str) -> str:
    """Every language but English, as openai/whisper's BasicTextNormalizer does it: lower case, no words in
    brackets or parentheses, every mark, symbol and punctuation (apostrophes too: "l'ami" is "l ami") a space,
    single spaces; accents stay."""
    text = re.sub(r"[<\[][^>\]]*[>\]]", "", text.lower())
    text = re.sub(r"\(([^)]+?)\)", "", text)
    text = "".join(" " if unicodedata.category(c)[0] in "MSP" else c for c in unicodedata.normalize("NFKC", text))
    return " ".join(text.lower().split())


def _fits(value: int, current: int, started: bool) -> bool:
    """Whether a number word of `value` continues the number read so far ("twenty" + "one", not "one" + "two")."""
    if not started:
        return True
    if value == 0:
        return False
    if value < 10:
        return current % 10 == 0 and not 10 <= current % 100 < 20
    return current % 100 == 0


def _read_number(words: list[str], i: int) -> tuple[int, int]:
    """The number spelled from words[i] on ("two hundred and five") and how many words it takes (0: none)."""
    done, current, j = 0, 0, i
    while j < len(words):
        word = words[j]
        if word in SMALL_NUMBERS and _fits(SMALL_NUMBERS[word], current, j > i):
            current += SMALL_NUMBERS[word]
        elif word == "hundred" and 0 < current < 100:
            current *= 100
        elif word in SCALES and current > 0:
            done, current = done + current * SCALES[word], 0
        elif word != "and" or not (done or current >= 100) or j + 1 == len(words) or words[j + 1] not in SMALL_NUMBERS:
            break
        j += 1
    if j > i and words[j - 1] == "and":
        j -= 1
    return done + current, j - i


def spelled_numbers_as_digits(words: list[str]) -> list[str]:
    """"twenty one" -> "21", "two thousand and five" -> "2005": so "7" and "seven" agree."""
    out, i = [], 0
    while i < len(words):
        value, taken = _read_number(words, i)
        out.append(str(value) if taken else words[i])
        i += taken or 1
    return out


def english(text: str) -> str:
    text = BRACKETED.sub(" ", text.lower().replace("\u2019", "'"))
    for pattern, replacement in CONTRACTIONS.items():
        text = re.sub(pattern, replacement, text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,000 -> 1000
    for symbol, name in CURRENCIES.items():
        text = re.sub(rf"{re.escape(symbol)}\s*(\d+(?:\.\d+)?)", rf"\1 {name}", text)
    text = text.replace("%", " percent").replace("-", " ")
    words = [SPELLINGS.get(w, w) for w in remove_symbols(text, diacritics=True).split() if w not in FILLERS]
    return " ".join(spelled_numbers_as_digits(words))


def normalizer(language: str) -> Callable[[str], str]:
    """Whisper's normalisers: its English one for English (a code), its basic one for every other language; for
    a language written without spaces between words, the basic one's characters one by one, so that the word
    error rate of what it gives is the character error rate (CER), and runaways are found in characters."""
    if by_characters(language):
        return characters
    return english if language == "en" else basic


def characters(text: str) -> str:
    """Text in a language without spaces, normalised, as its characters separated by spaces."""
    return " ".join(basic(text).replace(" ", ""))


def by_characters(language: str) -> bool:
    """Whether a language (a code) is scored by characters: it does not separate its words with spaces."""
    return language in UNSPACED_LANGUAGES


def rate_name(language: str) -> str:
    """WER, or CER for a language written without spaces."""
    return "CER" if by_characters(language) else "WER"


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str], extra: str) -> float:
    """Word error rate of normalised texts over all clips together (not a mean of each clip's); clips whose
    reference normalises to nothing are left out. `extra` is the pip extra of the feature asking (jiwer comes
    with train and verify), so a missing jiwer is named in its sentence."""
    with needs_extra(extra):
        import jiwer

    pairs = [(r, h) for r, h in zip(references, hypotheses, strict=True) if r]
    return jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]) if pairs else 0.0
