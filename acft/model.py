"""The forward passes ACFT compares: Whisper's encoder on a truncated audio context, as whisper.cpp runs
it with `audio_ctx`, and the decoder's hidden states at every layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from wacft.facts import FULL_CONTEXT

if TYPE_CHECKING:
    from transformers.models.whisper.modeling_whisper import WhisperEncoder, WhisperModel


def fit_frames(features: torch.Tensor, n_ctx: int) -> torch.Tensor:
    """Cut or zero-pad the mel frames to 2 n_ctx: the two convolutions halve the frame rate."""
    missing = 2 * n_ctx - features.shape[-1]
    return nn.functional.pad(features, (0, missing)) if missing > 0 else features[..., : 2 * n_ctx]


def encode(encoder: WhisperEncoder, features: torch.Tensor, n_ctx: int) -> torch.Tensor:
    """Whisper's encoder over n_ctx positions: the input really is cut (not the full 1500 sliced afterwards),
    with the positional embedding cut to match."""
    x = fit_frames(features, n_ctx).to(encoder.conv1.weight.dtype)
    x = nn.functional.gelu(encoder.conv1(x))
    x = nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = x + encoder.embed_positions.weight[:n_ctx]
    x = nn.functional.dropout(x, p=encoder.dropout, training=encoder.training)
    for layer in encoder.layers:
        out = layer(x, None)
        x = out[0] if isinstance(out, tuple) else out  # transformers 4 returns a tuple
    normed: torch.Tensor = encoder.layer_norm(x)
    return normed


def decoder_states(model: WhisperModel, tokens: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
    """Every decoder hidden state (embeddings, each layer, final norm), stacked: (layers + 1, B, T, width)."""
    out = model.decoder(input_ids=tokens, encoder_hidden_states=encoded, output_hidden_states=True)
    return torch.stack(out.hidden_states)


def reference_states(model: WhisperModel, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return decoder_states(model, tokens, encode(model.encoder, features, FULL_CONTEXT))


def masked_mse(student: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over real tokens only; with no padding it equals MSELoss over all states."""
    weights = mask[None, :, :, None].to(student.dtype)
    squared = (student.float() - reference.float()) ** 2 * weights
    return squared.sum() / (weights.sum() * student.shape[0] * student.shape[-1])
