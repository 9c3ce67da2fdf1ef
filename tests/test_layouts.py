"""The layout family the quality bench judges every model under (wacft.dataset.layout): each layout's length,
what fills its lead and tail, and at what level."""

import numpy as np
import pytest
from fixtures.room_noise import room_noise

from wacft.audio import level_db, speech_bounds
from wacft.dataset.layout import LAYOUTS, LEAD, TAIL, lay_out
from wacft.facts import SAMPLE_RATE

QUIET, SPEECH = SAMPLE_RATE // 2, SAMPLE_RATE  # a clip: 0.5 s of a quiet room, 1 s of "speech", 0.5 s quiet


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    rng = np.random.default_rng(1)
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(SPEECH) / SAMPLE_RATE)
    audio = np.concatenate([np.zeros(QUIET), tone, np.zeros(QUIET)]) + 1e-4 * rng.standard_normal(SPEECH + 2 * QUIET)
    return audio.astype(np.float32)


@pytest.fixture(scope="module")
def room() -> np.ndarray:
    return room_noise()


def test_cut_close_trims_to_the_speech(clip):
    start, end = speech_bounds(clip)
    cut = lay_out(clip, "cut-close")
    assert len(cut) == end - start < len(clip)
    assert np.array_equal(cut, clip[start:end])


@pytest.mark.parametrize("layout", [name for name in LAYOUTS if name not in ("cut-close", "own", "lead-only",
                                                                            "tail-only")])
def test_a_layout_is_the_phones_lead_then_the_speech_then_its_tail(clip, room, layout):
    speech = lay_out(clip, "cut-close")
    laid = lay_out(clip, layout, room=room)
    assert laid.dtype == np.float32
    assert len(laid) == LEAD + len(speech) + TAIL
    lead, tail = laid[:LEAD], laid[-TAIL:]
    if layout == "zeros":
        assert not lead.any() and not tail.any()
        assert np.array_equal(laid[LEAD:-TAIL], speech)
    else:
        asked = -float(layout.partition("-")[2])
        assert abs(level_db(np.concatenate([lead, tail])) - asked) < 1.0
        assert abs(level_db(laid[LEAD:-TAIL] - speech) - asked) < 1.0  # the noise under the speech too


@pytest.mark.parametrize(("layout", "lead", "tail"), [("lead-only", LEAD, 0), ("tail-only", 0, TAIL)])
def test_half_the_phones_silence_is_zeros_on_one_side_of_the_speech(clip, layout, lead, tail):
    speech = lay_out(clip, "cut-close")
    laid = lay_out(clip, layout)
    assert len(laid) == lead + len(speech) + tail
    assert not laid[:lead].any() and not laid[len(laid) - tail:].any()
    assert np.array_equal(laid[lead:len(laid) - tail], speech)


def test_the_noise_is_drawn_by_the_seed(clip, room):
    for layout in ("white-60", "room-45"):
        assert np.array_equal(lay_out(clip, layout, 3, room), lay_out(clip, layout, 3, room))
        assert not np.array_equal(lay_out(clip, layout, 3, room), lay_out(clip, layout, 4, room))


def test_own_silence_tops_up_what_the_clip_has_to_the_phones(clip):
    laid = lay_out(clip, "own")
    start, end = speech_bounds(laid, pad=0.0)
    assert start / SAMPLE_RATE == pytest.approx(LEAD / SAMPLE_RATE, abs=0.03)
    assert (len(laid) - end) / SAMPLE_RATE == pytest.approx(TAIL / SAMPLE_RATE, abs=0.03)
    assert np.array_equal(np.trim_zeros(laid), clip)  # the recording whole, zeros only around it


def test_the_room_noise_is_recorded_and_long_enough_to_loop_little(room):
    assert len(room) > 4 * SAMPLE_RATE
    assert -51 < level_db(room) < -49
    assert speech_bounds(room) is None  # no frame 15 dB above its floor: no speech left in it


def test_an_unknown_layout_is_refused(clip):
    with pytest.raises(ValueError, match="no layout"):
        lay_out(clip, "pink")
    with pytest.raises(ValueError, match="room noise"):
        lay_out(clip, "room-45")
