"""Stage 1 before ACFT (cross-entropy, or the joint objective) on a tiny random-weight Whisper: the stages in
one event stream, resume inside either stage, the best epoch kept, and the pieces stage 1 is made of."""

import json
import random

import numpy as np
import pytest
import torch
from fixtures.events import Recorder, run
from fixtures.speech import make_speech_dataset
from safetensors.torch import load_file, save_file

from wacft.acft import finetune
from wacft.acft.config import TrainConfig
from wacft.acft.events import CallbackSink
from wacft.acft.finetune import Score
from wacft.acft.plan import plan_stages
from wacft.acft.trainer import Trainer, train
from wacft.convert.convert import convert, plan_outputs
from wacft.convert.ggml import read_ggml
from wacft.dataset.clips import Clip
from wacft.errors import WacftError
from wacft.run_folder import BEST, CHECKPOINT

pytestmark = pytest.mark.slow

SENTENCES = ["Yes.", "Hello world.", "Please call me back later.", "The meeting starts at noon.",
             "What time is it?", "Turn left at the next corner."]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_speech_dataset(tmp_path_factory.mktemp("speech"), SENTENCES, voices=["en-us", "en-gb"])


@pytest.fixture(scope="module")
def model(random_whisper):
    return random_whisper()


def config(model, dataset, out, **overrides):
    # no full-context batches: the tests below tell stage 1's batches (30 s) from ACFT's (the clip's own context);
    # all of stage 1 kept: the model after it is its best epoch (the blend has its own test)
    settings = dict(model=str(model), dataset=str(dataset), out=str(out), epochs=1, finetune_epochs=2,
                    batch_size=4, lr=1e-4, finetune_lr=1e-3, eval_share=0.25, full_context_share=0.0,
                    finetune_keep=1.0)
    return TrainConfig(**{**settings, **overrides})


def test_two_stages_make_one_run_with_one_event_stream(model, dataset, tmp_path):
    events = run(config(model, dataset, tmp_path / "run"))
    steps = events.of("step")
    # 12 clips: 3 held out, 9 trained on in batches of 4 -> 3 steps an epoch
    assert [s["stage"] for s in steps] == ["finetune"] * 6 + ["acft"] * 3
    assert [s["step"] for s in steps] == list(range(1, 10)) and {s["total_steps"] for s in steps} == {9}
    assert "3 clips held out to score stage 1, 9 to train on" in [e.get("message") for e in events.events]
    assert all(s["context"] == 1500 for s in steps[:6]) and all(s["context"] < 1500 for s in steps[6:])
    lrs = [s["lr"] for s in steps[:6]]
    assert lrs[0] == pytest.approx(1e-3) and lrs[1] > lrs[-1] > 0  # warm-up of one step, then decay
    assert all(s["lr"] == pytest.approx(4e-4) for s in steps[6:])  # ACFT: per clip, times the batch
    evals = events.of("eval")
    assert [(e["stage"], e["epoch"]) for e in evals] == [("finetune", 1), ("finetune", 2)]
    assert all(e["loss"] > 0 and e["wer"] >= 0 for e in evals) and evals[0]["best"]

    done = events.of("done")[0]
    best = min(evals, key=lambda e: (e["wer"], e["loss"]))
    assert done["best"] == {"epoch": best["epoch"], "loss": best["loss"], "wer": best["wer"]}
    # "Yes." is about half a second, 3 s with the silence the phone records around it: it is trained at its own
    # small context (150 positions, a third either way), not padded up to 1500
    assert done["contexts"] == [min(s["context"] for s in steps[6:]), max(s["context"] for s in steps[6:])]
    assert done["contexts"][0] < 250
    out = tmp_path / "run"
    assert not (out / BEST).exists() and not (out / CHECKPOINT).exists()
    card = (out / "README.md").read_text()
    assert f"stage 1: 2 epochs of cross-entropy on the transcripts; kept epoch {best['epoch']}" in card
    assert json.loads((out / "training_config.json").read_text())["finetune_epochs"] == 2


@pytest.mark.parametrize(("stop_at", "keep"), [(2, 1.0), (7, 1.0), (7, 0.5)],
                         ids=["in stage 1", "in ACFT", "in ACFT from half of stage 1"])
def test_resume_inside_either_stage_continues_identically(model, dataset, tmp_path, stop_at, keep):
    whole = run(config(model, dataset, tmp_path / "whole", checkpoint_every=1, finetune_keep=keep))
    settings = config(model, dataset, tmp_path / "cut", checkpoint_every=1, finetune_keep=keep)
    with pytest.raises(KeyboardInterrupt):
        train(settings, CallbackSink(Recorder(stop_at=stop_at)))
    resumed = run(settings, resume=True)
    assert resumed.losses()[0][0] == stop_at  # only the interrupted step is done again
    assert resumed.losses() == pytest.approx(whole.losses(after=stop_at - 1), rel=1e-5)
    assert resumed.of("done")[0]["best"] == whole.of("done")[0]["best"]


def test_the_best_epoch_is_the_one_kept(model, dataset, tmp_path):
    # no ACFT stage: the output is stage 1's kept epoch; a high rate makes epochs differ a lot
    settings = config(model, dataset, tmp_path / "run", epochs=0, finetune_epochs=3, finetune_lr=3e-2)
    events = run(settings)
    evals = events.of("eval")
    best = min(evals, key=lambda e: (e["wer"], e["loss"]))
    so_far = None
    for e in evals:  # each epoch is called best exactly when it beats every earlier one
        score = (e["wer"], e["loss"])
        assert e["best"] == (so_far is None or score < so_far)
        so_far = min(so_far or score, score)
    assert events.of("done")[0]["best"]["epoch"] == best["epoch"]

    rescored = Trainer(config(tmp_path / "run", dataset, tmp_path / "again", epochs=0), CallbackSink(print))
    rescored.load_data()
    rescored.start_stage(plan_stages(rescored.config)[0], 1)
    assert rescored.evaluate(0).loss == pytest.approx(best["loss"], rel=1e-4)


def test_stage_one_keeps_its_share_of_the_change_and_acft_distils_from_that(model, dataset, tmp_path):
    # no ACFT stage: the output is what ACFT would start from and distil towards
    run(config(model, dataset, tmp_path / "all", epochs=0))
    events = run(config(model, dataset, tmp_path / "half", epochs=0, finetune_keep=0.5))
    base, full = load_file(model / "model.safetensors"), load_file(tmp_path / "all" / "model.safetensors")
    half = load_file(tmp_path / "half" / "model.safetensors")
    changed = [k for k in base if not torch.equal(base[k], full[k])]
    assert changed and all(torch.allclose(half[k], (base[k] + full[k]) / 2, atol=1e-6) for k in base)
    said = [e.get("message", "") for e in events.events]
    assert any(m.startswith("stage 1 keeps epoch") and m.endswith("; 50% of its change kept") for m in said)
    card = (tmp_path / "half" / "README.md").read_text()
    assert "of cross-entropy on the transcripts; kept epoch" in card and ", 50% of its change to the base" in card

    # ACFT distils towards the blend, not stage 1's own best (a resumed run asks again: test_resume_...)
    acft = Trainer(config(model, dataset, tmp_path / "acft", finetune_keep=0.5), CallbackSink(print))
    (tmp_path / "acft").mkdir()
    save_file({k.removeprefix("model."): v for k, v in full.items() if k.startswith("model.")},
              tmp_path / "acft" / BEST)
    acft.start_stage(plan_stages(acft.config)[1], 1)
    reference = acft.reference.state_dict()
    assert all(torch.allclose(v, half[f"model.{k}"], atol=1e-6) for k, v in reference.items())


def test_a_frozen_encoder_stays_as_it_was(model, dataset, tmp_path):
    run(config(model, dataset, tmp_path / "run", epochs=0, freeze_encoder=True, spec_augment=True))
    before, after = load_file(model / "model.safetensors"), load_file(tmp_path / "run" / "model.safetensors")
    encoder = [k for k in before if ".encoder." in k]
    decoder = [k for k in before if ".decoder.layers." in k]
    assert encoder and all(torch.equal(before[k], after[k]) for k in encoder)
    assert any(not torch.equal(before[k], after[k]) for k in decoder)


@pytest.mark.parametrize("objective", ["two-stage", "joint"])
def test_the_positional_embedding_stays_the_base_models(model, dataset, tmp_path, objective):
    """transformers loads the encoder's sinusoidal table frozen and FUTO's loop never trains it; whisper.cpp
    reads it from the .bin and cuts it to audio_ctx, so the converted file must carry the base table."""
    run(config(model, dataset, tmp_path / "run", objective=objective, finetune_epochs=1))
    name = "model.encoder.embed_positions.weight"
    before, after = load_file(model / "model.safetensors"), load_file(tmp_path / "run" / "model.safetensors")
    assert torch.equal(before[name], after[name])
    assert not torch.equal(before["model.encoder.layers.0.fc1.weight"], after["model.encoder.layers.0.fc1.weight"])
    [f32] = convert(str(tmp_path / "run"), plan_outputs(tmp_path / "trained.bin", ["f32"]))
    ggml = read_ggml(f32.path)
    table = ggml.read_array(ggml.tensor("encoder.positional_embedding"))
    assert np.array_equal(table.reshape(-1), before[name].numpy().reshape(-1))


def test_the_joint_objective_trains_at_the_clips_own_context(model, dataset, tmp_path):
    events = run(config(model, dataset, tmp_path / "run", objective="joint", epochs=0))
    steps = events.of("step")
    assert {s["stage"] for s in steps} == {"joint"} and all(s["context"] < 1500 for s in steps)
    assert len(events.of("eval")) == 2
    assert "cross-entropy + ACFT (joint)" in (tmp_path / "run" / "README.md").read_text()


def test_stage_plans_and_what_they_refuse():
    base = dict(model="m", dataset="d", out="o")
    assert [(s.name, s.epochs) for s in plan_stages(TrainConfig(**base))] == [("acft", 8)]
    joint = plan_stages(TrainConfig(**base, finetune_epochs=3, objective="joint", joint_weight=0.5))
    assert [(s.name, s.words, s.distil) for s in joint] == [("joint", True, 0.5), ("acft", False, 1.0)]
    with pytest.raises(WacftError, match="nothing to train"):
        plan_stages(TrainConfig(**base, epochs=0))
    with pytest.raises(WacftError, match="not a training objective"):
        plan_stages(TrainConfig(**base, finetune_epochs=1, objective="both"))


def test_words_loss_is_whispers_own_cross_entropy(model):
    from transformers import WhisperForConditionalGeneration

    from wacft.acft.model import decoder_states, encode

    whisper = WhisperForConditionalGeneration.from_pretrained(model).eval()
    features = torch.randn(2, whisper.config.num_mel_bins, 3000)
    tokens = torch.randint(0, 50, (2, 7))
    mask = torch.ones_like(tokens, dtype=torch.bool)
    with torch.no_grad():
        reference = whisper(input_features=features, decoder_input_ids=tokens[:, :-1], labels=tokens[:, 1:])
        states = decoder_states(whisper.model, tokens, encode(whisper.model.encoder, features, 1500))
        logits = whisper.proj_out(states[-1])
    assert torch.allclose(logits[:, :-1], reference.logits, atol=1e-4)
    # with a prefix of one (the start token is never a target) it is exactly the labels' loss
    assert finetune.words_loss(logits, tokens, mask, prefix=1) == pytest.approx(reference.loss.item(), rel=1e-4)
    # padding and the rest of the prefix are not targets
    mask[1, 5:] = False
    padded = finetune.words_loss(logits, tokens, mask, prefix=3)
    targets = [(0, t) for t in range(2, 6)] + [(1, t) for t in range(2, 4)]
    manual = sum(-torch.log_softmax(logits[b, t], -1)[tokens[b, t + 1]] for b, t in targets) / len(targets)
    assert padded.item() == pytest.approx(manual.item(), rel=1e-4)


def test_spec_augment_masks_only_the_clips_own_frames():
    features = torch.ones(2, 80, 3000)
    masked = finetune.spec_augment(features, [1.0, 4.0], random.Random(1))
    assert torch.equal(masked[0, :, 100:], features[0, :, 100:])
    assert torch.equal(masked[1, :, 400:], features[1, :, 400:])
    assert (masked[0, :, :100] == 0).any() and (masked[1, :, :400] == 0).any()
    assert torch.equal(masked, finetune.spec_augment(features, [1.0, 4.0], random.Random(1)))
    assert torch.equal(features, torch.ones(2, 80, 3000))  # the input is left as it was


def test_warm_up_then_decay():
    factor = finetune.warmup_then_decay(100)
    assert [factor(s) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert factor(10) == pytest.approx(1.0) and factor(55) == pytest.approx(0.5) and factor(99) > 0


def test_hold_out_is_a_fixed_disjoint_slice():
    clips = [Clip(b"", f"clip {i}", 1.0) for i in range(50)]
    train_part, held = finetune.hold_out(clips, 0.1, seed=0)
    assert len(held) == 5 and len(train_part) == 45 and not {c.text for c in held} & {c.text for c in train_part}
    assert [c.text for c in finetune.hold_out(clips, 0.1, seed=0)[1]] == [c.text for c in held]
    assert len(finetune.hold_out(clips[:3], 0.01, seed=0)[1]) == 1  # at least one clip
    assert finetune.hold_out(clips[:1], 0.5, seed=0) == (clips[:1], [])  # nothing to spare


def test_score_prefers_lower_wer_then_lower_loss():
    assert Score(2, 0.5, 0.1).better_than(Score(1, 0.1, 0.2))
    assert Score(2, 0.1, 0.2).better_than(Score(1, 0.5, 0.2))
    assert not Score(2, 0.5, 0.2).better_than(Score(1, 0.1, 0.2)) and Score(1, 9, 9).better_than(None)


def test_stage_one_learning_rate_follows_the_model_size():
    base = TrainConfig(model="m", dataset="d", out="o")
    assert finetune.stage_lr(base, 384) == 3.75e-5 and finetune.stage_lr(base, 768) == 1.25e-5
    assert finetune.stage_lr(base, 1280) == 4.375e-6 and finetune.stage_lr(base, 64) == 3.75e-5
    assert finetune.stage_lr(TrainConfig(model="m", dataset="d", out="o", finetune_lr=1e-4), 384) == 1e-4


def test_the_command_line_takes_the_stage_one_options():
    from wacft.cli import build_parser
    from wacft.services.settings import train_settings

    args = build_parser().parse_args([
        "train", "--model", "m", "--dataset", "d", "--out", "o", "--finetune-epochs", "3", "--objective", "joint",
        "--finetune-lr", "1e-4", "--joint-weight", "0.5", "--freeze-encoder", "--spec-augment",
        "--eval-split", "validation", "--eval-share", "0.2", "--epochs", "0", "--finetune-keep", "0.6",
    ])
    config = train_settings(vars(args))
    assert (config.finetune_epochs, config.objective, config.finetune_lr, config.joint_weight) == (
        3, "joint", 1e-4, 0.5)
    assert (config.freeze_encoder, config.spec_augment, config.eval_split, config.eval_share) == (
        True, True, "validation", 0.2)
    assert (config.epochs, config.finetune_keep) == (0, 0.6)
    defaults = train_settings(vars(build_parser().parse_args(["train", "--model", "m", "--dataset", "d"])))
    assert (defaults.finetune_epochs, defaults.objective, defaults.finetune_lr) == (0, "two-stage", None)
