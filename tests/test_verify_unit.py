"""`wacft verify` without whisper.cpp: normalisation, runaway detection, verdicts, JSON, and bad input."""

import json
import subprocess
import sys

import pytest

from wacft.cli import main
from wacft.errors import WacftError
from wacft.verify.check import (
    NO_BASELINE,
    ClipResult,
    ContextSummary,
    Heard,
    ModelResult,
    QuantizedCheck,
    Verification,
    _summarise,
    is_runaway,
    token_cap,
    verify,
)
from wacft.verify.normalize import basic, english, normalizer, word_error_rate
from wacft.verify.verdict import BETTER, NO_WORSE, NOT_READY, READY, TOO_FEW, UNCHECKED, UNSURE, WORSE, interval


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


def model(full, futo, loops=(), name="m.bin", words=5, engine="current"):
    """A model's results from each clip's word errors at full and FUTO's context (clips of `words` words), and
    the clips it runs away on at FUTO's context."""
    clips = []
    for i, (a, b) in enumerate(zip(full, futo, strict=True)):
        heard = {"full": Heard(1500, "x", a / words, False, 1.0, 0.5),
                 "futo": Heard(200, "x", b / words, i in loops, 0.5, 0.2)}
        clips.append(ClipResult(f"clip {i}", 2.0, heard, words))
    total = words * len(clips)
    contexts = {"full": summary(sum(full) / total), "futo": summary(sum(futo) / total, len(loops), 0.5)}
    return ModelResult(name, total, contexts, clips, engine)


def outcomes(check):
    return [a.outcome for a in check.answers]


# the story of issue 33, 20 clips of 5 words: the base loops on 6 at FUTO's context
BASE_FULL = [1, 0, 2, 1, 0, 1, 3, 0, 1, 2, 1, 0, 1, 2, 0, 1, 1, 0, 2, 1]
BASE_FUTO = [9, 0, 12, 1, 9, 1, 12, 0, 1, 9, 1, 0, 1, 12, 0, 1, 1, 0, 2, 1]
BASE_LOOPS = (0, 2, 4, 6, 9, 13)


def test_a_model_that_stops_the_bases_loops_and_keeps_its_accuracy_is_ready():
    base = model(BASE_FULL, BASE_FUTO, BASE_LOOPS, "base.bin")
    acft = model(BASE_FULL, [b + (i == 0) - (i == 2) for i, b in enumerate(BASE_FULL)], name="acft.bin")
    check = Verification(acft, baseline=base)
    assert outcomes(check) == [BETTER, NO_WORSE, NO_WORSE] and check.state == READY and check.ready
    assert check.verdict.startswith(
        "Ready for the phone. Loops at the phone's context: better, 6 runaways -> 0 (53 word errors fewer)."
        " WER at the phone's context against the base model's at full context: no worse, WER 20.0% -> 20.0%,"
        " 0 word errors fewer (95% interval ")
    assert "Full-context WER against the base model's: no worse, WER 20.0% -> 20.0%, 0 word errors fewer" in (
        check.verdict)


def test_a_language_scored_by_characters_is_told_in_cer_in_every_sentence():
    """Japanese is written without spaces: its errors are characters, and no sentence may call them words."""
    base = model(BASE_FULL, BASE_FUTO, BASE_LOOPS, "base.bin")
    checks = [Verification(model(BASE_FULL, BASE_FULL), baseline=base, language="ja"),
              Verification(model(BASE_FULL, BASE_FULL), language="ja"), Verification(model([4] * 10, [4] * 10),
                                                                                    language="ja")]
    checks[0].quantized = QuantizedCheck("f16.bin", {"full": 20, "futo": 20}, {"full": 0.0, "futo": -0.01})
    for check in checks:
        said = check.table() + "\n" + check.verdict
        assert "WER" not in said and "word" not in said and "CER" in said, said
    assert "CER at the phone's context against the base model's at full context: no worse, CER 20.0% -> 20.0%," \
           " 0 character errors fewer" in checks[0].verdict
    assert "futo 20/20 identical, CER -1.0 points" in checks[0].table()


def test_a_model_that_loops_where_the_base_did_not_is_not_ready():
    base = model(BASE_FULL, BASE_FULL, name="base.bin")
    check = Verification(model(BASE_FULL, BASE_FULL, loops=(3,)), baseline=base)
    assert outcomes(check)[0] == WORSE and check.state == NOT_READY
    assert check.verdict.startswith("Not ready for the phone. Loops at the phone's context: worse, 0 runaways -> 1")
    # fewer runaways than the base, but one on a clip the base heard: still a loop the person meets
    base = model(BASE_FULL, BASE_FUTO, BASE_LOOPS, "base.bin")
    assert outcomes(Verification(model(BASE_FULL, BASE_FULL, loops=(1,)), baseline=base))[0] == WORSE
    # as many as the base: nothing gained on the phone
    assert outcomes(Verification(model(BASE_FULL, BASE_FUTO, BASE_LOOPS), baseline=base))[0] == WORSE


def test_a_model_that_lost_real_accuracy_is_not_ready():
    base = model(BASE_FULL, BASE_FUTO, BASE_LOOPS, "base.bin")
    worse = [a + 2 for a in BASE_FULL]  # two more words wrong in every clip
    check = Verification(model(worse, worse), baseline=base)
    assert outcomes(check) == [BETTER, WORSE, WORSE] and check.state == NOT_READY


def test_ten_clips_within_noise_are_too_few_to_tell():
    base = model(BASE_FULL[:10], BASE_FULL[:10], name="base.bin")
    ours = [a + (i == 4) * 3 for i, a in enumerate(BASE_FULL[:10])]  # three words more, on one clip
    check = Verification(model(ours, ours), baseline=base)
    assert outcomes(check) == [NO_WORSE, UNSURE, UNSURE] and check.state == TOO_FEW and not check.ready
    assert check.verdict.startswith("Too few clips to tell. ")


def test_without_a_base_the_phone_context_is_held_to_the_full_one():
    check = Verification(model(BASE_FULL, BASE_FULL))
    assert outcomes(check) == [NO_WORSE, NO_WORSE, UNCHECKED] and check.ready
    assert check.verdict.endswith("not checked (no base model to compare with)." + NO_BASELINE.format(rate="WER"))
    looping = Verification(model(BASE_FULL, BASE_FUTO, BASE_LOOPS))
    assert looping.state == NOT_READY
    assert looping.verdict.startswith("Not ready for the phone. Loops at the phone's context: worse, 6 runaways.")


def test_a_model_that_cannot_transcribe_is_not_ready_however_its_contexts_agree():
    check = Verification(model([4] * 10, [4] * 10))
    assert not check.ready and "even at full context" in check.verdict


def test_the_interval_is_paired_and_narrows_with_more_clips():
    words = [5] * 10
    diff, low, high = interval([1] * 10, [0] * 10, words)  # one more word in every clip: sure
    assert diff == low == high == 0.2
    _, low, high = interval([1] + [0] * 9, [0] * 10, words)
    _, low_more, high_more = interval(([1] + [0] * 9) * 10, [0] * 100, words * 10)
    assert low <= 0 < high and high_more - low_more < (high - low) / 2


def test_a_clip_heard_at_full_context_and_lost_at_the_phones_counts_as_empty():
    """On the phone an empty transcript types nothing. Counted only where words were said, whisper.cpp's marks
    for silence being nothing typed."""
    heard = [Heard(100, text, 0.0, False, 0.5, 0.2) for text in ("", "[BLANK_AUDIO]", "", "hello")]
    assert _summarise("futo", [ClipResult("", 1.0, {"futo": h}) for h in heard], ["hi", "hi", "", "hi"],
                      english).empty == 2


def test_json_for_the_tui():
    check = Verification(model(BASE_FULL, BASE_FULL), baseline=model(BASE_FULL, BASE_FUTO, BASE_LOOPS, "base.bin"))
    data = json.loads(check.to_json())
    assert data["ready"] is True and data["state"] == READY and data["verdict"] == check.verdict
    assert data["model"]["contexts"]["futo"] == {
        "wer": 0.2, "runaways": 0, "latency": 0.5, "encoder_latency": 0.25, "audio_ctx": 100.0, "empty": 0
    }
    assert data["baseline"]["contexts"]["futo"]["runaways"] == 6 and data["quantized"] is None
    assert ModelResult.from_dict(data["baseline"]) == check.baseline  # how the base's results are cached


def test_table_puts_the_base_model_beside_and_the_other_engine_below():
    base = model(BASE_FULL, BASE_FUTO, BASE_LOOPS, "base.bin")
    check = Verification(model(BASE_FULL, BASE_FULL, engine="phone 1.5.4"), baseline=base,
                         other=model(BASE_FULL, BASE_FULL, engine="current 1.8"))
    lines = check.table().splitlines()
    assert lines[0] == "in phone 1.5.4:"
    assert lines[1].split() == [
        "context", "audio_ctx", "WER", "runaways", "empty", "latency", "encoder", "speed-up", "|", "base", "WER",
        "runaways", "latency",
    ]
    assert lines[3].split() == ["futo", "100", "20.0%", "0", "0", "0.50s", "0.25s", "2.0x", "|", "73.0%", "6", "0.50s"]
    assert lines[4] == "in current 1.8:"


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
        "import sys, wacft.verify.check, wacft.cli.verify, wacft.dataset.clips;"
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
