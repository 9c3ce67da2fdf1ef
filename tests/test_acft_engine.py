"""The training engine on a tiny random-weight Whisper (seconds, not minutes): resume, cache, the exact
published loop, multilingual prefixes, what it reports and what it refuses."""

import pytest
from fixtures.events import Recorder, run
from fixtures.speech import make_speech_dataset

from wacft.acft.config import TrainConfig
from wacft.acft.context import jitter_band
from wacft.acft.events import CallbackSink
from wacft.acft.plan import epoch_batches
from wacft.acft.trainer import train
from wacft.dataset.clips import load_clips
from wacft.errors import WacftError
from wacft.run_folder import CHECKPOINT

pytestmark = pytest.mark.slow

SENTENCES = ["Hello world.", "Please call me back later.", "The meeting starts at noon.", "What time is it?",
             "Turn left at the next corner and keep going until you see the bridge."]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_speech_dataset(tmp_path_factory.mktemp("speech"), SENTENCES, voices=["en-us", "en-gb"])


@pytest.fixture(scope="module")
def model(random_whisper):
    return random_whisper()


def config(model, dataset, out, **overrides):
    # no full-context batches unless a test asks: the tests check each batch's context against its clips
    settings = dict(model=str(model), dataset=str(dataset), out=str(out), epochs=2, batch_size=4, lr=1e-4,
                    full_context_share=0.0)
    return TrainConfig(**{**settings, **overrides})


def test_resume_continues_with_the_identical_next_steps(model, dataset, tmp_path):
    whole = run(config(model, dataset, tmp_path / "whole", checkpoint_every=2))

    settings = config(model, dataset, tmp_path / "cut", checkpoint_every=2)
    cut = Recorder(stop_at=3)
    with pytest.raises(KeyboardInterrupt):
        train(settings, CallbackSink(cut))
    assert [e["step"] for e in cut.of("checkpoint")] == [2]
    assert "--resume" in cut.of("error")[0]["message"]
    with pytest.raises(WacftError, match="--resume"):
        train(settings, CallbackSink(Recorder()))
    resumed = run(settings, resume=True)

    assert resumed.losses()[0][0] == 3  # step 3 again: the only step lost is the one interrupted
    assert resumed.losses() == pytest.approx(whole.losses(after=2), rel=1e-6)
    assert resumed.of("step")[-1]["audio_seconds"] == pytest.approx(whole.of("step")[-1]["audio_seconds"])
    assert not (tmp_path / "cut" / CHECKPOINT).exists() and (tmp_path / "cut" / "model.safetensors").is_file()


def test_resume_refuses_other_settings(model, dataset, tmp_path):
    settings = config(model, dataset, tmp_path / "run", checkpoint_every=1)
    with pytest.raises(KeyboardInterrupt):
        train(settings, CallbackSink(Recorder(stop_at=2)))
    other = config(model, dataset, tmp_path / "run", lr=1e-3, batch_size=2)
    with pytest.raises(WacftError, match=r"other settings \(lr 0.0001, not 0.001; batch_size 4, not 2\)"):
        train(other, CallbackSink(Recorder()), resume=True)


def test_a_run_saved_before_the_phone_silence_resumes_as_it_trained(model, dataset, tmp_path):
    """Its saved settings lack the setting: it trained without the silence, and goes on so or says what to give."""
    settings = config(model, dataset, tmp_path / "run", checkpoint_every=1, phone_silence_share=0.0)
    with pytest.raises(KeyboardInterrupt):
        train(settings, CallbackSink(Recorder(stop_at=2)))
    saved = tmp_path / "run" / CHECKPOINT / "config.json"
    saved.write_text(saved.read_text().replace('"phone_silence_share": 0.0,', ""))
    assert "phone_silence_share" not in saved.read_text()
    with pytest.raises(WacftError, match=r"other settings \(phone_silence_share 0.0, not 1.0\)"):
        train(config(model, dataset, tmp_path / "run"), CallbackSink(Recorder()), resume=True)
    assert run(settings, resume=True).of("done")


def test_the_cache_changes_nothing_but_the_speed(model, dataset, tmp_path):
    """Reference states and mel frames computed once per clip give the same losses as computing them every
    step, full-context batches (which need more frames than are kept) included."""
    settings = dict(epochs=3, full_context_share=0.5)
    cached = run(config(model, dataset, tmp_path / "cached", **settings))
    uncached = run(config(model, dataset, tmp_path / "uncached", cache_mb=0, **settings))
    assert {s["context"] for s in cached.of("step")} > {1500}
    assert cached.losses() == pytest.approx(uncached.losses(), rel=1e-6)


def test_batches_share_a_context_inside_each_clips_jitter_band(model, dataset):
    settings = config(model, dataset, "unused", batch_size=3)
    seconds = [c.seconds for c in load_clips(settings.dataset_spec).clips]
    for epoch in range(3):
        batches = epoch_batches(settings, seconds, epoch)
        assert sorted(i for b in batches for i in b.indices) == list(range(len(seconds)))
        for b in batches:
            assert len(b.indices) <= 3
            assert all(b.context in range(*jitter_band(seconds[i])) for i in b.indices)


def test_exact_reference_mode_is_the_published_loop(model, dataset, tmp_path):
    settings = config(model, dataset, tmp_path / "exact", epochs=1, exact_reference=True)
    events = run(settings)
    seconds = [c.seconds for c in load_clips(settings.dataset_spec).clips]
    steps = events.of("step")
    assert len(steps) == len(seconds) == 10  # batch 1: one step per clip
    assert all(s["lr"] == settings.lr for s in steps)  # the published per-step rate, unscaled
    plan = epoch_batches(settings, seconds, 0)
    assert [s["context"] for s in steps] == [b.context for b in plan]
    assert all(b.context in range(*jitter_band(seconds[b.indices[0]])) for b in plan)
    assert len({b.context for b in plan}) > 5  # each clip draws its own jittered context


def test_every_step_reports_progress(model, dataset, tmp_path):
    settings = config(model, dataset, tmp_path / "run", batch_size=2, max_audio_length=2, checkpoint_every=3)
    events = run(settings)
    steps = events.of("step")
    total = steps[-1]["total_steps"]
    assert [s["step"] for s in steps] == list(range(1, total + 1))
    for s in steps:
        assert s["stage"] == "acft" and s["epoch"] in (1, 2) and s["epochs"] == 2
        assert s["lr"] == pytest.approx(2 * settings.lr)  # the per-clip rate, times the batch
        assert s["loss"] > 0 and s["audio_seconds"] > 0 and s["clips_per_second"] > 0
        assert s["eta_seconds"] >= 0
    assert steps[-1]["clips"] == 2 * 8 and steps[-1]["eta_seconds"] == 0
    assert events.of("log")[0]["message"].endswith("skipped: 2 over 2 s")
    epoch_ends = [max(s["step"] for s in steps if s["epoch"] == epoch) for epoch in (1, 2)]
    assert [e["step"] for e in events.of("checkpoint")] == sorted({*range(3, total + 1, 3), *epoch_ends})
    contexts = [s["context"] for s in steps]
    done = events.events[-1]
    phases = done.pop("phases")
    assert done == {"type": "done", "stage": "acft", "out": str(tmp_path / "run"), "final_loss": steps[-1]["loss"],
                    "contexts": [min(contexts), max(contexts)], "best": None}
    # where the time went beside the steps: summed as it goes, so each checkpoint's share can be told apart
    sums = [e["phases"] for e in events.of("checkpoint")] + [phases]
    assert set(phases) == {"checkpoint", "data", "eval"} and phases["eval"] < 0.01  # ACFT scores nothing
    assert all(a[k] <= b[k] for a, b in zip(sums, sums[1:], strict=False) for k in phases)
    assert 0 < sums[0]["checkpoint"] < sums[-2]["checkpoint"] == phases["checkpoint"] and phases["data"] > 0


def test_multilingual_models_train_with_their_language_and_task(random_whisper, dataset, tmp_path):
    multilingual = random_whisper(multilingual=True)
    events = run(config(multilingual, dataset, tmp_path / "run", epochs=1, language="en"))
    assert events.of("done")
    with pytest.raises(WacftError, match="--language"):
        run(config(multilingual, dataset, tmp_path / "other", epochs=1))


def test_errors_are_events_too(model, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.csv").write_text("file_name,words\nclip.wav,hello\n")
    events = Recorder()
    with pytest.raises(WacftError, match="its columns are file_name, words") as error:
        train(config(model, broken, tmp_path / "out"), CallbackSink(events))
    assert events.of("error") == [{"type": "error", "stage": "acft", "message": str(error.value)}]
    with pytest.raises(WacftError, match="not available here"):
        train(config(model, broken, tmp_path / "out", device="cuda:7"), CallbackSink(events))
    with pytest.raises(WacftError, match="it must be an existing model folder"):
        train(config(tmp_path / "no-model", broken, tmp_path / "out"), CallbackSink(events))
