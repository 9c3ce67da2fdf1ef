"""The languages a .bin is decoded in, as FUTO Keyboard decodes: with one language enabled it forces it, with
several it lets Whisper's language detection choose among them only (its allowed_langs patch of whisper.cpp,
native/jni/org_futo_voiceinput_WhisperGGML.cpp). Standard library and the GGML header only."""

from __future__ import annotations

import os

from wacft.convert.ggml import read_ggml
from wacft.errors import WacftError
from wacft.facts import LANGUAGES, language_code, language_name


def parse_languages(text: str | None) -> tuple[str, ...]:
    """"de,en" (codes or names) as codes, in order, each once; WacftError for one Whisper does not know."""
    codes = []
    for typed in (t.strip() for t in (text or "").split(",")):
        if not typed:
            continue
        code = language_code(typed)
        if code is None:
            raise WacftError(f"{typed!r} is not one of Whisper's {len(LANGUAGES)} languages; give codes such as"
                             " de or fr, or names such as german.")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def decoding_languages(model: str | os.PathLike[str], language: str | None, languages: str | None = None
                       ) -> tuple[str, tuple[str, ...]]:
    """The data's language (what the texts are scored in) and the languages to decode `model` in: `languages`
    when given ("de,en": chosen among, clip by clip), else `language` alone (forced; English by default). An
    English-only model decodes English only: anything else is one sentence."""
    named = parse_languages(language)
    if len(named) > 1:
        raise WacftError(f"--language is {language!r}: the data's one language; several for the model to choose"
                         " among go in --languages.")
    chosen = parse_languages(languages) or named or ("en",)
    if not read_ggml(model).hparams.multilingual and chosen != ("en",):
        other = next(c for c in chosen if c != "en")
        raise WacftError(f"{os.fspath(model)} is English-only and cannot transcribe {language_name(other)}; verify"
                         " with --language en, or convert a multilingual model.")
    return (named or chosen)[0], chosen
