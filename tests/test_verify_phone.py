"""FUTO Keyboard's decoding asserted through whisper.cpp itself, in the generation the phone ships (whisper.cpp
1.5.4, from pywhispercpp 1.2.0 in its own venv) and the current one: beam search and greedy hear differently, the
glossary prompt makes the base tiny.en spell words it otherwise misses, every file type loads, and the base
model's loops at FUTO's context fail the verdict."""

import json

import pytest

from wacft.audio import load_audio
from wacft.cli import main
from wacft.cli.verify import exit_status
from wacft.convert.convert import convert, plan_outputs
from wacft.dataset.clips import load_clips
from wacft.dataset.spec import DatasetSpec
from wacft.verify import phone_engine as phone
from wacft.verify.check import token_cap, verify
from wacft.verify.normalize import english
from wacft.verify.whispercpp import FUTO, Clip, Decoding, futo_audio_ctx, glossary_prompt, parse_glossary, transcribe

pytestmark = pytest.mark.slow

GLOSSARY_SENTENCE = "Deploy the service with Kubectl and check Grafana."
TERMS = ("Kubectl", "Grafana")
LOOPING_SENTENCE = "Open the Jira ticket and ping Priya on Slack."  # tiny.en loops on it at FUTO's context


@pytest.fixture(scope="module")
def tiny_bins(tiny_en_dir, tmp_path_factory):
    results = convert(str(tiny_en_dir), plan_outputs(tmp_path_factory.mktemp("tiny") / "tiny_en.bin",
                                                     ["f16", "q8_0", "q5_0"]))
    return {r.file_type.name: r.path for r in results}


def at_futo_context(wav):
    n = len(load_audio(wav))
    return Clip(wav, futo_audio_ctx(n), token_cap(n))


def test_the_glossary_prompt_is_built_as_futo_keyboard_builds_it():
    assert glossary_prompt(("GitHub", "Kubernetes")) == "(Glossary: GitHub, Kubernetes)"
    assert glossary_prompt(()) == ""  # an empty personal dictionary sends no prompt
    assert parse_glossary("GitHub, Kubernetes") == ("GitHub", "Kubernetes")
    assert parse_glossary("GitHub\n  Kubernetes \n\nPyTorch\n") == ("GitHub", "Kubernetes", "PyTorch")
    assert Decoding(glossary=TERMS).prompt == "(Glossary: Kubectl, Grafana)" and FUTO.beam_size == 5


@pytest.mark.parametrize("file_type", ["f16", "q8_0", "q5_0"])
def test_the_phone_engine_runs_the_real_tiny_en(phone_engine, tiny_bins, speak, file_type):
    [heard] = transcribe(tiny_bins[file_type], [Clip(speak("What time is it?"))], decoding=FUTO, engine=phone_engine,
                         threads=2)
    assert english(heard.text) == "what time is it"
    assert 0 < heard.encoder_seconds < heard.seconds


def test_beam_search_and_greedy_hear_differently_on_the_phone(phone_engine, tiny_bins, speak):
    clip = at_futo_context(speak(GLOSSARY_SENTENCE))
    [greedy] = transcribe(tiny_bins["f16"], [clip], decoding=Decoding(beam_size=1), engine=phone_engine, threads=2)
    [beam] = transcribe(tiny_bins["f16"], [clip], decoding=FUTO, engine=phone_engine, threads=2)
    assert greedy.text != beam.text


def test_the_glossary_makes_the_base_model_spell_the_terms(phone_engine, tiny_bins, speak):
    clip = at_futo_context(speak(GLOSSARY_SENTENCE))
    [plain] = transcribe(tiny_bins["f16"], [clip], decoding=FUTO, engine=phone_engine, threads=2)
    [prompted] = transcribe(tiny_bins["f16"], [clip], decoding=Decoding(glossary=TERMS), engine=phone_engine,
                            threads=2)
    assert not any(term in plain.text for term in TERMS), plain.text
    assert all(term in prompted.text for term in TERMS), prompted.text


@pytest.fixture(scope="module")
def looping_dataset(speech_dataset):
    return speech_dataset([LOOPING_SENTENCE, "What time is it?"], voices=("en-us",))


def test_the_base_models_loops_at_futo_context_on_the_phone_fail_the_verdict(phone_engine, tiny_bins,
                                                                           looping_dataset):
    samples = load_clips(DatasetSpec(str(looping_dataset))).clips
    check = verify(tiny_bins["f16"], samples, engines=[phone_engine], threads=2)
    futo = check.model.contexts["futo"]
    assert check.model.engine == phone.LABEL
    assert check.model.contexts["full"].runaways == 0 and futo.runaways >= 1
    assert not check.ready
    assert f"Loops at the phone's context: worse, {futo.runaways} runaway{'s' * (futo.runaways > 1)}." in (
        check.verdict)


def test_cli_glossary_file_greedy_and_the_current_engine(tiny_bins, looping_dataset, tmp_path, capsys):
    terms = tmp_path / "dictionary.txt"
    terms.write_text("Jira\nPriya\n")
    report = tmp_path / "report.json"
    argv = ["verify", str(tiny_bins["q8_0"]), "--dataset", str(looping_dataset), "--limit", "1", "--engine",
            "current", "--greedy", "--glossary-file", str(terms), "--glossary", "Slack", "--json", str(report),
            "--threads", "2"]
    status = main(argv)
    out = capsys.readouterr().out
    assert "in whisper.cpp of pywhispercpp" in out and phone.LABEL not in out
    data = json.loads(report.read_text())
    assert status == exit_status(data["state"])  # the exit status follows the verdict
    assert data["decoding"] == {"beam_size": 1, "glossary": ["Jira", "Priya", "Slack"]}  # command-line order
    assert data["other"] is None


def test_a_phone_engine_with_no_wheel_is_said_in_one_sentence(tiny_bins, looping_dataset, monkeypatch, capsys,
                                                              tmp_path):
    monkeypatch.setattr(phone, "PYTHONS", ((2, 7),))
    report = tmp_path / "report.json"
    argv = ["verify", str(tiny_bins["q8_0"]), "--dataset", str(looping_dataset), "--limit", "1", "--greedy",
            "--json", str(report)]
    sentence = ("The phone's whisper.cpp (1.5.4, from pywhispercpp 1.2.0) cannot be installed here (its wheels are"
                " for CPython 2.7); verifying in the current whisper.cpp alone.")
    for engine in ("phone", "both"):  # either way: the current engine alone, as the sentence says
        status = main(argv + ["--engine", engine])
        assert status == exit_status(json.loads(report.read_text())["state"])
        out = capsys.readouterr().out
        assert sentence in out and "in whisper.cpp of pywhispercpp" in out


def test_real_speech_short_dictations_loop_at_futo_context_on_the_phone(phone_engine, tiny_bins, real_speech):
    """Recorded people, not espeak-ng: PocketSphinx's card-game dictations of 1-3.5 s. tiny.en hears them at the
    full context and loops on some of them at FUTO's, decoded as the phone decodes in the phone's whisper.cpp."""
    clips = load_clips(DatasetSpec(str(real_speech))).clips
    dictations = [c for c in clips if c.text.endswith(("clubs", "five", "hearts"))]
    assert len(dictations) == 5 and max(c.seconds for c in dictations) < 4
    check = verify(tiny_bins["f16"], dictations, engines=[phone_engine], threads=2)
    full, futo = check.model.contexts["full"], check.model.contexts["futo"]
    assert full.runaways == 0 and full.wer < 0.25
    assert futo.runaways >= 1 and not check.ready
    looping = [c.reference for c in check.model.clips if c.heard["futo"].runaway]
    assert f"Loops at the phone's context: worse, {futo.runaways} runaway" in check.verdict, looping


async def test_the_wizard_verifies_in_the_phones_engine_with_the_persons_glossary(phone_engine, tiny_bins,
                                                                                 speech_dataset, wacft_home):
    from test_tui import settle, text
    from textual.widgets import Input

    from wacft.tui.app import WacftApp
    from wacft.tui.session import Session

    dataset = speech_dataset(["What time is it?"], voices=("en-us",))
    session = Session(step="verify", bins={"q8_0": str(tiny_bins["q8_0"])}, dataset=str(dataset), split="test",
                      glossary="Jira, Priya")
    app = WacftApp(session, environment=lambda: [], phones=lambda: (None, []))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await settle(pilot, app, lambda: app.screen.query("#glossary"))
        assert app.screen.query_one("#glossary", Input).value == "Jira, Priya"
        app.screen.query_one("#glossary", Input).value = "Jira, Priya, Slack"
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "✓" in text(app, "#result") or "✗" in text(app, "#result"), tries=3000)
        shown = text(app, "#result")
        assert text(app, "#doing") == ""  # what was decoding, and the engine's install, gone with the work
    assert f"in {phone.LABEL}:" in shown and "in whisper.cpp of pywhispercpp" not in shown  # the other on request
    assert app.session.glossary == "Jira, Priya, Slack"
    assert app.session.verified["file"] == str(tiny_bins["q8_0"]) and app.session.verified["verdict"] in shown
    assert Session.load().verified == app.session.verified
