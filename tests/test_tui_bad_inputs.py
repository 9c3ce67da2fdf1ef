"""Bad inputs and faults in the wizard, driven as a person would (Textual's Pilot, real files): each one a
sentence on the screen, never a traceback."""

import pytest
from textual.widgets import Input, Static

from wacft.tui.app import WacftApp

pytestmark = pytest.mark.usefixtures("wacft_home")


async def settle(pilot, until, tries=300):
    for _ in range(tries):
        await pilot.pause(0.1)
        if until():
            return
    raise AssertionError("the screen never got there")


def shown(app, selector) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_a_latin_1_metadata_csv_is_a_sentence(speech_dataset):
    data = speech_dataset(["Café au lait."], voices=["en-us"])
    metadata = data / "metadata.csv"
    metadata.write_bytes(metadata.read_text().encode("latin-1"))
    app = WacftApp(first="dataset")
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.query_one("#dataset", Input).value = str(data)
        await pilot.press("ctrl+r")
        await settle(pilot, lambda: "✗" in shown(app, "#report"))
        assert f"{metadata} is not UTF-8 text (line 2 has the byte 0xe9)" in shown(app, "#report")
    assert app.return_code in (0, None)


async def test_a_read_only_data_folder_is_a_warning_not_a_crash(read_only_folder, monkeypatch):
    monkeypatch.setenv("WACFT_HOME", str(read_only_folder / "wacft"))
    app = WacftApp(environment=lambda: [])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        assert app.screen.TITLE.startswith("1 · Dataset")
        [note] = app._notifications
        assert f"Your place in the wizard cannot be saved in {read_only_folder / 'wacft'} (Read-only file" in (
            note.message)
    assert app.return_code in (0, None)


def broken_model(folder, source, breakage):
    import json
    import shutil

    from safetensors.numpy import load_file, save_file

    shutil.copytree(source, folder)
    weights = folder / "model.safetensors"
    if breakage == "header":
        weights.write_bytes(b"\xff" * 8 + weights.read_bytes()[8:])
    elif breakage == "empty":
        weights.write_bytes(b"")
    elif breakage == "tensor":
        tensors = load_file(weights)
        del tensors["model.decoder.layer_norm.weight"]
        save_file(tensors, weights, metadata={"format": "pt"})
    else:  # the vocabulary: the config's size is not the embedding's
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "vocab_size": 51865}))
    return folder


BROKEN = {"header": "is not a safetensors file", "empty": "is not a safetensors file (too short)",
          "tensor": "lacks 1 Whisper tensor(s)", "vocab": "tokenizer does not fit its multilingual config"}


@pytest.mark.parametrize("breakage", BROKEN)
async def test_the_model_step_checks_what_training_checks(breakage, random_whisper, speech_dataset, tmp_path, capsys):
    from wacft.cli import main

    model = broken_model(tmp_path / "model", random_whisper(), breakage)
    data = speech_dataset(["Hello."], voices=["en-us"])
    assert main(["train", "--model", str(model), "--dataset", str(data), "--out", str(tmp_path / "out"), "--on",
                 "local", "--detach"]) == 1
    said = capsys.readouterr().err.removeprefix("wacft: ").strip()
    assert BROKEN[breakage] in said
    app = WacftApp(first="model")
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.query_one("#custom", Input).value = str(model)
        await settle(pilot, lambda: "✗" in shown(app, "#check") or "✓" in shown(app, "#check"))
        assert shown(app, "#check") == f"✗ {said}"


async def test_moving_on_needs_the_dataset_the_fields_show(speech_dataset):
    data = speech_dataset(["Hello world."], voices=["en-us"])
    app = WacftApp(first="dataset")
    async with app.run_test(size=(120, 40)) as pilot:
        field = app.screen.query_one("#dataset", Input)
        field.value = str(data)
        await pilot.press("ctrl+r")
        await settle(pilot, lambda: "✓" in shown(app, "#report"))
        field.value = str(data) + "-other"  # typed over after the check
        await pilot.press("ctrl+n")
        assert app.screen.TITLE.startswith("1 · Dataset")
        assert "The dataset fields changed since the check; check them again" in shown(app, "#report")
        field.value = str(data)  # back to what was checked: on it goes
        await pilot.press("ctrl+n")
        assert app.screen.TITLE.startswith("2 · Model") and app.session.dataset == str(data)
