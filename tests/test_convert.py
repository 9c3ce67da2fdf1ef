"""Conversion of tiny random-weight Whisper folders, checked by reading the files back and by whisper.cpp."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from wacft.cli import main as cli
from wacft.convert.convert import convert, output_sizes, plan_outputs
from wacft.convert.ggml import CONVERSION_TYPES, FILE_TYPES, GGMLType, read_ggml
from wacft.convert.mel import mel_filters
from wacft.convert.names import expected_names, ggml_name
from wacft.errors import WacftError
from wacft.verify.whispercpp import Clip, transcribe

ALL_TYPES = list(FILE_TYPES)


def convert_one(model, out, file_type="f16", **kwargs):
    [result] = convert(str(model), plan_outputs(out, [file_type]), **kwargs)
    return result


def source_tensors(folder):
    tensors = {}
    for path in folder.glob("*.safetensors"):
        tensors.update(load_file(path))
    return {ggml_name(k): v for k, v in tensors.items() if ggml_name(k)}


@pytest.fixture(scope="module")
def speech(speak):
    return speak("Hello, this is a test of the voice input.")


@pytest.fixture(scope="module")
def english(random_whisper):
    return random_whisper()


@pytest.fixture(scope="module")
def all_types(english, tmp_path_factory):
    """One pass writes every type."""
    out = tmp_path_factory.mktemp("all") / "tiny.bin"
    return {r.file_type.name: r for r in convert(str(english), plan_outputs(out, ALL_TYPES))}


def test_every_conversion_type_has_its_file_type():
    """`--type` offers CONVERSION_TYPES; the table says how each is written."""
    assert tuple(FILE_TYPES) == CONVERSION_TYPES


def test_sizes_are_known_before_writing(english, all_types):
    assert output_sizes(str(english), ALL_TYPES) == {name: r.size for name, r in all_types.items()}


def test_one_pass_writes_every_type_with_its_size_and_hash(all_types):
    assert set(all_types) == set(ALL_TYPES)
    for name, result in all_types.items():
        assert result.path.name == f"tiny_{name}.bin"
        assert result.size == result.path.stat().st_size
        assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
        assert not list(result.path.parent.glob(".*.part"))


@pytest.mark.parametrize("name", ALL_TYPES)
def test_header_and_tensor_types_follow_whisper_cpp(english, all_types, name):
    config = json.loads((english / "config.json").read_text())
    model = read_ggml(all_types[name].path)
    h = model.hparams
    assert (h.n_vocab, h.n_audio_state, h.n_audio_layer, h.n_text_layer, h.n_mels, h.n_text_ctx) == (
        config["vocab_size"], config["d_model"], config["encoder_layers"], config["decoder_layers"],
        config["num_mel_bins"], config["max_target_positions"],
    )
    assert h.ftype == FILE_TYPES[name].ftype and not h.multilingual
    assert model.n_tokens == 50256
    assert {t.name for t in model.tensors} == expected_names(h)
    weight_type = FILE_TYPES[name].weight_type
    for t in model.tensors:
        if name == "f32" or len(t.shape) == 1 or "bias" in t.name and "conv" in t.name or "positional" in t.name:
            assert t.type == GGMLType.F32, t.name
        elif len(t.shape) == 3:
            assert t.type == GGMLType.F16, t.name  # conv weights stay f16 in quantized files
        else:
            assert t.type == weight_type, t.name
    assert model.tensor("encoder.conv1.bias").shape == (config["d_model"], 1)


def test_values_survive_exactly(english, all_types):
    source = source_tensors(english)
    f32, f16 = read_ggml(all_types["f32"].path), read_ggml(all_types["f16"].path)
    for t in f32.tensors:
        np.testing.assert_array_equal(f32.read_array(t).reshape(source[t.name].shape), source[t.name])
    for t in f16.tensors:
        expected = source[t.name] if t.type == GGMLType.F32 else source[t.name].astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(f16.read_array(t).reshape(source[t.name].shape), expected)


def test_quantized_weights_decode_close_to_the_source(english, all_types):
    from gguf.quants import dequantize

    source = source_tensors(english)["decoder.blocks.0.mlp.0.weight"]
    errors = {}
    for name in ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0"):
        model = read_ggml(all_types[name].path)
        info = model.tensor("decoder.blocks.0.mlp.0.weight")
        raw = model.read_array(info).reshape(info.shape[0], -1)
        errors[name] = np.abs(dequantize(raw, int(info.type)) - source).mean() / np.abs(source).mean()
    assert errors["q8_0"] < 0.01 < errors["q5_0"] < errors["q4_0"] < 0.15
    assert errors["q5_1"] < errors["q4_1"]


def test_mel_filters_and_vocab_sections(all_types):
    raw = all_types["f16"].path.read_bytes()
    filters = np.frombuffer(raw, "<f4", count=80 * 201, offset=4 + 44 + 8).reshape(80, 201)
    np.testing.assert_array_equal(filters, mel_filters(80))
    vocab_at = 4 + 44 + 8 + filters.nbytes
    assert int.from_bytes(raw[vocab_at : vocab_at + 4], "little") == 50256
    tokens, at = [], vocab_at + 4
    for _ in range(221):
        n = int.from_bytes(raw[at : at + 4], "little")
        tokens.append(raw[at + 4 : at + 4 + n])
        at += 4 + n
    assert tokens[0] == b"!" and tokens[220] == b" "  # byte-level tokens as raw bytes


@pytest.mark.parametrize("name", [n for n in ALL_TYPES if n != "f32"])
def test_whisper_cpp_loads_and_runs_every_type(all_types, speech, name):
    # random weights babble: a few tokens prove the decoder runs
    results = transcribe(all_types[name].path, [Clip(speech), Clip(speech, audio_ctx=200)], max_tokens=4)
    assert len(results) == 2 and all(r.text and r.seconds > 0 for r in results)


def test_f32_loads_but_whisper_cpp_cannot_run_it_on_cpu(all_types, speech):
    """whisper.cpp 1.8's CPU conv needs f16 kernels and aborts: the caller survives with a sentence."""
    assert transcribe(all_types["f32"].path, []) == []
    with pytest.raises(WacftError, match="whisper.cpp stopped"):
        transcribe(all_types["f32"].path, [Clip(speech)], max_tokens=4)


@pytest.mark.parametrize(
    "options, n_vocab, n_mels, n_tokens",
    [
        (dict(multilingual=True), 51865, 80, 50257),
        (dict(multilingual=True, num_mel_bins=128), 51865, 128, 50257),  # large-v3 style
        (dict(multilingual=True, num_mel_bins=128, layers=4, decoder_layers=1), 51865, 128, 50257),  # turbo style
    ],
    ids=["multilingual", "large-v3", "turbo"],
)
def test_multilingual_and_128_mel_models(random_whisper, tmp_path, speech, options, n_vocab, n_mels, n_tokens):
    result = convert_one(random_whisper(**options), tmp_path / "m.bin", "q5_0")
    model = read_ggml(result.path)
    assert (model.hparams.n_vocab, model.hparams.n_mels, model.n_tokens) == (n_vocab, n_mels, n_tokens)
    assert model.hparams.n_text_layer == options.get("decoder_layers", model.hparams.n_audio_layer)
    assert model.hparams.multilingual
    assert len(transcribe(result.path, [Clip(speech)], language="en", max_tokens=4)) == 1


def test_sharded_weights_and_tokenizer_json_give_the_same_file(random_whisper, tmp_path):
    plain = convert_one(random_whisper(seed=3), tmp_path / "plain.bin")
    other = convert_one(random_whisper(seed=3, sharded=True, tokenizer="tokenizer.json"), tmp_path / "other.bin")
    assert len(list(random_whisper(seed=3, sharded=True).glob("model-*-of-*.safetensors"))) > 1
    assert plain.sha256 == other.sha256


def test_untied_output_projection_is_refused(random_whisper, tmp_path):
    with pytest.raises(WacftError, match="proj_out"):
        convert_one(random_whisper(untied_proj_out=True), tmp_path / "x.bin")
    assert not list(tmp_path.iterdir())


def test_saved_but_tied_projection_is_dropped(english, tmp_path):
    folder = tmp_path / "tied"
    shutil.copytree(english, folder)
    tensors = load_file(folder / "model.safetensors")
    tensors["proj_out.weight"] = tensors["model.decoder.embed_tokens.weight"]
    from safetensors.numpy import save_file

    save_file(tensors, folder / "model.safetensors")
    model = read_ggml(convert_one(folder, tmp_path / "t.bin").path)
    assert "decoder.proj.weight" not in {t.name for t in model.tensors}


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))


@pytest.fixture
def copy_of(english, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(english, folder)
    return folder


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda f: edit_config(f, model_type="wav2vec2"), "not Whisper"),
        (lambda f: edit_config(f, max_target_positions=None), "max_target_positions"),
        (lambda f: edit_config(f, vocab_size=51865), "vocab_size"),
        (lambda f: edit_config(f, num_mel_bins=128), "num_mel_bins"),
        (lambda f: (f / "config.json").write_text("{not json"), "cannot be read as JSON"),
        (lambda f: (f / "config.json").unlink(), "no config.json"),
        (lambda f: [p.unlink() for p in f.glob("vocab.json")] + [p.unlink() for p in f.glob("tokenizer.json")],
         "no tokenizer"),
        (lambda f: os.truncate(f / "model.safetensors", (f / "model.safetensors").stat().st_size // 2),
         "truncated or corrupt"),
        (lambda f: (f / "model.safetensors").rename(f / "pytorch_model.bin"), "PyTorch .bin"),
    ],
    ids=["not-whisper", "no-text-context", "vocab-mismatch", "mel-mismatch", "bad-json", "no-config",
         "no-tokenizer", "truncated", "pytorch-bin"],
)
def test_bad_models_get_one_clear_sentence(copy_of, tmp_path, breakage, message):
    breakage(copy_of)
    with pytest.raises(WacftError, match=message) as error:
        convert_one(copy_of, tmp_path / "out.bin")
    assert "\n" not in str(error.value)
    assert not list(tmp_path.glob("*out*"))


def test_max_length_absent_or_different_is_fine(copy_of, tmp_path):
    edit_config(copy_of, max_length=None)
    assert read_ggml(convert_one(copy_of, tmp_path / "a.bin").path).hparams.n_text_ctx == 448
    edit_config(copy_of, max_length=225)
    assert read_ggml(convert_one(copy_of, tmp_path / "b.bin").path).hparams.n_text_ctx == 448


def test_missing_inputs(tmp_path):
    with pytest.raises(WacftError, match="neither a folder nor"):
        convert_one(tmp_path / "nope", tmp_path / "out.bin")
    (tmp_path / "file").write_text("x")
    with pytest.raises(WacftError, match="is a file"):
        convert_one(tmp_path / "file", tmp_path / "out.bin")


def test_existing_output_is_kept_unless_forced(english, tmp_path):
    out = tmp_path / "out_f16.bin"
    out.write_bytes(b"keep me")
    with pytest.raises(WacftError, match="--force"):
        convert_one(english, out)
    assert out.read_bytes() == b"keep me"
    convert_one(english, out, force=True)
    assert read_ggml(out).hparams.ftype == 1


def test_rows_that_cannot_be_quantized(random_whisper, tmp_path):
    odd = random_whisper(d_model=48, heads=2)
    with pytest.raises(WacftError, match="not a multiple of 32"):
        convert_one(odd, tmp_path / "q.bin", "q4_0")
    assert read_ggml(convert_one(odd, tmp_path / "f.bin", "f16").path).hparams.n_audio_state == 48


DISK_FULL = """
import resource, signal, sys
from wacft.convert.convert import convert, output_sizes, plan_outputs
from wacft.errors import WacftError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writing past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
try:
    convert(sys.argv[1], plan_outputs(sys.argv[2], ["f16"]))
except WacftError as e:
    sys.exit(str(e))
"""


def test_disk_full_leaves_nothing_behind(english, tmp_path):
    out = tmp_path / "full.bin"
    proc = subprocess.run([sys.executable, "-c", DISK_FULL, str(english), str(out), "100000"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "file-size limit" in proc.stderr and "Traceback" not in proc.stderr  # no room, and said as which
    assert list(tmp_path.iterdir()) == []


def test_offline_hub_ids_resolve_from_the_cache(english, tmp_path, monkeypatch):
    """A hub id is looked up through huggingface_hub; offline, only its cache can answer."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(WacftError, match="not in the local cache"):
        convert_one("openai/whisper-tiny.en", tmp_path / "x.bin")
    repo = tmp_path / "hub" / "models--openai--whisper-tiny.en"
    shutil.copytree(english, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    assert read_ggml(convert_one("openai/whisper-tiny.en", tmp_path / "x.bin").path).hparams.n_vocab == 51864


def test_cli_convert_and_inspect(english, tmp_path, capsys):
    out = tmp_path / "cli.bin"
    assert cli(["convert", str(english), "--out", str(out), "--type", "f16", "--type", "q8_0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    for line, name in zip(lines, ["f16", "q8_0"], strict=True):
        path = tmp_path / f"cli_{name}.bin"
        assert line.startswith(str(path)) and hashlib.sha256(path.read_bytes()).hexdigest() in line
    assert cli(["inspect", str(tmp_path / "cli_q8_0.bin")]) == 0
    shown = capsys.readouterr().out
    assert "q8_0 (ftype 2007)" in shown and "English-only" in shown and "q8_0" in shown.splitlines()[-1]


def test_cli_errors_are_one_line_without_traceback(english, tmp_path, capsys):
    out = tmp_path / "cli_q8_0.bin"  # what `--out cli.bin` writes first (the default types: q8_0, q5_0)
    out.write_bytes(b"x")
    assert cli(["convert", str(english), "--out", str(tmp_path / "cli.bin")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err and "Traceback" not in err
    assert cli(["inspect", str(out)]) == 1
    assert "not a whisper.cpp GGML model" in capsys.readouterr().err


def test_reader_rejects_truncated_files(all_types, tmp_path):
    cut = tmp_path / "cut.bin"
    cut.write_bytes(all_types["q5_0"].path.read_bytes()[:-100])
    with pytest.raises(WacftError, match="truncated"):
        read_ggml(cut)


@pytest.mark.parametrize(("out", "types", "written"), [
    ("base_en_acft.bin", ["q5_0"], ["base_en_acft_q5_0.bin"]),
    ("base_en_acft.bin", ["q8_0", "q5_0"], ["base_en_acft_q8_0.bin", "base_en_acft_q5_0.bin"]),
    ("base_en_acft_q8_0.bin", ["q8_0"], ["base_en_acft_q8_0.bin"]),
    ("base_en_acft_q8_0.bin", ["q8_0", "q5_0"], ["base_en_acft_q8_0.bin", "base_en_acft_q5_0.bin"]),
    ("model", ["f16"], ["model_f16.bin"]),
], ids=["one", "several", "named-for-its-type", "named-for-one-of-them", "no-suffix"])
def test_one_naming_rule_for_one_type_and_several(out, types, written, tmp_path):
    """Whatever the count of types, a person who asks for FILE_q5_0.bin after `--out FILE.bin` finds it."""
    assert [o.path.name for o in plan_outputs(tmp_path / out, types)] == written
