"""Every language FUTO runs: the language named is one of Whisper's, it goes with the model, and a multilingual
model trains, verifies and converts in it (a random-weight multilingual Whisper, espeak-ng speech)."""

import pytest
from fixtures.events import run
from test_tui import settle, text
from textual.widgets import Input

from wacft.acft.config import TrainConfig
from wacft.acft.validate import InvalidSetting, language_problem, problem
from wacft.cli import main as cli
from wacft.facts import LANGUAGES, OTHER_VOICE_CLIPS, OTHER_VOICES, language_code, language_name
from wacft.tui.app import WacftApp
from wacft.tui.session import Session

pytestmark = pytest.mark.usefixtures("wacft_home")

# the languages the project has sentences and voices for (besides English)
COVERED = ("de", "fr", "es", "it", "pt", "nl", "pl")


def test_the_language_list_is_whispers_own_in_its_token_order():
    from transformers.models.whisper.tokenization_whisper import LANGUAGES as TRANSFORMERS

    assert list(LANGUAGES.items()) == list(TRANSFORMERS.items())


@pytest.mark.parametrize("typed, code", [("de", "de"), ("DE", "de"), ("German", "de"), (" french ", "fr"),
                                         ("haitian creole", "ht"), ("xx", None), ("deutsch", None), ("", None)])
def test_a_language_is_a_code_or_an_english_name(typed, code):
    assert language_code(typed) == code
    assert (problem("language", typed or None) is None) == (code is not None or not typed)


def test_an_unknown_language_is_one_sentence():
    assert problem("language", "deutsch") == ("--language is 'deutsch'; it must be one of Whisper's 100 languages, as"
                                              " a code such as de or fr or a name such as german.")


def test_the_language_goes_with_the_model():
    assert language_problem("openai/whisper-base.en", False, "fr") == (
        "openai/whisper-base.en is English-only and cannot learn French; start from a multilingual model (e.g."
        " openai/whisper-base, without .en).")
    assert language_problem("m", False, None) is None and language_problem("m", False, "English") is None
    assert language_problem("m", True, None).startswith("m is multilingual; name the language of the data with")
    assert language_problem("m", True, "pl") is None
    assert language_name("pt") == "Portuguese"


def test_training_an_english_only_model_in_german_is_refused_before_the_data_is_read(random_whisper, tmp_path):
    (tmp_path / "empty").mkdir()  # reading it would fail: the language is refused first
    config = TrainConfig(model=str(random_whisper()), dataset=str(tmp_path / "empty"), out=str(tmp_path / "o"),
                         language="de", epochs=1)
    with pytest.raises(InvalidSetting, match=r"is English-only and cannot learn German; start from a multilingual"):
        run(config)


def test_the_command_line_refuses_an_unknown_language_in_one_sentence(random_whisper, tmp_path, capsys):
    code = cli(["train", "--model", str(random_whisper()), "--dataset", str(tmp_path), "--language", "klingon",
                "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code != 0 and "--language is 'klingon'; it must be one of Whisper's 100 languages" in err
    assert "Traceback" not in err


async def test_the_model_step_checks_the_language_against_the_model(random_whisper, tmp_path):
    english, multilingual = random_whisper(), random_whisper(multilingual=True)
    app = WacftApp(Session(step="model"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        custom = app.screen.query_one("#custom", Input)
        language = app.screen.query_one("#language", Input)
        custom.value = str(english)
        await settle(pilot, app, lambda: "English-only" in text(app, "#check"))
        language.value = "de"
        await settle(pilot, app, lambda: "cannot learn German" in text(app, "#warning"))
        await pilot.press("ctrl+n")
        assert app.screen.TITLE == "2 · Model" and app.focused is language
        custom.value = str(multilingual)
        await settle(pilot, app, lambda: "multilingual" in text(app, "#check"))
        assert not text(app, "#warning").strip()
        language.value = "klingon"
        await settle(pilot, app, lambda: "The language is 'klingon'" in text(app, "#warning"))
        language.value = ""
        await pilot.press("ctrl+n")
        assert "name the language of the data in the language field" in text(app, "#warning")
        language.value = "German"
        await pilot.press("ctrl+n")
        assert app.screen.TITLE == "3 · Training"
    assert Session.load().language == "German"


# one short sentence each, for the person's own clips
SAID = {"de": "Guten Abend.", "fr": "Bonne soirée.", "es": "Buenas noches.", "it": "Buona sera.",
        "pt": "Boa noite.", "nl": "Goedenavond.", "pl": "Dobry wieczór."}


@pytest.fixture(scope="module")
def multilingual_bin(tmp_path_factory):
    """The random multilingual Whisper and its whisper.cpp file."""
    from fixtures.random_whisper import random_whisper

    from wacft.convert.convert import convert, plan_outputs

    folder = random_whisper(multilingual=True)
    [converted] = convert(str(folder), plan_outputs(tmp_path_factory.mktemp("bin") / "m.bin", ["f16"]))
    return folder, converted.path


def recording_in(language, folder):
    """A folder as the record step leaves it: one take of the person, espeak-ng speaking their language."""
    from fixtures.speech import speak

    from wacft.audio import load_audio
    from wacft.record.folder import RecordingFolder

    recording = RecordingFolder(folder)
    recording.start([], [])
    recording.keep(load_audio(speak(SAID[language], voice=language)), SAID[language])
    return folder


def whispercpp_prefix(model, language):
    """The tokens whisper.cpp starts a forced-language decoding with (whisper.cpp's own ids, from the file)."""
    import _pywhispercpp as pw

    ctx = pw.whisper_init_from_file_with_params(str(model), pw.whisper_context_default_params())
    try:
        return [pw.whisper_token_sot(ctx), pw.whisper_token_lang(ctx, pw.whisper_lang_id(language)),
                pw.whisper_token_transcribe(ctx), pw.whisper_token_not(ctx)]
    finally:
        pw.whisper_free(ctx)


@pytest.mark.parametrize("language", COVERED)
def test_a_recording_trains_with_other_voices_in_its_language_and_the_prefix_verify_forces(
        language, multilingual_bin, tmp_path):
    from fixtures.speech import speak

    from wacft.acft import other_voices
    from wacft.acft.events import CallbackSink
    from wacft.acft.trainer import Trainer
    from wacft.audio import load_audio

    folder, model = multilingual_bin
    config = TrainConfig(model=str(folder), dataset=str(recording_in(language, tmp_path / "mine")),
                         out=str(tmp_path / "run"), language=language_name(language), finetune_epochs=1)
    trainer = Trainer(config, CallbackSink(lambda event: None))
    trainer.load_data()
    sentences, voices = other_voices.sentences(language), OTHER_VOICES[language]
    assert sorted(c.text for c in trainer.clips + trainer.held_out) == sorted(
        [SAID[language], *(s for s in sentences for _ in voices)])
    # each voice is that language's espeak-ng voice: as long as the fixtures' own speech of it at espeak-ng's speed
    mixed = other_voices.other_voice_clips(language)[: len(voices)]
    for clip, voice in zip(mixed, voices, strict=True):
        assert len(clip.audio) == pytest.approx(len(load_audio(speak(sentences[0], voice=voice, speed=175))), rel=0.02)
    # both stages' tokens start with the prefix whisper.cpp forces when verify names the language
    prefix = whispercpp_prefix(model, language)
    assert trainer.prefix == len(prefix)
    assert all(row[: len(prefix)] == prefix for row in trainer.acft_tokens + trainer.word_tokens)


@pytest.mark.parametrize("language", COVERED)
def test_the_record_step_proposes_frames_in_the_language(language):
    from wacft.record.prompts import DICTATION, frames, own_text_only, propose

    shipped = frames(language)
    prompts = propose(["Anja", "Grafana"], per_term=3, dictations=2, language=language_name(language))
    assert own_text_only(language) is None
    assert {p.text for p in prompts} <= {f.format(term=t) for f in shipped["sentences"] + shipped["dictations"]
                                         for t in ("Anja", "Grafana")}
    assert [sum(t in p.terms for p in prompts if p.kind != DICTATION) for t in ("Anja", "Grafana")] == [3, 3]
    assert {s for s in shipped["sentences"] + shipped["dictations"]}.isdisjoint(frames("en")["sentences"])


def test_elsewhere_the_record_step_proposes_the_persons_own_sentences_and_says_so():
    from wacft.errors import WacftError
    from wacft.record.prompts import OWN, own_text_only, propose

    with pytest.raises(WacftError, match=r"^wacft has no sentences in Swedish yet; give a text of your own in it"):
        propose(["Anja"], language="sv")
    own = "Jag ringde Anja i morse. Anja kommer imorgon klockan nio. Vi ses snart."
    prompts = propose(["Anja"], own, language="sv")
    assert sorted((p.kind, p.text) for p in prompts) == [
        ("dictation", "Anja"), (OWN, "Anja kommer imorgon klockan nio."), (OWN, "Jag ringde Anja i morse.")]
    assert own_text_only("sv") == ("wacft has no sentences in Swedish yet: the proposals are sentences from your own"
                                   " text with your words in them, and each word alone.")


def test_wacft_record_proposes_in_the_language_given(tmp_path, capsys):
    from wacft.record.folder import RecordingFolder
    from wacft.record.prompts import frames

    assert cli(["record", str(tmp_path / "mine"), "--terms", "Anja", "--language", "fr", "--summary"]) in (0, None)
    texts = {p.text for p in RecordingFolder(tmp_path / "mine").state.prompts}
    assert texts <= {f.format(term="Anja") for f in frames("fr")["sentences"] + frames("fr")["dictations"]}
    assert cli(["record", str(tmp_path / "other"), "--terms", "Anja", "--language", "klingon"]) != 0
    assert "--language is 'klingon'" in capsys.readouterr().err


async def test_the_record_step_takes_the_language_and_the_model_step_keeps_it(tmp_path):
    from wacft.record.prompts import frames

    app = WacftApp(Session())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "ctrl+t")
        assert app.screen.TITLE == "0 · Record your own"
        app.screen.query_one("#folder", Input).value = str(tmp_path / "mine")
        app.screen.query_one("#terms", Input).value = "Anja"
        app.screen.query_one("#language", Input).value = "nl"
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "to go" in text(app, "#prompt"))
        shown = text(app, "#prompt").splitlines()[-1]
        assert shown in {f.format(term="Anja") for f in frames("nl")["sentences"] + frames("nl")["dictations"]}
        app.screen.query_one("#terms", Input).value = "Anja"
        app.screen.query_one("#language", Input).value = "sv"
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "no sentences in Swedish yet" in text(app, "#take"))
    assert Session.load().language == "nl"


def test_whispers_basic_normaliser_for_other_languages_and_characters_where_words_have_no_spaces():
    from wacft.verify.normalize import normalizer, rate_name, word_error_rate

    assert normalizer("fr")("L'ami (rires) est là, [bruit] «vraiment» !") == "l ami est là vraiment"
    assert normalizer("pl")("Dzień dobry, Łódź!") == "dzień dobry łódź"
    chinese = normalizer("zh")
    assert chinese("今天，天气很好。") == "今 天 天 气 很 好"
    assert word_error_rate([chinese("今天天气很好")], [chinese("今天天气不好")], "verify") == pytest.approx(1 / 6)
    assert (rate_name("zh"), rate_name("ja"), rate_name("de")) == ("CER", "CER", "WER")


def test_verify_decodes_in_the_languages_a_person_names(multilingual_bin, tmp_path):
    from wacft.convert.convert import convert, plan_outputs
    from wacft.errors import WacftError
    from wacft.verify.languages import decoding_languages

    folder, model = multilingual_bin
    assert decoding_languages(model, None) == ("en", ("en",))
    assert decoding_languages(model, "German") == ("de", ("de",))
    assert decoding_languages(model, None, "de, EN,de") == ("de", ("de", "en"))
    assert decoding_languages(model, "en", "de,en") == ("en", ("de", "en"))
    with pytest.raises(WacftError, match=r"^'xx' is not one of Whisper's 100 languages"):
        decoding_languages(model, "de", "de,xx")
    [converted] = convert(str(random_whisper_english()), plan_outputs(tmp_path / "english.bin", ["f16"]))
    english = converted.path
    with pytest.raises(WacftError, match=r"is English-only and cannot transcribe French; verify with"):
        decoding_languages(english, None, "en,fr")


def random_whisper_english():
    from fixtures.random_whisper import random_whisper

    return random_whisper()


@pytest.mark.slow
@pytest.mark.parametrize("language", COVERED)
def test_verify_forces_the_language_as_the_phone_does_with_one_enabled(language, multilingual_bin, speak):
    from wacft.verify.whispercpp import FUTO, Clip, transcribe

    _, model = multilingual_bin
    [heard] = transcribe(model, [Clip(speak(SAID[language], voice=language), max_tokens=4)], language=language,
                         decoding=FUTO)
    assert heard.language == language


@pytest.mark.slow
def test_with_several_languages_the_phone_lets_whisper_choose_among_them_only(multilingual_bin, speak):
    from wacft.verify.phone_engine import phone_engine
    from wacft.verify.whispercpp import Clip, current_engine, transcribe

    _, model = multilingual_bin
    # at the full context: whisper.cpp 1.8's own detection ("auto") runs at the audio_ctx of the call before (the
    # phone's fork sets the call's first, as the choice among several here does)
    clips = [Clip(speak(SAID[code], voice=code), max_tokens=1) for code in ("de", "fr", "pl")]
    for engine in (current_engine(), phone_engine()):
        # every language whisper.cpp knows (large-v3's yue aside): the choice is whisper.cpp's own detection's
        detected = [h.language for h in transcribe(model, clips, language="auto", decoding=None, engine=engine)]
        everything = [c for c in LANGUAGES if c != "yue"]
        chosen = [h.language for h in transcribe(model, clips, languages=everything, decoding=None, engine=engine)]
        assert chosen == detected
        # among a few: the most likely of them, so never one left out, and the same among any that hold it
        for allowed in (["de", "fr"], [detected[0], "it"]):
            picked = [h.language for h in transcribe(model, clips, languages=allowed, decoding=None, engine=engine)]
            assert set(picked) <= set(allowed)
            assert all(p == d for p, d in zip(picked, detected, strict=True) if d in allowed)
        short = [Clip(c.audio, audio_ctx=200, max_tokens=1) for c in clips]  # as the phone cuts a short clip
        assert {h.language for h in transcribe(model, short, languages=["de", "en"], engine=engine)} <= {"de", "en"}


@pytest.mark.slow
def test_wacft_verify_in_german_with_english_enabled_too(multilingual_bin, speech_dataset, tmp_path, capsys):
    import json

    _, model = multilingual_bin
    data = speech_dataset([SAID["de"]], voices=["de"])
    code = cli(["verify", str(model), "--dataset", str(data), "--languages", "de,en", "--engine", "current",
                "--greedy", "--limit", "1", "--as-recorded", "--json", str(tmp_path / "v.json")])
    out = capsys.readouterr()
    assert code in (0, 2) and "Traceback" not in out.err  # random weights: not ready, said as a verdict
    assert json.loads((tmp_path / "v.json").read_text())["language"] == "de"
    assert cli(["verify", str(model), "--dataset", str(data), "--language", "de,fr"]) != 0
    assert "several for the model to choose among go in --languages" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("file_type", ["q5_0", "q8_0"])
def test_a_multilingual_model_keeps_its_language_tokens_and_detection_through_quantization(
        file_type, multilingual_bin, tmp_path, speak):
    import _pywhispercpp as pw
    from transformers import AutoTokenizer

    from wacft.convert.convert import convert, plan_outputs
    from wacft.convert.ggml import read_ggml
    from wacft.verify.whispercpp import Clip, transcribe

    folder, _ = multilingual_bin
    [quantized] = convert(str(folder), plan_outputs(tmp_path / f"m_{file_type}.bin", [file_type]))
    model = read_ggml(quantized.path)
    assert (model.hparams.n_vocab, model.hparams.multilingual, model.file_type.name) == (51865, True, file_type)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ctx = pw.whisper_init_from_file_with_params(str(quantized.path), pw.whisper_context_default_params())
    try:
        for language in ("en", *COVERED):
            tokenizer.set_prefix_tokens(language=language, task="transcribe", predict_timestamps=False)
            ids = tokenizer(SAID.get(language, "Good evening.")).input_ids
            assert ids[:4] == whispercpp_prefix(quantized.path, language)
            # the words' tokens are the same bytes in whisper.cpp (accents and Polish letters included)
            text = b"".join(pw.whisper_token_to_bytes(ctx, i) for i in ids[4:-1]).decode()
            assert text == SAID.get(language, "Good evening.")
    finally:
        pw.whisper_free(ctx)
    # whisper.cpp's language detection runs on it, and the phone's choice among languages too
    clips = [Clip(speak(SAID["de"], voice="de"), max_tokens=1)]
    [auto] = transcribe(quantized.path, clips, language="auto")
    [chosen] = transcribe(quantized.path, clips, languages=["de", "fr", "pl"])
    assert auto.language in LANGUAGES and chosen.language in ("de", "fr", "pl")


def test_the_phone_name_and_import_steps_name_the_language(multilingual_bin, tmp_path):
    from wacft.convert.convert import convert, plan_outputs
    from wacft.device.futo import import_steps
    from wacft.device.naming import BadName, default_name, model_language, read_model_kind

    folder, model = multilingual_bin
    kind = read_model_kind(model)
    assert default_name(model, language=model_language(kind, "German")) == "2layer_de_acft_f16.bin"
    assert default_name(model) == "2layer_acft_f16.bin"  # not known: no language in the name
    assert import_steps("x.bin", True, "de")[-1] == (
        "Choose German: FUTO Keyboard keeps a voice model for each language.")
    [converted] = convert(str(random_whisper_english()), plan_outputs(tmp_path / "english.bin", ["f16"]))
    english = converted.path
    assert model_language(read_model_kind(english), None) == "en"
    assert default_name(english, language="en") == "2layer_en_acft_f16.bin"
    with pytest.raises(BadName, match="English-only, so FUTO Keyboard can use it for English only, not French"):
        model_language(read_model_kind(english), "fr")
    with pytest.raises(BadName, match="'klingon' is not one of Whisper's languages"):
        model_language(kind, "klingon")


async def test_the_phone_step_names_the_language_to_pick_on_import(multilingual_bin, tmp_path, monkeypatch):
    from test_tui import adb_with, push_on

    from wacft.convert.convert import convert, plan_outputs

    folder, _ = multilingual_bin
    [model] = convert(str(folder), plan_outputs(tmp_path / "model.bin", ["q8_0"]))
    with adb_with(tmp_path, monkeypatch, {"state": "device"}) as [phone]:
        app = WacftApp(Session(step="push", bins={"q8_0": str(model.path)}, language="fr"))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("c")
            assert await push_on(pilot, app, phone, model.path) == "2layer_fr_acft_q8_0.bin"
            assert "Choose French: FUTO Keyboard keeps a voice model for each language." in text(app, "#result")


def test_the_language_check_warns_only_when_most_clips_sound_otherwise():
    from wacft.acft.trainer import language_warning

    assert language_warning("de", ["de", "de", "fr"]) is None
    assert language_warning("de", ["fr", "fr", "de", "en"]) == (
        "the data does not seem to be in German: the model hears French in 2 of the first 4 clips; check --language.")


def test_training_says_when_the_data_does_not_sound_like_the_language_given(multilingual_bin, speech_dataset,
                                                                            tmp_path):
    import re

    from wacft.acft.events import CallbackSink
    from wacft.acft.trainer import Trainer

    folder, _ = multilingual_bin
    data = speech_dataset([SAID["de"], SAID["pl"]], voices=["de"])

    def warnings(language):
        events = []
        trainer = Trainer(TrainConfig(model=str(folder), dataset=str(data), out=str(tmp_path / language),
                                      language=language), CallbackSink(events.append))
        trainer.load_data()
        return [e["message"] for e in events if e.get("message", "").startswith("warning: the data")]

    # random weights hear some language in these clips: told another, training says which; told it, nothing
    [said] = warnings("hawaiian")
    heard = re.search(r"the model hears (\w[\w ]*) in \d of the first 2 clips", said)[1]
    assert said.startswith("warning: the data does not seem to be in Hawaiian")
    assert warnings(heard) == []


@pytest.mark.slow
def test_a_german_recording_from_dataset_to_phone(multilingual_bin, tmp_path):
    """One German speaker's recordings through every step: trained with German other voices and German's
    prefix, converted to q8_0, verified in German as the phone decodes it, named for the import in German."""
    from fixtures.events import run as train

    from wacft.acft import other_voices
    from wacft.convert.convert import convert, plan_outputs
    from wacft.device.futo import import_steps
    from wacft.device.naming import default_name, model_language, read_model_kind
    from wacft.verify.check import verify
    from wacft.verify.languages import decoding_languages
    from wacft.verify.whispercpp import Decoding

    folder, _ = multilingual_bin
    recording = recording_in("de", tmp_path / "mine")
    events = train(TrainConfig(model=str(folder), dataset=str(recording), out=str(tmp_path / "run"),
                               language="de", epochs=1, batch_size=8))
    assert events.of("step")[-1]["clips"] == 1 + OTHER_VOICE_CLIPS
    [q8] = convert(str(tmp_path / "run"), plan_outputs(tmp_path / "mine.bin", ["q8_0"]))
    language, languages = decoding_languages(q8.path, "de")
    samples = other_voices.other_voice_clips("de")[:1]
    result = verify(q8.path, samples, language=language, languages=languages, decoding=Decoding(beam_size=1))
    assert result.language == "de" and len(result.model.clips) == 1
    name = default_name(q8.path, language=model_language(read_model_kind(q8.path), language))
    assert name == "2layer_de_acft_q8_0.bin"
    assert import_steps(name, True, language)[-1].startswith("Choose German")
