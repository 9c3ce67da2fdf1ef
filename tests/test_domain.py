"""Teaching tiny.en a person's words before ACFT, for real: espeak-ng sentences full of terms the base model
gets wrong, a short two-stage run on the CPU, and whisper.cpp at FUTO Keyboard's context on sentences and
voices the run never saw."""

import pytest
from fixtures.domain import HELD_OUT_SENTENCES, HELD_OUT_VOICES, TERMS, TRAINING_SENTENCES, TRAINING_VOICES
from fixtures.speech import make_speech_dataset

from wacft.acft.config import TrainConfig
from wacft.acft.events import CallbackSink
from wacft.acft.trainer import train
from wacft.convert.convert import convert, plan_outputs
from wacft.dataset.clips import load_clips
from wacft.dataset.spec import DatasetSpec
from wacft.verify.check import CONTEXTS, term_recall, verify

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    folder = make_speech_dataset(tmp_path_factory.mktemp("held-out"), HELD_OUT_SENTENCES, HELD_OUT_VOICES)
    return load_clips(DatasetSpec(str(folder))).clips


def test_two_stages_teach_the_terms_and_keep_short_dictations_from_looping(tiny_en_dir, held_out, tmp_path):
    training = make_speech_dataset(tmp_path / "training", TRAINING_SENTENCES, TRAINING_VOICES)
    config = TrainConfig(model=str(tiny_en_dir), dataset=str(training), out=str(tmp_path / "run"),
                         finetune_epochs=4, epochs=4)
    events = []
    out = train(config, CallbackSink(events.append))
    [trained] = convert(str(out), plan_outputs(tmp_path / "trained.bin", ["q8_0"]))
    [base] = convert(str(tiny_en_dir), plan_outputs(tmp_path / "base.bin", ["q8_0"]))

    check = verify(trained.path, held_out, baseline=base.path, contexts=CONTEXTS)
    heard, said = term_recall(check.baseline, TERMS, "futo")
    # decoded as the phone decodes (beam 5), the base model hears 3 of the 16 (greedy: 1 or 2)
    assert said == 16 and heard <= 4, "the base model should get these terms wrong, or the test proves nothing"
    heard, said = term_recall(check.model, TERMS, "futo")
    # this run with seeds 1-3 (the test runs seed 0) heard 14, 15 and 14 of the 16 with all of stage 1 kept, and
    # 15, 14 and 14 with the default 30% kept (none looping, 21.4% WER at FUTO's context): 10 leaves room for
    # another CPU's numerics and stays far above the base's 3
    assert heard >= 10, [c.heard["futo"].text for c in check.model.clips]
    # Four ACFT epochs leave a loop now and then: seeds 1-3 looped on none of the 12 clips; seed 0 on none in
    # most runs here, and on one in one full-suite run (the same seed on the same machine draws again). A third
    # of them looping is far beyond that; the WER halves with a wide margin (21-37% against 89-105%).
    for context in ("dynamic", "futo"):
        assert check.model.contexts[context].runaways < len(check.model.clips) / 3
        assert check.model.contexts[context].wer < check.baseline.contexts[context].wer / 2
    done = events[-1]
    # the shortest clips, with the phone's 2.6 s of silence, train at their own context (~200), far below 1500
    assert done["type"] == "done" and done["best"]["epoch"] >= 1 and done["contexts"][0] < 250
