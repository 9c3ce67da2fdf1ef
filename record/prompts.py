"""What the person reads aloud: each of their terms in several short sentences (the project's frames mixed
with sentences cut from their own text) plus one- to three-word dictations, in an order that alternates
long and short takes. Proposals are plain data so that a recording folder can keep them and resume."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from wacft.errors import WacftError
from wacft.facts import language_code, language_name

SENTENCE, OWN, DICTATION = "sentence", "own", "dictation"
OWN_WORDS = (3, 25)  # a sentence from the person's text is read when it has this many words (3-10 s)
# a sentence ends at . ! ?, at a blank line, and at a line break before a bullet or a capital (notes rarely
# end their lines with a full stop)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\s*\n\s*(?=[-*•A-ZÀ-ÖØ-Þ])")


class NoFrames(WacftError):
    """No shipped sentences in the language asked for."""


@dataclass
class Prompt:
    text: str
    kind: str  # SENTENCE, OWN or DICTATION
    terms: list[str] = field(default_factory=list)


def parse_terms(text: str) -> list[str]:
    """Terms typed with commas or one a line, in order, each once (case-insensitively)."""
    seen, terms = set(), []
    for term in re.split(r"[,\n;]", text):
        term = " ".join(term.split())
        if term and term.lower() not in seen:
            seen.add(term.lower())
            terms.append(term)
    return terms


def text_or_file(value: str) -> str:
    """What was typed, or the text of the file it names (terms one a line, or notes to read from)."""
    path = Path(value).expanduser()
    if not path.is_file():
        if value.strip().startswith(("/", "./", "../", "~")) or path.suffix.lower() in (".txt", ".csv", ".md"):
            raise WacftError(f"There is no file {value}; give the path of an existing file, or the words"
                             " themselves (comma-separated).")  # a mistyped path, not a word
        return value
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise WacftError(f"{path} cannot be read as text ({e}); save it as UTF-8 text.") from e


def frames_file(language: str | None = None) -> str:
    """The file of a language's frames (English: frames.txt; German: frames.de.txt)."""
    code = language_code(language) or "en"
    return "frames.txt" if code == "en" else f"frames.{code}.txt"


def languages() -> tuple[str, ...]:
    """The languages the project has sentences for, English first: those with a frames file."""
    names = (f.name for f in resources.files("wacft.record").iterdir())
    found = sorted(m[1] for m in map(re.compile(r"frames\.([a-z]{2,3})\.txt").fullmatch, names) if m)
    return ("en", *found)


def frames(language: str | None = None) -> dict[str, list[str]]:
    """The shipped sentences of a language (English by default) by section: `sentences` and `dictations` (the
    recorder's frames), `everyday` (what the other voices say). A language without them: NoFrames."""
    path = resources.files("wacft.record").joinpath(frames_file(language))
    if not path.is_file():
        raise NoFrames(f"wacft has no sentences in {language_name(language_code(language) or language or 'en')} yet"
                       f" (it has them for {', '.join(language_name(c) for c in languages())}).")
    sections: dict[str, list[str]] = {}
    current: list[str] = []  # lines before the first [section] belong to none
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        else:
            current.append(line)
    return sections


def mentions(text: str, term: str) -> bool:
    """Whether `term` occurs in `text` as whole words, in any case."""
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE) is not None


def own_sentences(text: str) -> list[str]:
    """The person's text cut into sentences short enough to read in one take."""
    pieces = (" ".join(p.split()).lstrip("-*• ") for p in SENTENCE_END.split(text))
    return [p for p in pieces if OWN_WORDS[0] <= len(p.split()) <= OWN_WORDS[1]]


def key(text: str) -> str:
    """Two proposals are the same sentence when they differ only in case, spacing and punctuation."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def own_text_only(language: str | None) -> str | None:
    """What the record step says when it has no frames in `language` (and proposes from the person's text alone),
    or None when it has them."""
    code = language_code(language) or "en"
    if code in languages():
        return None
    return (f"wacft has no sentences in {language_name(code)} yet: the proposals are sentences from your own text"
            " with your words in them, and each word alone.")


def propose(terms: list[str], own_text: str = "", *, per_term: int = 5, dictations: int = 2,
            seed: int = 0, language: str | None = None) -> list[Prompt]:
    """Each term in at least `per_term` sentences (the person's own first, then frames of `language`, English by
    default) and `dictations` short dictations; no sentence twice. In a language without frames, the person's
    own sentences and each term alone (see own_text_only)."""
    if not terms:
        raise WacftError("Type at least one word or name you want the model to learn.")
    shipped, dictations = frames_for(language, own_text, per_term, dictations)
    rng = random.Random(seed)
    chosen: dict[str, Prompt] = {}

    def add(texts: Iterable[str], kind: str, count: int = 0, most: float = math.inf) -> int:
        """Adds each of `texts` not chosen yet, until `most` sentences of the term (`count` now); the count then."""
        for text in texts:
            if count >= most:
                break
            if key(text) not in chosen:
                chosen[key(text)] = Prompt(text, kind, [t for t in terms if mentions(text, t)])
                count += 1
        return count

    mine = own_sentences(own_text)
    for term in terms:
        count = sum(1 for p in chosen.values() if p.kind != DICTATION and term in p.terms)
        count = add((s for s in mine if mentions(s, term)), OWN, count, per_term)
        add((frame.format(term=term) for frame in rng.sample(shipped["sentences"], len(shipped["sentences"]))),
            SENTENCE, count, per_term)
        add((frame.format(term=term) for frame in rng.sample(shipped["dictations"], dictations)), DICTATION)
    return interleave(list(chosen.values()), rng)


def frames_for(language: str | None, own_text: str, per_term: int, dictations: int) -> tuple[dict[str, list[str]], int]:
    """The frames to put the terms in, and the dictations a term; a language without frames has the term alone."""
    if own_text_only(language):
        if not own_sentences(own_text):
            name = language_name(language_code(language) or language or "en")
            raise WacftError(f"wacft has no sentences in {name} yet; give a text of your own in it (notes, emails) to"
                             " take sentences from.")
        return {"sentences": [], "dictations": ["{term}"]}, 1
    shipped = frames(language)
    if per_term > len(shipped["sentences"]) or dictations > len(shipped["dictations"]):
        raise WacftError(f"Ask for at most {len(shipped['sentences'])} sentences and "
                         f"{len(shipped['dictations'])} dictations a term.")
    return shipped, dictations


def interleave(prompts: list[Prompt], rng: random.Random) -> list[Prompt]:
    """Sentences in a shuffled order with a dictation after every few, so long and short takes alternate."""
    long = [p for p in prompts if p.kind != DICTATION]
    short = [p for p in prompts if p.kind == DICTATION]
    rng.shuffle(long)
    rng.shuffle(short)
    every = max(1, round(len(long) / max(1, len(short))))
    out = []
    for i, prompt in enumerate(long):
        out.append(prompt)
        if (i + 1) % every == 0 and short:
            out.append(short.pop())
    return out + short
