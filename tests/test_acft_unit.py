"""ACFT's building blocks: contexts and jitter, bucketing, the truncated encoder, the masked loss."""

import random

import pytest
import torch
from transformers import WhisperModel

from wacft.acft.context import MAX_JITTER, base_context, bucket, draw_context, jitter_band
from wacft.acft.model import decoder_states, encode, masked_mse, reference_states
from wacft.facts import FULL_CONTEXT, SAMPLE_RATE
from wacft.verify.whispercpp import futo_audio_ctx


@pytest.mark.parametrize("seconds", [0.01, 0.02, 0.05, 0.5, 1.0, 2.9, 3.0, 5.0, 12.34, 28.9, 29.0])
def test_context_and_jitter_follow_the_published_rule(seconds):
    """n = round(50 L) + jitter, jitter uniform in [-min(64, n//3), min(64, n//3)), clamped to [1, 1500]."""
    n = round(50 * seconds)
    assert base_context(seconds) == n
    s = min(MAX_JITTER, n // 3)
    published = {min(max(n + j, 1), FULL_CONTEXT) for j in range(-s, s)} or {max(n, 1)}
    draws = {draw_context(seconds, random.Random(k)) for k in range(2000)}
    assert draws == published
    assert set(range(*jitter_band(seconds))) == published


def test_long_clips_never_ask_for_more_than_1500_positions():
    """The published loop draws up to 1450 + 63 for a 29 s clip, past the encoder's 1500 positions: clamped,
    those draws become 1500 (the context they asked for, as far as it goes)."""
    draws = [draw_context(29.0, random.Random(k)) for k in range(2000)]
    assert max(draws) == FULL_CONTEXT and draws.count(FULL_CONTEXT) > 2000 * 10 / 128
    assert jitter_band(29.0) == (1386, FULL_CONTEXT + 1)


def test_short_dictations_keep_their_short_context():
    assert jitter_band(1.0) == (34, 66)  # a 1 s clip: 50 positions, well under FUTO's floor of 160


@pytest.mark.parametrize("samples", [800, 16000, 16001, 48000, 197440, 464000])
def test_the_phone_context_candidate_jitters_around_the_context_the_phone_gives(samples):
    """`phone_context`: the band is centred on verify's futo_audio_ctx (the phone's rule, on the clip's samples)."""
    n = futo_audio_ctx(samples)
    s = min(MAX_JITTER, n // 3)
    assert jitter_band(samples / SAMPLE_RATE, phone=True) == (n - s, min(n + s - 1, FULL_CONTEXT) + 1)


@pytest.mark.parametrize("phone", [False, True])
@pytest.mark.parametrize("batch_size", [1, 4, 16])
def test_bucketing_never_mixes_contexts_beyond_the_jitter_band(batch_size, phone):
    rng = random.Random(7)
    seconds = [rng.uniform(0.5, 29) for _ in range(300)] + [rng.uniform(1, 3) for _ in range(100)]
    batches = bucket(seconds, batch_size, random.Random(1), phone=phone)
    assert sorted(i for b in batches for i in b.indices) == list(range(len(seconds)))
    for b in batches:
        assert 1 <= len(b.indices) <= batch_size
        for i in b.indices:
            low, high = jitter_band(seconds[i], phone)
            assert low <= b.context < high
    assert len(batches) <= len(seconds) // batch_size * 2 + 2  # buckets stay mostly full


def test_full_context_share():
    seconds = [random.Random(i).uniform(1, 10) for i in range(200)]
    batches = bucket(seconds, 4, random.Random(3), full_context_share=0.5)
    share = sum(b.context == FULL_CONTEXT for b in batches) / len(batches)
    assert 0.3 < share < 0.7


@pytest.fixture(scope="module")
def model(random_whisper):
    return WhisperModel.from_pretrained(random_whisper()).eval()


def test_truncated_encoder_at_1500_is_the_full_encoder(model):
    features = torch.randn(2, model.config.num_mel_bins, 3000)
    with torch.no_grad():
        ours = encode(model.encoder, features, FULL_CONTEXT)
        theirs = model.encoder(features).last_hidden_state
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_truncated_encoder_really_cuts_the_input(model):
    """At n positions only the first 2n mel frames matter: what follows them cannot leak in."""
    features = torch.randn(1, model.config.num_mel_bins, 3000)
    changed = features.clone()
    changed[..., 200:] = torch.randn_like(changed[..., 200:])
    with torch.no_grad():
        assert encode(model.encoder, features, 100).shape == (1, 100, model.config.d_model)
        torch.testing.assert_close(encode(model.encoder, features, 100), encode(model.encoder, changed, 100))
        assert not torch.allclose(encode(model.encoder, features, 101), encode(model.encoder, changed, 101))


def test_loss_is_zero_for_the_same_weights_at_full_context(model):
    features = torch.randn(2, model.config.num_mel_bins, 3000)
    tokens = torch.tensor([[50257, 50362, 100, 200, 50256], [50257, 50362, 300, 50256, 50256]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], dtype=torch.bool)
    with torch.no_grad():
        student = decoder_states(model, tokens, encode(model.encoder, features, FULL_CONTEXT))
        assert student.shape[0] == model.config.decoder_layers + 1
        assert masked_mse(student, reference_states(model, features, tokens), mask).item() == 0.0
        shifted = reference_states(model, features, tokens) + 1
        assert masked_mse(student, shifted, mask).item() == pytest.approx(1.0)


def test_without_padding_the_loss_is_the_published_one(model):
    """FUTO's loop: MSELoss over every decoder hidden state concatenated, student at n, reference at 1500
    through transformers' own encoder."""
    features = torch.randn(1, model.config.num_mel_bins, 3000)
    tokens = torch.tensor([[50257, 50362, 11, 50256]])
    with torch.no_grad():
        partial = encode(model.encoder, features, 120)
        full = model.encoder(features).last_hidden_state
        student, reference = (
            model.decoder(tokens, encoder_hidden_states=encoded, output_hidden_states=True).hidden_states
            for encoded in (partial, full)
        )
        published = torch.nn.MSELoss()(torch.cat(student, 0), torch.cat(reference, 0))
        everything = torch.ones_like(tokens, dtype=torch.bool)
        ours = masked_mse(decoder_states(model, tokens, partial), reference_states(model, features, tokens),
                          everything)
    torch.testing.assert_close(ours, published)


def test_padding_is_masked_out_of_the_loss(model):
    """A padded batch's loss is the mean over the real tokens of each clip, whatever the padding holds."""
    features = torch.randn(2, model.config.num_mel_bins, 3000)
    short, long = [50257, 50362, 11, 50256], [50257, 50362, 11, 12, 13, 50256]
    pad = torch.tensor([short + [0, 0], long])
    pad_other = torch.tensor([short + [777, 999], long])
    mask = torch.tensor([[1] * 4 + [0, 0], [1] * 6], dtype=torch.bool)
    with torch.no_grad():
        losses = []
        for tokens in (pad, pad_other):
            student = decoder_states(model, tokens, encode(model.encoder, features, 120))
            losses.append(masked_mse(student, reference_states(model, features, tokens), mask))
        torch.testing.assert_close(losses[0], losses[1])
        one = []
        for row, clip in enumerate((short, long)):
            t = torch.tensor([clip])
            s = decoder_states(model, t, encode(model.encoder, features[row : row + 1], 120))
            one.append(((s - reference_states(model, features[row : row + 1], t)) ** 2).sum() / (s.numel()))
    weights = torch.tensor([4.0, 6.0])
    torch.testing.assert_close(losses[0], (torch.stack(one) * weights).sum() / weights.sum())
