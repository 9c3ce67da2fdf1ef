"""The vocabulary section: Whisper's byte-level BPE tokens as raw bytes, in id order.

whisper.cpp needs only the byte-level tokens (ids below <|endoftext|>); it synthesises the special and
timestamp tokens from n_vocab. Hugging Face stores tokens as GPT-2's printable stand-ins for bytes.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from wacft.errors import WacftError

ENGLISH_EOT = 50256  # multilingual vocabularies have one more byte-level token, so eot is 50257
SPACE_TOKEN = "\u0120"  # GPT-2's stand-in for the byte b" "
# GPT-2's split into words as whisper.cpp writes it for std::regex, on bytes: [[:alpha:]] and \\s are ASCII only
WORDS = re.compile(rb"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


@cache
def byte_decoder() -> dict[str, int]:
    """GPT-2's reversible map from printable unicode stand-ins back to the bytes 0..255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return {chr(b if b in printable else next(extra)): b for b in range(256)}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WacftError(f"{path} cannot be read as JSON ({e}); download the model's tokenizer again.") from e


def token_ids(model_dir: Path) -> dict[str, int]:
    """token -> id from `vocab.json`, else from `tokenizer.json`."""
    if (model_dir / "vocab.json").is_file():
        return _read_json(model_dir / "vocab.json")
    if (model_dir / "tokenizer.json").is_file():
        model = _read_json(model_dir / "tokenizer.json").get("model", {})
        if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
            raise WacftError(f"{model_dir / 'tokenizer.json'} is not a byte-level BPE tokenizer, as Whisper's is.")
        vocab: dict[str, int] = model["vocab"]
        return vocab
    raise WacftError(
        f"{model_dir} has no tokenizer (vocab.json or tokenizer.json); copy the base model's tokenizer files there."
    )


def byte_tokens(model_dir: Path, multilingual: bool) -> list[bytes]:
    """The byte-level tokens 0..eot-1 as bytes; an incomplete or non-Whisper vocabulary is an error."""
    n_tokens = ENGLISH_EOT + multilingual
    by_id: dict[int, str] = {i: t for t, i in token_ids(model_dir).items() if i < n_tokens}
    if len(by_id) != n_tokens or SPACE_TOKEN not in by_id.values():
        raise WacftError(
            f"The tokenizer in {model_dir} has {len(by_id)} of Whisper's {n_tokens} byte-level tokens"
            f" ({'multilingual' if multilingual else 'English-only'}, from the config's vocab_size);"
            " use the base model's tokenizer files."
        )
    decoder = byte_decoder()
    try:
        return [bytes(decoder[c] for c in by_id[i]) for i in range(n_tokens)]
    except KeyError as e:
        raise WacftError(
            f"The tokenizer in {model_dir} is not byte-level BPE (character {e}); it is not Whisper's."
        ) from e


def whispercpp_tokenize(vocab: dict[str, int], eot: int, text: str) -> list[int]:
    """`text` as whisper.cpp's whisper_tokenize turns it into tokens (what FUTO Keyboard's glossary prompt becomes
    on the phone): GPT-2's split into words, then in each word the longest token that fits, from the left. It is
    not BPE: " Kubernetes" comes out as " Kub ern ete s" where Hugging Face's tokenizer gives " Ku ber net es".
    `vocab`: the tokenizer's token -> id; only the byte-level tokens (ids below `eot`) take part, as in whisper.cpp."""
    decoder = byte_decoder()
    by_bytes = {bytes(decoder[c] for c in token): i for token, i in vocab.items()
                if i < eot and all(c in decoder for c in token)}
    ids = []
    for word in WORDS.findall(text.encode()):
        start = 0
        while start < len(word):
            end = next((e for e in range(len(word), start, -1) if word[start:e] in by_bytes), start)
            if end > start:
                ids.append(by_bytes[word[start:end]])
            start = max(end, start + 1)  # whisper.cpp skips a byte no token holds (every byte is one in Whisper's)
    return ids
