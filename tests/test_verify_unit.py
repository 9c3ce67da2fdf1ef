"""`wacft verify` without whisper.cpp: normalisation, runaway detection, verdicts, JSON, and bad input."""

import json
import subprocess
import sys

import pytest

from wacft.cli import main
from wacft.convert.normalize import basic, english, normalizer, word_error_rate
from wacft.convert.verify import (
    CONTEXTS,
    NO_BASELINE,
    ClipResult,
    ContextSummary,
    Heard,
    ModelResult,
    Verification,
    _summarise,
    is_runaway,
    token_cap,
    verify,
)
from wacft.errors import WacftError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, World!", "hello world"),
        ("I'm sure they'll say we can't.", "i am sure they will say we can not"),
        ("Can you book a table for four people at seven?", "can you book a table for 4 people at 7"),
        ("twenty-one, two thousand and five, one hundred and one", "21 2005 101"),
        ("one two three", "1 2 3"),  # digits read out one by one stay apart
        ("It costs $5, or 1,000 pounds: 3%.", "it costs 5 dollars or 1000 pounds 3 percent"),
        ("[laughter] Um, the colour is grey (inaudible).", "the color is gray"),
        ("Caf\u00e9 \u201cau lait\u201d, it\u2019s Mr Smith", "cafe au lait it's mister smith"),
        ("and then, and one", "and then and 1"),
    ],
)
def test_english_normalisation(text, expected):
    assert english(text) == expected


def test_other_languages_are_only_lower_cased_and_stripped():
    assert basic("\u00c7a va? \u00abTr\u00e8s\u00bb bien, [rire] merci!") == "\u00e7a va tr\u00e8s bien merci"
    assert normalizer("fr") is basic and normalizer("en") is english


def test_wer_pools_the_words_of_every_clip_and_skips_clips_with_nothing_to_say():
    # one error in a 1-word clip and none in a 3-word one: 1 of 4 words pooled (a mean of the clips would be 50%)
    assert word_error_rate(["yes", "call me now"], ["no", "call me now"], "verify") == 0.25
    assert word_error_rate(["", "call me now"], ["uh", "call me later"], "train") == pytest.approx(1 / 3)
    assert word_error_rate(["", ""], ["noise", ""], "verify") == 0.0


@pytest.mark.parametrize(
    "hypothesis, reference, runaway",
    [
        ("what time is it", "what time is it", False),
        ("what time is it what time is it what time is it", "what time is it", True),
        ("yes yes yes yes yes yes", "yes", True),
        ("no no no", "no no no", False),  # said three times, heard three times
        ("the low world the low world", "hello world", False),  # wrong, but not looping
        ("a b c d e f g h i j k l m n o", "a b c d e", True),  # far longer than what was said
        ("", "hello", False),
    ],
)
def test_runaway_outputs(hypothesis, reference, runaway):
    assert is_runaway(hypothesis, reference) is runaway


def test_token_cap_follows_the_clip_and_stops_at_futo_s():
    assert token_cap(16000) < token_cap(6 * 16000) < token_cap(60 * 16000) == 256


def summary(wer, runaways=0, latency=1.0):
    return ContextSummary(wer, runaways, latency, latency / 2, 100.0)


def result(full, dynamic, futo, model="m.bin", words=1000):
    heard = Heard(100, "hello", 0.0, False, 0.5, 0.2)
    clips = [ClipResult("Hello.", 1.0, dict.fromkeys(CONTEXTS, heard))]
    return ModelResult(model, words, {"full": full, "dynamic": dynamic, "futo": futo}, clips)


def test_verdict_ready():
    check = Verification(result(summary(0.10), summary(0.105), summary(0.11)))
    assert check.ready
    assert check.verdict == (
        "Dynamic-context WER within 10% of full context, no runaway outputs: ready for the phone. Its"
        " full-context WER was not compared with the base model's: pass --baseline BASE.bin to check that"
        " training kept it."
    )


def test_verdict_names_what_is_wrong():
    check = Verification(result(summary(0.12), summary(2.33, runaways=22), summary(0.43, runaways=3)))
    assert not check.ready
    assert check.verdict == (
        "Not ready for the phone: dynamic-context WER 233.0% against 12.0% at full context; 22 runaway outputs at"
        " dynamic context; futo-context WER 43.0% against 12.0% at full context; 3 runaway outputs at futo context."
        " Its full-context WER was not compared with the base model's: pass --baseline BASE.bin to check that"
        " training kept it."
    )


def test_one_word_is_not_a_failure():
    assert Verification(result(summary(0.0), summary(0.009), summary(0.0))).ready
    assert Verification(result(summary(0.05), summary(0.05 + 1 / 60), summary(0.05), words=60)).ready
    assert not Verification(result(summary(0.05), summary(0.05 + 2 / 60), summary(0.05), words=60)).ready
    base = result(summary(4 / 12), summary(4 / 12), summary(4 / 12), "base.bin", words=12)
    one_more = result(summary(5 / 12), summary(5 / 12), summary(5 / 12), words=12)  # 4/12 + 1/12 > 5/12 in floats
    assert Verification(one_more, baseline=base).ready


def test_a_clip_heard_at_full_context_and_lost_at_the_phones_is_not_ready():
    """On the phone an empty transcript types nothing; in the WER it is one word of a short dictation. Counted
    only where words were said, whisper.cpp's marks for silence being nothing typed."""
    heard = [Heard(100, text, 0.0, False, 0.5, 0.2) for text in ("", "[BLANK_AUDIO]", "", "hello")]
    assert _summarise("futo", [ClipResult("", 1.0, {"futo": h}) for h in heard], ["hi", "hi", "", "hi"],
                      english).empty == 2
    full, futo = summary(0.05), summary(0.05 + 1 / 60)
    futo.empty = 1
    check = Verification(result(full, summary(0.05), futo, words=60))
    assert not check.ready
    assert check.verdict.startswith("Not ready for the phone: 1 clip with speech came out empty at futo context,"
                                    " against 0 at full context.")
    full.empty = 1  # lost at full context too: the clip, not the context
    assert Verification(result(full, summary(0.05), futo, words=60)).ready


def test_a_model_that_cannot_transcribe_is_not_ready_however_its_contexts_agree():
    check = Verification(result(summary(0.9), summary(0.9), summary(0.9)))
    assert not check.ready and "even at full context" in check.verdict


def test_verdict_against_the_base_model():
    base = result(summary(0.12), summary(2.33, runaways=22), summary(0.43, runaways=3), "base.bin")
    acft = result(summary(0.12), summary(0.30, runaways=2), summary(0.15), "acft.bin")
    verdict = Verification(acft, baseline=base).verdict
    assert verdict.startswith("Not ready for the phone: dynamic-context WER 30.0%")
    assert verdict.endswith(
        "At dynamic context it is better than the base model: WER 233.0% -> 30.0%, runaways 22 -> 2."
    )
    assert "worse than the base model" in Verification(base, baseline=acft).verdict


def test_a_model_trained_too_far_for_the_full_context_is_not_ready():
    base = result(summary(0.08), summary(2.33, runaways=22), summary(0.43, runaways=3), "base.bin")
    acft = result(summary(0.32), summary(0.13), summary(0.05), "acft.bin")
    assert Verification(acft).ready  # on its own, its short contexts are as good as its full one
    check = Verification(acft, baseline=base)
    assert not check.ready
    assert check.verdict.startswith(
        "Not ready for the phone: full-context WER 32.0% against 8.0% for the base model (training went too far:"
        " fewer epochs or a lower --lr)."
    )


def test_json_for_the_tui():
    base = result(summary(0.12), summary(2.33, runaways=22), summary(0.43, runaways=3), "base.bin")
    check = Verification(result(summary(0.1), summary(0.1), summary(0.1)), baseline=base)
    data = json.loads(check.to_json())
    assert data["ready"] is True and data["verdict"] == check.verdict
    assert data["model"]["contexts"]["dynamic"] == {
        "wer": 0.1, "runaways": 0, "latency": 1.0, "encoder_latency": 0.5, "audio_ctx": 100.0, "empty": 0
    }
    assert data["model"]["clips"][0]["heard"]["futo"]["text"] == "hello"
    assert data["baseline"]["contexts"]["dynamic"]["runaways"] == 22 and data["quantized"] is None


def test_table_puts_the_base_model_beside():
    base = result(summary(0.12), summary(2.33, runaways=22), summary(0.43, runaways=3), "base.bin")
    lines = Verification(result(summary(0.1), summary(0.1), summary(0.1)), baseline=base).table().splitlines()
    assert lines[0] == "in current:"
    assert lines[1].split() == [
        "context", "audio_ctx", "WER", "runaways", "empty", "latency", "encoder", "speed-up", "|", "base", "WER",
        "runaways", "latency",
    ]
    assert lines[3].split() == [
        "dynamic", "100", "10.0%", "0", "0", "1.00s", "0.50s", "1.0x", "|", "233.0%", "22", "1.00s"
    ]


def in_engine(model_result, engine):
    model_result.engine = engine
    return model_result


def test_the_verdict_is_the_phone_engines_and_says_where_the_engines_disagree():
    phone = in_engine(result(summary(0.12), summary(2.33, runaways=22), summary(0.43, runaways=3)), "phone 1.5.4")
    current = in_engine(result(summary(0.10), summary(0.105), summary(0.11)), "current 1.8")
    check = Verification(phone, other=current)
    assert not check.ready
    assert check.verdict.endswith(
        "3 runaway outputs at futo context. The engines disagree: in current 1.8 it is ready; the verdict follows"
        " phone 1.5.4." + NO_BASELINE
    )
    assert Verification(current, other=phone).verdict.endswith(
        "ready for the phone. The engines disagree: in phone 1.5.4 it is not ready (dynamic-context WER 233.0%"
        " against 12.0% at full context; 22 runaway outputs at dynamic context; futo-context WER 43.0% against"
        " 12.0% at full context; 3 runaway outputs at futo context); the verdict follows current 1.8." + NO_BASELINE
    )
    agreeing = in_engine(result(summary(0.10), summary(0.105), summary(0.11)), "phone 1.5.4")
    assert "disagree" not in Verification(agreeing, other=current).verdict
    lines = check.table().splitlines()
    assert lines[0] == "in phone 1.5.4:" and lines[5] == "in current 1.8:" and lines[9].split()[:3] == [
        "futo", "100", "11.0%"]


def test_no_clips():
    with pytest.raises(WacftError, match="no clips"):
        verify("model.bin", [])


@pytest.fixture
def not_ggml(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"not a model at all" * 10)
    return path


def test_cli_names_a_file_that_is_not_ggml(not_ggml, tmp_path, capsys):
    assert main(["verify", str(not_ggml), "--dataset", str(tmp_path)]) == 1
    assert "model.bin is not a whisper.cpp GGML model" in capsys.readouterr().err


@pytest.fixture(scope="module")
def random_bin(random_whisper, tmp_path_factory):
    from wacft.convert.convert import convert, plan_outputs

    [out] = convert(str(random_whisper()), plan_outputs(tmp_path_factory.mktemp("m") / "random.bin", ["q8_0"]))
    return out.path


def test_cli_names_a_truncated_baseline(random_bin, tmp_path, capsys):
    truncated = tmp_path / "base.bin"
    truncated.write_bytes(random_bin.read_bytes()[:5000])
    assert main(["verify", str(random_bin), "--baseline", str(truncated), "--dataset", str(tmp_path)]) == 1
    assert "base.bin ends in the middle of" in capsys.readouterr().err


def test_cli_names_an_empty_dataset(random_bin, tmp_path, capsys):
    (tmp_path / "metadata.csv").write_text("file_name,text\n")
    assert main(["verify", str(random_bin), "--dataset", str(tmp_path)]) == 1
    assert "lists no clips" in capsys.readouterr().err


def test_cli_names_audio_it_cannot_decode(random_bin, tmp_path, capsys):
    (tmp_path / "a.wav").write_bytes(b"RIFF not really a wav")
    (tmp_path / "b.flac").write_bytes(b"")
    (tmp_path / "metadata.csv").write_text("file_name,sentence\na.wav,hello\nb.flac,world\n")
    assert main(["verify", str(random_bin), "--dataset", str(tmp_path)]) == 1
    assert "no usable clips (0 clips (0.0 min of audio); skipped: 2 undecodable audio)" in capsys.readouterr().err


def test_verify_imports_neither_torch_nor_transformers():
    check = (
        "import sys, wacft.convert.verify, wacft.convert.verify_cli, wacft.acft.data;"
        "print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_names_a_glossary_file_it_cannot_read(random_bin, tmp_path, capsys):
    missing = tmp_path / "dictionary.txt"
    with pytest.raises(SystemExit):  # while the command line is read, as train does
        main(["verify", str(random_bin), "--dataset", str(tmp_path), "--glossary-file", str(missing)])
    assert capsys.readouterr().err.strip().endswith(
        f"The glossary file {missing} cannot be read (No such file or directory)."
    )
