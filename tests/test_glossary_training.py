"""Training with the glossary the phone prompts with: the prompt's tokens are the ones whisper.cpp builds from
FUTO Keyboard's "(Glossary: ...)", they sit after <|startofprev|> and before the prefix on a fixed share of the
clips in both stages, the loss never learns them, and the real tiny.en trained that way decodes with the
glossary at FUTO's decoding: the terms come through, the prompt never does, and loops stay rare."""

import ctypes
import glob
import os

import pytest
import torch
from fixtures.domain import HELD_OUT_SENTENCES, HELD_OUT_VOICES, TERMS, TRAINING_SENTENCES, TRAINING_VOICES
from fixtures.speech import make_speech_dataset

from wacft.acft import finetune
from wacft.acft.batch_inputs import glossary_prompt_ids
from wacft.acft.config import TrainConfig
from wacft.acft.context import Batch
from wacft.acft.events import CallbackSink
from wacft.acft.plan import prompted_clips
from wacft.acft.run_files import save_weights
from wacft.acft.trainer import Trainer, train
from wacft.acft.validate import InvalidSetting, check
from wacft.cli import build_parser, main
from wacft.convert.convert import convert, plan_outputs
from wacft.dataset.clips import load_clips
from wacft.dataset.spec import DatasetSpec
from wacft.facts import FULL_CONTEXT
from wacft.run_folder import BEST
from wacft.services.settings import train_settings
from wacft.verify.check import term_recall, verify
from wacft.verify.whispercpp import Decoding, glossary_prompt

pytestmark = pytest.mark.slow

PREV = 50360  # <|startofprev|> in tiny.en's vocabulary
GLOSSARIES = [list(TERMS), ["Kubectl", "Grafana"], ["Jira", "Priya", "Slack"], ["Grüße", "naïve  café", "C++", "v2.1"]]
PYBIND_VALUE_AT = 16  # as in whispercpp_child.py: a pybind11 instance holds its C++ value's address here


def whispercpp_tokens(model_bin, text: str) -> list[int]:
    """whisper_tokenize of the current whisper.cpp, called through its library (pywhispercpp binds it with an
    int where the token buffer goes, so it cannot be called from Python as bound)."""
    import _pywhispercpp as pw

    libs = os.path.join(os.path.dirname(pw.__file__), "pywhispercpp.libs", "libwhisper*.so*")
    lib = ctypes.CDLL(sorted(glob.glob(libs))[0])  # the one _pywhispercpp loaded: the same handle
    lib.whisper_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_int]
    context = pw.whisper_init_from_file_with_params(str(model_bin), pw.whisper_context_default_params())
    pointer = ctypes.c_void_p.from_address(ctypes.c_void_p.from_address(id(context) + PYBIND_VALUE_AT).value).value
    tokens = (ctypes.c_int32 * 512)()
    count = lib.whisper_tokenize(pointer, text.encode(), tokens, len(tokens))
    assert count > 0
    return list(tokens[:count])


@pytest.fixture(scope="module")
def tiny_en_bin(tiny_en_dir, tmp_path_factory):
    [out] = convert(str(tiny_en_dir), plan_outputs(tmp_path_factory.mktemp("tiny") / "tiny_en.bin", ["q8_0"]))
    return out.path


@pytest.mark.parametrize("terms", GLOSSARIES)
def test_the_prompt_is_tokenized_as_whisper_cpp_does_it(tiny_en_dir, tiny_en_bin, terms):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_en_dir)
    prompt = glossary_prompt_ids(tokenizer, terms, 448)
    assert prompt[0] == PREV
    assert prompt[1:] == whispercpp_tokens(tiny_en_bin, glossary_prompt(terms))
    assert tokenizer.decode(prompt[1:]) == glossary_prompt(terms)
    if terms == list(TERMS):  # whisper.cpp is not BPE: the phone's " Kubernetes" is not Hugging Face's
        assert prompt[1:] != tokenizer(glossary_prompt(terms), add_special_tokens=False).input_ids
    # whisper.cpp keeps the prompt's last n_text_ctx / 2 tokens
    long = glossary_prompt_ids(tokenizer, [f"term{i}" for i in range(200)], 448)
    assert len(long) == 1 + 224 and long[-1] == prompt[-1]


def test_a_fixed_share_of_the_clips_is_prompted():
    config = TrainConfig(model="m", dataset="d", out="o", glossary=["GitHub"], glossary_share=0.25)
    chosen = prompted_clips(config, 40)
    assert len(chosen) == 10 and chosen == prompted_clips(config, 40) and chosen <= set(range(40))
    assert prompted_clips(TrainConfig(model="m", dataset="d", out="o"), 40) == frozenset()
    assert len(prompted_clips(TrainConfig(model="m", dataset="d", out="o", glossary=["a"], glossary_share=1), 7)) == 7


@pytest.fixture(scope="module")
def domain_training(tmp_path_factory):
    return make_speech_dataset(tmp_path_factory.mktemp("domain"), TRAINING_SENTENCES, TRAINING_VOICES)


def test_prompted_rows_learn_only_the_transcript(random_whisper, domain_training, tmp_path):
    config = TrainConfig(model=str(random_whisper()), dataset=str(domain_training), out=str(tmp_path / "run"),
                         finetune_epochs=1, epochs=1, glossary=["GitHub", "Kubernetes"], batch_size=4)
    trainer = Trainer(config, CallbackSink(lambda event: None))
    trainer.load_data()
    tokenizer = trainer.processor.tokenizer
    prompt = glossary_prompt_ids(tokenizer, config.glossary, trainer.student.config.max_target_positions)
    prefix = list(tokenizer.prefix_tokens)
    chosen = prompted_clips(config, len(trainer.clips))
    plain = next(i for i in range(len(trainer.clips)) if i not in chosen)
    rows = [min(chosen), plain]
    trainer.out.mkdir(exist_ok=True)  # load_data made it when it set clips aside for verify
    save_weights(trainer.student.model, trainer.out / BEST)  # what ACFT starts from after stage 1
    for stage in trainer.stages:  # the same prompt before the same clips in both stages
        trainer.start_stage(stage, 1)
        prepared = trainer.prepare(Batch(tuple(rows), FULL_CONTEXT))
        tokens = prepared.tokens
        assert tokens[0, : len(prompt) + len(prefix)].tolist() == prompt + prefix
        assert tokens[1, : len(prefix)].tolist() == prefix and PREV not in tokens[1].tolist()
        assert prepared.given.tolist() == [len(prompt) + len(prefix), len(prefix)]
    trainer.start_stage(trainer.stages[0], 1)
    prepared = trainer.prepare(Batch(tuple(rows), FULL_CONTEXT))
    # the loss's gradient reaches the logits that predict the transcript and <|endoftext|>, never the prompt's
    logits = torch.randn(*prepared.tokens.shape, trainer.student.config.vocab_size, requires_grad=True)
    finetune.words_loss(logits, prepared.tokens, prepared.mask, prepared.given).backward()
    learned = logits.grad.abs().sum(-1) > 0
    for row, given in enumerate(prepared.given.tolist()):
        length = int(prepared.mask[row].sum())
        assert learned[row].tolist() == [given - 1 <= t < length - 1 for t in range(prepared.tokens.shape[1])]


def test_cli_and_checks_take_the_glossary(tmp_path):
    terms = tmp_path / "dictionary.txt"
    terms.write_text("PyTorch\n\n Grafana \n")
    args = build_parser().parse_args(["train", "--model", "m", "--dataset", "d", "--glossary", "GitHub, Kubernetes",
                                      "--glossary-file", str(terms), "--glossary-share", "0.3"])
    config = train_settings(vars(args))
    assert config.glossary == ["GitHub", "Kubernetes", "PyTorch", "Grafana"] and config.glossary_share == 0.3
    assert TrainConfig.from_json(config.to_json()) == config
    assert train_settings(vars(build_parser().parse_args(["train", "--model", "m", "--dataset", "d"]))).glossary == []
    with pytest.raises(InvalidSetting, match=r"--glossary-share is 1.5; it must be a number in \[0, 1\]"):
        check(TrainConfig(model=str(tmp_path), dataset=str(tmp_path), out=str(tmp_path / "o"), glossary_share=1.5))
    with pytest.raises(InvalidSetting, match="--glossary is .*; it must be a list of non-empty terms"):
        check(TrainConfig(model=str(tmp_path), dataset=str(tmp_path), out=str(tmp_path / "o"), glossary=["a", " "]))


def test_the_wizard_trains_with_the_terms_it_has():
    from wacft.tui.session import Session

    assert Session(dataset="d", glossary="GitHub, Kubernetes").settings().glossary == ["GitHub", "Kubernetes"]
    assert Session(dataset="d").settings().glossary == []


def test_cli_names_a_glossary_file_it_cannot_read(tmp_path, capsys):
    missing = tmp_path / "missing.txt"
    with pytest.raises(SystemExit):
        main(["train", "--model", "m", "--dataset", "d", "--glossary-file", str(missing)])
    assert f"The glossary file {missing} cannot be read (No such file or directory)." in capsys.readouterr().err


def test_tiny_en_trained_with_the_glossary_decodes_with_it(tiny_en_dir, domain_training, phone_engine, tmp_path):
    config = TrainConfig(model=str(tiny_en_dir), dataset=str(domain_training), out=str(tmp_path / "run"),
                         finetune_epochs=2, epochs=4, glossary=list(TERMS))  # ACFT needs 4 epochs here
    events = []
    out = train(config, CallbackSink(events.append))
    said = f"clips train with the glossary prompt ({len(TERMS)} terms: {', '.join(TERMS)})"
    assert any(e.get("message", "").endswith(said) for e in events)
    [trained] = convert(str(out), plan_outputs(tmp_path / "trained.bin", ["q8_0"]))
    held_out = load_clips(DatasetSpec(str(
        make_speech_dataset(tmp_path / "held-out", HELD_OUT_SENTENCES, HELD_OUT_VOICES)))).clips
    # as the phone decodes, in the whisper.cpp it ships
    check = verify(trained.path, held_out, decoding=Decoding(glossary=TERMS), engines=[phone_engine]).model
    texts = [c.heard["futo"].text for c in check.clips]
    # the prompt is context, never transcript
    assert not any("glossary" in c.heard[context].text.lower() for c in check.clips for context in c.heard), texts
    # Four ACFT epochs on 48 clips leave a loop now and then: seeds 0-3 here and one CI machine's numerics looped
    # 0, 0, 1, 0 and 1 of these 12 clips at FUTO's context, and seeds 0-3 none at full context. A third looping is
    # far beyond that spread.
    assert all(check.contexts[context].runaways < len(check.clips) / 3 for context in ("futo", "full")), texts
    heard, said = term_recall(check, TERMS, "futo")
    # the terms come through the prompt, spelled as the glossary has them: 11 to 14 of the 16 for seeds 0-3
    assert said == 16 and heard >= said / 2, texts
