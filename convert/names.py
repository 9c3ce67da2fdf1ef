"""Hugging Face Whisper tensor names -> whisper.cpp tensor names, and the set whisper.cpp expects."""

from __future__ import annotations

from collections.abc import Callable

from wacft.convert.ggml import Hparams

# Within a layer: HF module path -> whisper.cpp module path (k projections have no bias in Whisper).
LAYER_MODULES = {
    "self_attn.q_proj": "attn.query",
    "self_attn.k_proj": "attn.key",
    "self_attn.v_proj": "attn.value",
    "self_attn.out_proj": "attn.out",
    "self_attn_layer_norm": "attn_ln",
    "encoder_attn.q_proj": "cross_attn.query",
    "encoder_attn.k_proj": "cross_attn.key",
    "encoder_attn.v_proj": "cross_attn.value",
    "encoder_attn.out_proj": "cross_attn.out",
    "encoder_attn_layer_norm": "cross_attn_ln",
    "fc1": "mlp.0",
    "fc2": "mlp.2",
    "final_layer_norm": "mlp_ln",
}
TOP_LEVEL = {
    "encoder.conv1.weight": "encoder.conv1.weight",
    "encoder.conv1.bias": "encoder.conv1.bias",
    "encoder.conv2.weight": "encoder.conv2.weight",
    "encoder.conv2.bias": "encoder.conv2.bias",
    "encoder.embed_positions.weight": "encoder.positional_embedding",
    "encoder.layer_norm.weight": "encoder.ln_post.weight",
    "encoder.layer_norm.bias": "encoder.ln_post.bias",
    "decoder.embed_positions.weight": "decoder.positional_embedding",
    "decoder.embed_tokens.weight": "decoder.token_embedding.weight",
    "decoder.layer_norm.weight": "decoder.ln.weight",
    "decoder.layer_norm.bias": "decoder.ln.bias",
}
TOKEN_EMBEDDING = "decoder.token_embedding.weight"
HF_PROJ_OUT = "proj_out.weight"
# whisper.cpp expects these as [n, 1] rather than [n]
CONV_BIASES = ("encoder.conv1.bias", "encoder.conv2.bias")
POSITIONAL_EMBEDDINGS = ("encoder.positional_embedding", "decoder.positional_embedding")
ENCODER_LAYER_MODULES = ("self_attn", "self_attn_layer_norm", "fc1", "fc2", "final_layer_norm")


def strip_prefix(hf_name: str) -> str:
    """WhisperForConditionalGeneration saves `model.encoder...`, WhisperModel saves `encoder...`."""
    return hf_name.removeprefix("model.")


def ggml_name(hf_name: str) -> str | None:
    """The whisper.cpp name for a Hugging Face tensor name, or None when whisper.cpp has no such tensor."""
    name = strip_prefix(hf_name)
    if name in TOP_LEVEL:
        return TOP_LEVEL[name]
    parts = name.split(".")
    if len(parts) < 5 or parts[0] not in ("encoder", "decoder") or parts[1] != "layers":
        return None
    module, param = ".".join(parts[3:-1]), parts[-1]
    if module not in LAYER_MODULES or param not in ("weight", "bias"):
        return None
    return f"{parts[0]}.blocks.{parts[2]}.{LAYER_MODULES[module]}.{param}"


# a shape's dimensions by what sets them: the config key (as the error names it) and its size
DIMENSIONS: dict[str, Callable[[Hparams], int]] = {
    "vocab_size": lambda h: h.n_vocab,
    "d_model": lambda h: h.n_audio_state,
    "4 x d_model": lambda h: 4 * h.n_audio_state,  # whisper.cpp's MLP width, whatever the config's ffn_dim
    "num_mel_bins": lambda h: h.n_mels,
    "kernel 3": lambda h: 3,
    "max_source_positions": lambda h: h.n_audio_ctx,
    "max_target_positions": lambda h: h.n_text_ctx,
}
VECTOR, MATRIX = ("d_model",), ("d_model", "d_model")
TOP_LEVEL_SHAPES = {
    "encoder.conv1.weight": ("d_model", "num_mel_bins", "kernel 3"),
    "encoder.conv1.bias": VECTOR,
    "encoder.conv2.weight": ("d_model", "d_model", "kernel 3"),
    "encoder.conv2.bias": VECTOR,
    "encoder.positional_embedding": ("max_source_positions", "d_model"),
    "encoder.ln_post.weight": VECTOR,
    "encoder.ln_post.bias": VECTOR,
    "decoder.positional_embedding": ("max_target_positions", "d_model"),
    "decoder.token_embedding.weight": ("vocab_size", "d_model"),
    "decoder.ln.weight": VECTOR,
    "decoder.ln.bias": VECTOR,
}


def _module_shapes(module: str) -> dict[str, tuple[str, ...]]:
    if module == "mlp.0":
        return {"weight": ("4 x d_model", "d_model"), "bias": ("4 x d_model",)}
    if module == "mlp.2":
        return {"weight": ("d_model", "4 x d_model"), "bias": VECTOR}
    if module.endswith("_ln"):
        return {"weight": VECTOR, "bias": VECTOR}
    if module.endswith(".key"):  # Whisper's key projections have no bias
        return {"weight": MATRIX}
    return {"weight": MATRIX, "bias": VECTOR}


def expected_dimensions(hparams: Hparams) -> dict[str, tuple[str, ...]]:
    """Every tensor whisper.cpp loads for these hparams, with what sets each dimension of its shape
    (outermost first, as the Hugging Face weights have it): whisper.cpp refuses a file with one missing,
    one extra, or one of another shape."""
    layout = dict(TOP_LEVEL_SHAPES)
    encoder_modules = [m for k, m in LAYER_MODULES.items() if k.split(".")[0] in ENCODER_LAYER_MODULES]
    for prefix, count, modules in (("encoder", hparams.n_audio_layer, encoder_modules),
                                   ("decoder", hparams.n_text_layer, list(LAYER_MODULES.values()))):
        for i in range(count):
            for module in modules:
                for param, dims in _module_shapes(module).items():
                    layout[f"{prefix}.blocks.{i}.{module}.{param}"] = dims
    return layout


def expected_shapes(hparams: Hparams) -> dict[str, tuple[int, ...]]:
    return {name: tuple(DIMENSIONS[d](hparams) for d in dims) for name, dims in expected_dimensions(hparams).items()}


def expected_names(hparams: Hparams) -> set[str]:
    return set(expected_dimensions(hparams))


def stored_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], 1) if name in CONV_BIASES else shape  # whisper.cpp reads conv biases as [n, 1]
