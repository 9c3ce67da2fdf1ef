"""Issue 33's "done when", for real: tiny.en trained by `wacft train` as it comes on 100 espeak-ng clips, which sets
20 of them aside. `wacft verify --run` and the wizard judge the trained file on those 20, in the phone's whisper.cpp
against the base tiny.en (converted once to the same type, its results cached): its loops gone, never "not ready";
ready here, "too few clips to tell" on CI's CPU, whose numerics put its phone-context WER four words higher. The base
model itself (it loops) and a model that lost accuracy are not ready. On real decodes built so that no CPU can flip
the verdict, a model that removes the base's runaways and keeps its words is ready, by `wacft verify --run` (exit 0)
and the wizard (late_stopping_run), a model as good as the base is ready, and one whose difference is within the
noise of ten clips is "too few to tell".

The run is conftest.py's acft_run, which test_verify.py shares: it trains once a session. Measured here (2 busy
cores): training about 5 minutes (17 at a load average of 8); the base runs away on 2 of the 20 held-out clips at
FUTO's context (73% WER there, 14% at full context); the trained model on none, 13.0% at FUTO's context and 14.8% at
full context (one word either way of the base's 13.9%; CI's CPU: 17.6% and 14.8%); the damaged model 45% at full
context (+34 words, interval +17 to +47 points)."""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from fixtures.acft_run import SENTENCES, VOICES
from fixtures.tiny_en import EOT

from wacft.acft import held_out
from wacft.acft.config import TrainConfig
from wacft.cli import main
from wacft.cli.verify import exit_status
from wacft.convert.convert import convert, plan_outputs
from wacft.dataset.clips import load_clips
from wacft.verify.check import CONTEXTS, FULL, PHONE, verify
from wacft.verify.verdict import BETTER, NO_WORSE, NOT_READY, READY, TOO_FEW, UNSURE, WORSE
from wacft.verify.whispercpp import Decoding

pytestmark = pytest.mark.slow

HELD = 20  # a fifth of 100


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WACFT_HOME", str(tmp_path_factory.mktemp("home")))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def trained(home, acft_run):
    """The shared run's folder (conftest.py), its q5_0 file (as the wizard converts it, beside the model) and its
    events."""
    out, events = acft_run
    [result] = convert(str(out), plan_outputs(out / "tiny_en_acft_q5_0.bin", ["q5_0"]))
    return out, result.path, events


def verify_run(model, run, tmp_path, capsys, *more):
    report = tmp_path / "report.json"
    code = main(["verify", str(model), "--run", str(run), "--threads", "2", "--json", str(report), *more])
    said = capsys.readouterr()
    assert report.is_file(), said.err
    return code, said.out, json.loads(report.read_text())


def test_training_never_sees_the_held_out_clips_and_verify_judges_the_model_ready_on_them(trained, phone_engine,
                                                                                            tmp_path, capsys):
    out, model, events = trained
    [slice_] = [{k: e[k] for k in ("of", "clips")} for e in events if e["type"] == "held_out"]
    assert slice_["of"] == 2 * len(SENTENCES) and len(slice_["clips"]) == HELD
    assert held_out.read(out) == slice_
    assert any(e["type"] == "log" and f"{HELD} clips set aside" in e["message"] for e in events)
    code, said, data = verify_run(model, out, tmp_path, capsys)
    assert f"Measured on {HELD} clips the run held out: training never saw them." in said
    assert [c["reference"] for c in data["model"]["clips"]] == [c["text"] for c in slice_["clips"]]
    assert list(data["model"]["contexts"]) == ["full", "futo"]  # FUTO's context and the full one, no more
    assert "whisper.cpp 1.5.4" in data["model"]["engine"] and data["baseline"]["model"].endswith("_q5_0.bin")
    # The signal far above any CPU's spread: 2 runaways -> 0. The phone-context WER sits within a few words of the
    # base's full-context one, which another CPU's numerics move across the margin (CI measured 17.6% against 13.9%:
    # too few to tell), so it may be ready or too few to tell, never not ready. The deterministic "ready" on real
    # decodes is in test_ten_clips_..._too_few_to_tell.
    loops, _, full = data["answers"]
    assert loops["outcome"] == BETTER and full["outcome"] != WORSE, said
    assert data["state"] in (READY, TOO_FEW) and code == exit_status(data["state"]), said
    mark = "✓ Ready for the phone." if data["state"] == READY else "✗ Too few clips to tell."
    assert said.count(f"{mark} Loops at the phone's context: better") == 1
    again = verify_run(model, out, tmp_path, capsys)
    assert "cached results" in again[1] and again[2]["baseline"] == data["baseline"]


def test_the_base_model_loops_and_is_not_ready(trained, phone_engine, tmp_path, capsys):
    """The base itself, as the file verified: it keeps every loop it had, and loses words at the phone's context."""
    from wacft.services.verify import base_bin

    out, _, _ = trained
    base = base_bin(TrainConfig.load(out / "training_config.json").model, "q5_0")  # as verify converted it
    code, said, data = verify_run(base, out, tmp_path, capsys)
    assert data["model"]["contexts"]["futo"]["runaways"] >= 1, "the base should loop here, or this proves nothing"
    assert [a["outcome"] for a in data["answers"][:2]] == [WORSE, WORSE]
    assert data["state"] == NOT_READY and code == 2, said


@pytest.fixture(scope="module")
def damaged(tiny_en_dir, tmp_path_factory):
    """tiny.en with noise in its decoder's feed-forward weights: a model that lost accuracy."""
    from safetensors.numpy import load_file, save_file

    folder = tmp_path_factory.mktemp("damaged") / "model"
    shutil.copytree(tiny_en_dir, folder)
    weights = load_file(str(folder / "model.safetensors"))
    rng = np.random.default_rng(0)
    for name, w in weights.items():
        if ".decoder.layers." in name and ".fc" in name and name.endswith("weight"):
            weights[name] = (w + rng.normal(0, 0.6 * w.std(), w.shape)).astype(w.dtype)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    [result] = convert(str(folder), plan_outputs(folder.parent / "damaged_q5_0.bin", ["q5_0"]))
    return result.path


def test_a_model_that_lost_accuracy_is_not_ready(trained, damaged, phone_engine, tmp_path, capsys):
    out, _, _ = trained
    code, said, data = verify_run(damaged, out, tmp_path, capsys)
    assert data["answers"][2]["outcome"] == WORSE and data["state"] == NOT_READY and code == 2, said
    assert data["answers"][2]["low"] > 0.05  # a loss far beyond the noise


async def test_the_wizard_judges_the_run_ready_and_the_phone_step_offers_it(trained, phone_engine):
    from test_tui import settle, text

    from wacft.tui.app import WacftApp
    from wacft.tui.session import Session
    from wacft.tui.widgets import BinSelect

    out, model, _ = trained
    session = Session(step="verify", trained=str(out), bins={"q8_0": "elsewhere_q8_0.bin", "q5_0": str(model)})
    app = WacftApp(session, environment=lambda: [], phones=lambda: (None, []))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await settle(pilot, app, lambda: app.screen.query(BinSelect))
        app.screen.query_one(BinSelect).value = str(model)
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "✓" in text(app, "#result") or "✗" in text(app, "#result"), tries=3000)
        verified = Session.load().verified
        assert verified["file"] == str(model) and verified["state"] in (READY, TOO_FEW)  # as the test above says
        mark = "✓ " if verified["state"] == READY else "✗ "
        first = mark + verified["verdict"].split(". ")[0]  # "✓ Ready for the phone", say
        assert first in text(app, "#result")
        await pilot.press("ctrl+n")
        assert app.screen.query_one(BinSelect).chosen == str(model)
        assert first in text(app, "#verdict")


CONTEXT = 750  # positions (15 s), at both of verify's contexts in the tests below: over three times these clips


@pytest.fixture
def one_context(monkeypatch):
    """Both of verify's contexts one fixed context, so that the phone-context question compares a model's decodes
    with the base's at the same context, not tiny.en's own gap between two contexts, which a CPU measures; at 15 s
    rather than the full 30 s, which costs twice the time."""
    monkeypatch.setitem(CONTEXTS, PHONE, lambda n_samples: CONTEXT)
    monkeypatch.setitem(CONTEXTS, FULL, lambda n_samples: CONTEXT)


@pytest.fixture(scope="module")
def late_stopping_run(home, tiny_en_dir, speech_dataset, tmp_path_factory):
    """A run whose base model runs away where tiny.en stops, and a file that is tiny.en: a model that removes the
    base's runaways and keeps its words, by construction rather than by training, which a CPU's numerics move.

    The base is tiny.en with its end-of-text row of the token embedding halved. That row gives that token's logit
    and nothing else (the decoder never reads end-of-text back), so the base scores every other token as tiny.en
    does: it hears the same words, and where tiny.en stops it stops too or goes on, mostly into a loop (measured
    here: on 8 of the 10 held-out clips at one context and all 10 at the other, 700% WER or more, where tiny.en has
    24-28%). Its run folder holds what a run of 50 clips leaves verify: the settings that name the base and the
    dataset, and the 10 clips held out (acft/held_out.py's rule, from its seed)."""
    from safetensors.numpy import load_file, save_file

    folder = tmp_path_factory.mktemp("late")
    base = folder / "base"
    shutil.copytree(tiny_en_dir, base)
    weights = load_file(str(base / "model.safetensors"))
    embedding = weights["model.decoder.embed_tokens.weight"].copy()
    embedding[EOT] *= 0.5
    weights["model.decoder.embed_tokens.weight"] = embedding
    save_file(weights, str(base / "model.safetensors"), metadata={"format": "pt"})
    out = folder / "run"
    out.mkdir()
    config = TrainConfig(model=str(base), dataset=str(speech_dataset(SENTENCES, voices=VOICES[:1])), out=str(out))
    (out / "training_config.json").write_text(config.to_json())
    _, slice_ = held_out.set_aside(load_clips(config.dataset_spec).clips, config.seed)
    held_out.write(out, slice_)
    [ours] = convert(str(tiny_en_dir), plan_outputs(out / "tiny_en_q5_0.bin", ["q5_0"]))
    return out, ours.path


def test_a_model_that_removes_the_base_s_runaways_and_keeps_its_words_is_ready(late_stopping_run, one_context,
                                                                                phone_engine, tmp_path, capsys):
    out, ours = late_stopping_run
    code, said, data = verify_run(ours, out, tmp_path, capsys)
    assert "Measured on 10 clips the run held out" in said
    for context in ("futo", "full"):
        assert data["model"]["contexts"][context]["runaways"] == 0, said  # tiny.en stops on these at 15 s
        assert data["baseline"]["contexts"][context]["runaways"] >= 3, said  # the base does not, on most
    assert [a["outcome"] for a in data["answers"]] == [BETTER] * 3, said
    assert data["state"] == READY and code == 0, said
    assert said.count("✓ Ready for the phone. Loops at the phone's context: better") == 1


async def test_the_wizard_judges_it_ready_too_and_the_phone_step_offers_it(late_stopping_run, one_context,
                                                                           phone_engine):
    from test_tui import settle, text

    from wacft.tui.app import WacftApp
    from wacft.tui.session import Session
    from wacft.tui.widgets import BinSelect

    out, ours = late_stopping_run
    session = Session(step="verify", trained=str(out), bins={"q5_0": str(ours)})
    app = WacftApp(session, environment=lambda: [], phones=lambda: (None, []))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")  # past the start screen, to the step the session is at
        await settle(pilot, app, lambda: app.screen.query(BinSelect))
        assert app.screen.query_one(BinSelect).chosen == str(ours)
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "✓" in text(app, "#result") or "✗" in text(app, "#result"), tries=3000)
        assert "✓ Ready for the phone" in text(app, "#result")
        from wacft.services.verify import stamp_of

        kept = {"file": str(ours), "stamp": stamp_of(ours), "state": READY}  # the phone step tells a rewrite by it
        assert Session.load().verified | kept == Session.load().verified
        await pilot.press("ctrl+n")
        assert app.screen.query_one(BinSelect).chosen == str(ours)
        assert "✓ Ready for the phone" in text(app, "#verdict")


TEN = 10


def test_ten_clips_with_a_difference_within_the_noise_are_too_few_to_tell(tiny_en_dir, speech_dataset, phone_engine,
                                                                        tmp_path, one_context):
    """Real decodes, built so that nothing a CPU's numerics do can flip the verdict. The same file under another
    name, on the same clips, is as good as the base: ready. The base model is tiny.en;
    "ours" is the same file under another name, decoded on the same ten clips but for two, whose audio is exchanged
    (two the base heard without an error): a model as good as the base on eight clips and wrong on two, by their
    sentences' words. What makes it deterministic: one machine decodes both sides, and whisper.cpp gives the same
    text for the same file, audio and settings (asserted below, clip by clip), so the two sides differ on those two
    clips and nowhere else. The pooled difference is then far above the margin, and a tenth of the bootstrap's
    draws (0.8^10) hold neither clip and find no difference at all: the interval runs from exactly 0 to above 0,
    neither better nor worse beyond the noise, whichever words the base got wrong elsewhere on this CPU. Both of
    verify's contexts are one (one_context), so that the phone-context question compares the same decodes too. The
    one measured premise: tiny.en does not run away on these clear sentences there (asserted). Greedy
    decoding: the verdict's rule does not depend on it, and it costs a fifth of beam 5."""
    [base_bin] = convert(str(tiny_en_dir), plan_outputs(tmp_path / "base_f16.bin", ["f16"]))
    ours_bin = tmp_path / "ours_f16.bin"
    shutil.copyfile(base_bin.path, ours_bin)
    clips = load_clips(TrainConfig(model="", dataset=str(speech_dataset(SENTENCES[:TEN], voices=VOICES[:1])),
                                   out="")).clips
    greedy = Decoding(beam_size=1)
    base = verify(base_bin.path, clips, engines=[phone_engine], threads=2, decoding=greedy).model
    assert base.contexts[FULL].runaways == 0, [c.heard[FULL].text for c in base.clips]
    heard = sorted((i for i, c in enumerate(base.clips) if c.errors(FULL) == 0), key=lambda i: -base.clips[i].words)
    assert len(heard) >= 2, [c.heard[FULL].text for c in base.clips]
    one, other = heard[:2]
    same = verify(ours_bin, clips, engines=[phone_engine], threads=2, decoding=greedy, base_result=base)
    assert [a.outcome for a in same.answers] == [NO_WORSE] * 3 and same.state == READY, same.verdict  # as good: ready
    swapped = [*clips]
    swapped[one], swapped[other] = (SimpleNamespace(audio=clips[other].audio, text=clips[one].text),
                                    SimpleNamespace(audio=clips[one].audio, text=clips[other].text))
    check = verify(ours_bin, swapped, engines=[phone_engine], threads=2, decoding=greedy, base_result=base)
    ours = check.model
    for i, (mine, theirs) in enumerate(zip(ours.clips, base.clips, strict=True)):  # the determinism it rests on
        if i not in (one, other):
            assert {k: h.text for k, h in mine.heard.items()} == {k: h.text for k, h in theirs.heard.items()}
    phone, full = check.answers[1:]
    assert [a.outcome for a in check.answers] == [NO_WORSE, UNSURE, UNSURE], check.verdict
    assert phone.low == full.low == 0 < full.high
    assert full.moved == ours.clips[one].errors(FULL) + ours.clips[other].errors(FULL) > 0
    assert check.state == TOO_FEW and exit_status(check.state) == 3
    assert check.verdict.startswith("Too few clips to tell. "), check.verdict
