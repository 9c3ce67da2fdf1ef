"""Hugging Face Whisper tensor names -> whisper.cpp tensor names, and the set whisper.cpp expects."""

from __future__ import annotations

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


def expected_names(hparams: Hparams) -> set[str]:
    """Every tensor whisper.cpp loads for these dimensions: it refuses a file with one missing or extra."""
    names = set(TOP_LEVEL.values())

    def block(prefix: str, modules: list[str]) -> None:
        for module in modules:
            names.add(f"{prefix}.{module}.weight")
            if not module.endswith(".key"):
                names.add(f"{prefix}.{module}.bias")

    encoder_modules = [m for k, m in LAYER_MODULES.items() if k.split(".")[0] in ENCODER_LAYER_MODULES]
    for i in range(hparams.n_audio_layer):
        block(f"encoder.blocks.{i}", encoder_modules)
    for i in range(hparams.n_text_layer):
        block(f"decoder.blocks.{i}", list(LAYER_MODULES.values()))
    return names
