"""`wacft verify` for real: OpenAI's tiny.en in whisper.cpp on espeak-ng clips of 1-6 s. The base model loops
at dynamic audio context (the problem FUTO published), and a short ACFT run on the CPU fixes most of it."""

import json

import pytest

from wacft.audio import speech_bounds
from wacft.cli import main
from wacft.cli.verify import exit_status
from wacft.convert.convert import convert, plan_outputs
from wacft.dataset.clips import load_clips
from wacft.dataset.spec import DatasetSpec
from wacft.errors import WacftError
from wacft.facts import FUTO_LEAD_SECONDS, FUTO_TAIL_SECONDS, SAMPLE_RATE
from wacft.verify.check import CONTEXTS, verify
from wacft.verify.verdict import NOT_READY, WORSE
from wacft.verify.whispercpp import FUTO, Clip, dynamic_audio_ctx, futo_audio_ctx, transcribe

pytestmark = pytest.mark.slow

SENTENCES = [
    "What time is it?",
    "Please call me back later.",
    "Thanks, that works for me.",
    "No thanks.",
    "Turn left at the next corner and keep going until you see the bridge.",
]
VOICES = ("en-us", "en-gb")
FULL_CONTEXT_DRIFT = 0.05  # measured: see the test that uses it
WORDS_RUNAWAYS, WORDS_DRIFT = 2, 0.1  # the same for the real words: see the test that uses them


def read_dataset(folder):
    return load_clips(DatasetSpec(str(folder), split="test")).clips


@pytest.fixture(scope="module")
def dataset(speech_dataset):
    return speech_dataset(SENTENCES, voices=VOICES)


@pytest.fixture(scope="module")
def samples(dataset):
    clips = read_dataset(dataset)
    assert min(c.seconds for c in clips) >= 1 and max(c.seconds for c in clips) <= 6
    return clips


@pytest.fixture(scope="module")
def base_bins(tiny_en_dir, tmp_path_factory):
    results = convert(str(tiny_en_dir), plan_outputs(tmp_path_factory.mktemp("base") / "tiny_en.bin", ["f16", "q8_0"]))
    return {r.file_type.name: r.path for r in results}


@pytest.fixture(scope="module")
def base(base_bins, samples):
    return verify(base_bins["f16"], samples, threads=2, contexts=CONTEXTS)


def test_base_model_loops_at_dynamic_context(base, samples):
    full, dynamic, futo = (base.model.contexts[c] for c in ("full", "dynamic", "futo"))
    assert full.wer < 0.15 and full.runaways == 0  # tiny.en hears these clips at the full 30 s context
    assert dynamic.runaways >= len(samples) // 2 and dynamic.wer > 1.0  # loops, as FUTO published
    assert futo.audio_ctx > dynamic.audio_ctx  # FUTO's floor of 160 positions and margin of 32 help a little
    for clip, sample in zip(base.model.clips, samples, strict=True):
        n = len(sample.audio)
        assert [h.audio_ctx for h in clip.heard.values()] == [1500, dynamic_audio_ctx(n), futo_audio_ctx(n)]
        assert all(0 < h.encoder_seconds < h.seconds for h in clip.heard.values())


def test_clips_do_not_leak_into_each_other_at_short_context(base_bins, dataset, samples):
    """whisper.cpp's flash-attention path reads stale cross-attention entries past a cut audio_ctx, so the last
    clip's words turn up in the next transcript. The phone's build has no such path, and ours turns it off."""
    short = (dataset / "clip003_en-us.wav", len(samples[6].audio))  # "No thanks."
    long = (dataset / "clip004_en-us.wav", len(samples[8].audio))  # "Turn left at the next corner ..."
    clips = [Clip(wav, dynamic_audio_ctx(n), max_tokens=32) for wav, n in (short, long, short)]
    first, _, again = transcribe(base_bins["f16"], clips, decoding=FUTO)
    assert again.text == first.text


@pytest.fixture(scope="module")
def acft_bin(acft_run, tmp_path_factory):
    """tiny.en after `wacft train` as it comes, on espeak-ng clips of other sentences (the run test_verify_run.py
    shares, conftest.py's acft_run: ACFT teaches the short context, not these words), as f16."""
    out, _ = acft_run
    [result] = convert(str(out), plan_outputs(tmp_path_factory.mktemp("acft") / "tiny_en_acft.bin", ["f16"]))
    return result.path


def test_acft_trained_model_loops_less_and_the_verdict_reflects_it(acft_bin, samples, base):
    acft = verify(acft_bin, samples, threads=2, contexts=CONTEXTS)
    acft.baseline = base.model

    ours, theirs = acft.model.contexts, base.model.contexts
    assert ours["dynamic"].wer < theirs["dynamic"].wer / 3
    assert ours["dynamic"].runaways < theirs["dynamic"].runaways
    assert ours["futo"].wer <= theirs["futo"].wer
    # Distillation keeps the full-context model. Measured with the default settings (tiny.en, these 60 words, FUTO's
    # decoding), when this model was trained on 24 clips of 12 other sentences: the trained model's full-context WER was
    # 5.0%, 5.0% and 3.3% for seeds 0, 1 and 2, the base's 5.0% (bench/bench_verify_seeds.py prints these); with the
    # silence made up, 5.0% and 5.0% for seeds 0 and 1. The old default, with no batches at full context, drifted by up
    # to 5 words either way from seed to seed; another CPU's numerics are one more such draw. So: no runaways, and at
    # most 3 more word errors than the base (0.05).
    assert ours["full"].runaways == 0
    assert ours["full"].wer <= theirs["full"].wer + FULL_CONTEXT_DRIFT
    assert ours["futo"].runaways == 0  # none at the phone's context for any seed measured
    # All three seeds kept within a word at full context, which 12 clips cannot tell from none: the verdict is
    # "ready" or "too few clips to tell", never "not ready", and the loops question is never "worse".
    assert acft.answers[0].outcome != WORSE and acft.state != NOT_READY, acft.verdict


def test_cli_with_a_baseline_and_a_quantized_file(base_bins, dataset, tmp_path, capsys):
    report = tmp_path / "report.json"
    argv = ["verify", str(base_bins["q8_0"]), "--dataset", str(dataset), "--limit", "2", "--as-recorded",
            "--baseline", str(base_bins["f16"]), "--f16", "auto", "--json", str(report),
            "--threads", "2"]
    status = main(argv)
    out = capsys.readouterr().out
    data = json.loads(report.read_text())
    assert status == exit_status(data["state"])  # a script can gate on it
    assert f"comparing with the f16 file {base_bins['f16']}" in out
    assert "base WER" in out and data["verdict"] in out
    assert len(data["model"]["clips"]) == 2 and data["baseline"]["model"] == str(base_bins["f16"])
    quantized = data["quantized"]
    assert quantized["identical"]["full"] == 2 and quantized["wer_delta"]["full"] == 0
    assert data["verdict"] in out


def test_cli_gives_the_clips_the_silence_the_phone_records(base_bins, dataset, samples, tmp_path, capsys):
    report = tmp_path / "report.json"
    main(["verify", str(base_bins["f16"]), "--dataset", str(dataset), "--limit", "2",
          "--engine", "current", "--greedy", "--json", str(report), "--threads", "2"])
    said = capsys.readouterr().out
    assert ("each clip laid out as the phone records it: its silence made up to 0.6 s before the speech and 1.98 s"
            " after") in said
    clips = json.loads(report.read_text())["model"]["clips"]
    for clip, sample in zip(clips, samples[:2], strict=True):
        start, end = speech_bounds(sample.audio, pad=0.0)  # the speech, and then exactly the phone's silence
        n = round(clip["seconds"] * SAMPLE_RATE)
        assert abs(n - (end - start) - (FUTO_LEAD_SECONDS + FUTO_TAIL_SECONDS) * SAMPLE_RATE) <= 1
        assert clip["heard"]["futo"]["audio_ctx"] == futo_audio_ctx(n)
    main(["verify", str(base_bins["f16"]), "--dataset", str(dataset), "--limit", "2", "--as-recorded",
          "--engine", "current", "--greedy", "--json", str(report), "--threads", "2"])
    assert "laid out" not in capsys.readouterr().out
    clips = json.loads(report.read_text())["model"]["clips"]
    assert [c["seconds"] for c in clips] == [len(s.audio) / SAMPLE_RATE for s in samples[:2]]


def test_a_model_whisper_cpp_cannot_run_is_named(random_whisper, samples, tmp_path):
    [f32] = convert(str(random_whisper()), plan_outputs(tmp_path / "random.bin", ["f32"]))
    with pytest.raises(WacftError, match="whisper.cpp stopped on .*random_f32.bin"):
        verify(f32.path, samples[:1])


def test_acft_trained_model_stops_most_loops_on_real_words_on_the_phone(phone_engine, base_bins, acft_bin, real_words):
    """Real recorded single words, the shortest dictations, laid out as FUTO records them and decoded as the phone
    decodes in its whisper.cpp: the base model runs away on a third of them at FUTO's context. The same trained
    model, which never heard a real voice, on one or two at most, and keeps its full-context WER."""
    words = read_dataset(real_words)
    theirs = verify(base_bins["f16"], words, threads=2, engines=[phone_engine]).model.contexts
    ours = verify(acft_bin, words, threads=2, engines=[phone_engine]).model.contexts
    assert theirs["futo"].runaways >= len(words) // 4
    # Measured (bench/bench_verify_seeds.py, seeds 0-2, with the 24-clip training of then): the base runs away on 24 at
    # FUTO's context, the trained model on 0, 0 and 1; its full-context WER was 44.6%, 44.6% and 48.6% against the
    # base's 44.6% (a word is 1.4 points of 72). Trained with each clip's silence made up rather than added whole (seeds
    # 0 and 1, another machine, where the base runs away on 30): 1 and 0, at 48.6% and 47.3%. So: at most one runaway
    # more than the worst seed (another CPU's numerics are one more draw), and at most 0.1 (7 words, over twice the
    # worst seed's drift) above the base at full context.
    assert ours["futo"].runaways <= WORDS_RUNAWAYS
    assert ours["full"].runaways == 0
    assert ours["full"].wer <= theirs["full"].wer + WORDS_DRIFT
