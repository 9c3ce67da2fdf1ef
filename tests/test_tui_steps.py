"""Each wizard step on its own terms: reachable with ctrl+p from a fresh session in any order without a
crash, saying what it needs first; keyboard first; defaults that follow earlier choices; never a file
replaced without asking. Driven with Pilot on the real screens."""

import numpy as np
import pytest
from test_tui import adb_with, settle, text
from textual.command import CommandList
from textual.widgets import DataTable, Input, RadioSet

from wacft.tui.app import STEPS, WacftApp
from wacft.tui.session import Session

pytestmark = pytest.mark.usefixtures("wacft_home")

OFFERED = list(STEPS)  # ctrl+p offers every step, at any time
# what each step says it needs first, in a fresh session
NEEDS = {"train": "Check a dataset first (step 1)", "convert": "No trained model yet (step 3)",
         "verify": "Convert a model first (step 4)", "push": "Convert a model first (step 4)",
         "monitor": "No run yet"}
# the field each step focuses when it shows
FIRST_FIELD = {"start": "new", "record": "folder", "dataset": "dataset", "model": "size", "train": "epochs",
               "convert": "model", "verify": "bin", "push": "bin", "monitor": None}  # the monitor has keys, no field


def fresh() -> WacftApp:
    return WacftApp(Session(), environment=lambda: [], phones=lambda: (None, []))


def offered(app) -> dict:
    """ctrl+p's commands for the steps, by step name."""
    titles = {step.TITLE: name for name, step in STEPS.items()}
    return {titles[c.title]: c.callback for c in app.get_system_commands(app.screen) if c.title in titles}


async def shows(pilot, app, name: str) -> None:
    """The step is on screen, says what it needs (or nothing), and its first field has the focus."""
    await settle(pilot, app, lambda: app.screen is app.get_screen(name)
                 and (app.focused is not None) == (FIRST_FIELD[name] is not None))
    assert getattr(app.focused, "id", None) == FIRST_FIELD[name]
    needs = text(app, "#needs") if name != "start" else ""
    assert (NEEDS[name] in needs) if name in NEEDS else not needs.strip()


@pytest.mark.parametrize("first", OFFERED)
async def test_every_step_then_every_other_from_a_fresh_session(first):
    """Every ordered pair of steps (and each step first), each from a fresh session, through ctrl+p's own
    commands: 9 firsts x 9 seconds (the same step twice: it alone)."""
    for second in OFFERED:
        app = fresh()
        async with app.run_test(size=(80, 24)) as pilot:
            assert sorted(offered(app)) == sorted(OFFERED)
            for name in dict.fromkeys((first, second)):
                offered(app)[name]()
                await shows(pilot, app, name)


async def test_ctrl_p_opens_verify_in_a_fresh_session():
    """The crash the person met: Verify typed into the command palette before anything was converted."""
    app = fresh()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"verify")
        await settle(pilot, app, lambda: any(list.option_count for list in app.screen.query(CommandList)))
        await pilot.press("enter")
        await shows(pilot, app, "verify")
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "Convert a model first" in text(app, "#result"))


async def test_the_model_step_is_keyboard_first_and_checks_the_choice_in_the_background():
    """Enter and Space pick a size in the list that has the focus; the check runs on each choice, and ctrl+n
    with a model that failed it (here: a hub id not in the offline cache) says why and stays."""
    app = WacftApp(Session(step="model"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        sizes = app.screen.query_one("#size", RadioSet)
        await settle(pilot, app, lambda: app.focused is sizes)
        await pilot.press("enter")  # the list's highlight starts on its first entry
        assert sizes.pressed_button.name == "tiny"
        await settle(pilot, app, lambda: "openai/whisper-tiny.en" in text(app, "#check"))
        await pilot.press("down", "down", "space")
        assert sizes.pressed_button.name == "small"
        await settle(pilot, app, lambda: "✗ openai/whisper-small.en" in text(app, "#check"))
        assert "not in the local cache" in text(app, "#check")
        await pilot.press("ctrl+n")
        assert "cannot be used" in text(app, "#warning") and app.screen.TITLE == "2 · Model"


def model_folder(folder, source, **config):
    """`source`'s files under another name, its config.json changed by `config` (what the model step reads)."""
    import json

    folder.mkdir()
    for f in source.iterdir():
        (folder / f.name).symlink_to(f)
    (folder / "config.json").unlink()
    (folder / "config.json").write_text(json.dumps({**json.loads((source / "config.json").read_text()), **config}))
    return folder


def widened(folder, source, width, layers):
    """`source` (a random_whisper) at another width and depth, as files whose structure is whole and whose weights
    are a sparse file of zeros: what the model step checks (config, tensor shapes, file sizes) without GBs."""
    import json
    import re
    import struct

    folder.mkdir()
    raw = (source / "model.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    config = json.loads((source / "config.json").read_text())
    d, ffn = config["d_model"], config["encoder_ffn_dim"]
    tensors, offset = {"__metadata__": header.pop("__metadata__")}, 0
    for name, info in header.items():
        shape = [width if x == d else 4 * width if x == ffn else x for x in info["shape"]]
        copies = [re.sub(r"layers\.\d+\.", f"layers.{i}.", name) for i in range(layers)] if ".layers.0." in name \
            else [] if ".layers." in name else [name]
        for copy in copies:
            size = 4 * int(np.prod(shape))
            tensors[copy] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
    text = json.dumps(tensors).encode()
    with open(folder / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(8 + len(text) + offset)
    for f in source.iterdir():
        if f.name not in ("model.safetensors", "config.json"):
            (folder / f.name).symlink_to(f)
    (folder / "config.json").write_text(json.dumps({**config, "d_model": width, "encoder_ffn_dim": 4 * width,
                                                    "decoder_ffn_dim": 4 * width, "encoder_layers": layers,
                                                    "decoder_layers": layers, "num_hidden_layers": layers}))
    return folder


async def test_the_model_step_reads_size_and_languages_from_the_config_not_the_name(random_whisper, tmp_path):
    wide = widened(tmp_path / "whisper-tiny.en-mine", random_whisper(), 1024, 24)
    multilingual = model_folder(tmp_path / "whisper-base.en", random_whisper(multilingual=True))
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "config.json").write_text((random_whisper() / "config.json").read_text())
    app = WacftApp(Session(step="model"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        custom = app.screen.query_one("#custom", Input)
        custom.value = str(wide)
        await settle(pilot, app, lambda: "a Whisper medium, English-only" in text(app, "#check"))
        assert "does not run this size" in text(app, "#warning")
        custom.value = str(incomplete)
        await settle(pilot, app, lambda: "has no model.safetensors" in text(app, "#check"))
        custom.value = str(multilingual)
        await settle(pilot, app, lambda: "multilingual" in text(app, "#check"))
        assert not text(app, "#warning").strip()  # small enough for FUTO
        await pilot.press("ctrl+n")
        assert "name the language of the data in the language field" in text(app, "#warning")
        assert app.focused is app.screen.query_one("#language", Input)
        await pilot.press("e", "n", "ctrl+n")
        assert app.screen.TITLE == "3 · Training"
    assert Session.load().model == str(multilingual) and Session.load().language == "en"


async def test_training_fields_say_what_they_accept_as_they_are_typed(tmp_path):
    app = WacftApp(Session(step="train", model="openai/whisper-tiny.en", dataset=str(tmp_path),
                           dataset_clips=40, dataset_seconds=120.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        epochs = app.screen.query_one("#epochs", Input)
        await settle(pilot, app, lambda: app.focused is epochs)
        await pilot.press("backspace", "x")
        await settle(pilot, app, lambda: "ACFT epochs is 'x'; it must be a whole number of at least 0"
                     in text(app, "#status"))
        epochs.value = ""
        assert epochs.placeholder == "a whole number of at least 0"
        await pilot.press("0")
        app.screen.query_one("#finetune", Input).value = "0"
        await settle(pilot, app, lambda: "are both 0" in text(app, "#status"))
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.screen.TITLE == "3 · Training" and "are both 0" in text(app, "#status")
    from wacft.acft.runs import list_runs

    assert not list_runs()


async def test_the_output_folder_follows_the_model_until_it_is_edited(tmp_path):
    from wacft.paths import runs_dir

    app = WacftApp(Session(step="train", model="openai/whisper-tiny.en"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        out = app.screen.query_one("#out", Input)
        assert out.value == str(runs_dir() / "whisper-tiny.en")
        (runs_dir() / "whisper-base.en").mkdir(parents=True)  # an earlier run's folder
        app.session.model = "openai/whisper-base.en"
        await app.switch_screen("model")
        await app.switch_screen("train")
        await settle(pilot, app, lambda: out.value == str(runs_dir() / "whisper-base.en-2"))
        out.value = str(tmp_path / "mine")
        await pilot.pause()
        app.session.model = "openai/whisper-small.en"
        await app.switch_screen("model")
        await app.switch_screen("train")
        await pilot.pause()
        assert out.value == str(tmp_path / "mine") and app.session.out == str(tmp_path / "mine")


@pytest.mark.parametrize("recorded", [True, False])
async def test_training_a_recording_says_other_voices_train_beside_it(tmp_path, recorded):
    from wacft.record.folder import RecordingFolder

    folder = RecordingFolder(tmp_path / "mine")
    if recorded:
        folder.start([], [])  # the record step's session: the folder holds one voice
    app = WacftApp(Session(step="train", model="openai/whisper-tiny.en", dataset=str(folder.path)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await settle(pilot, app, lambda: app.screen.TITLE == "3 · Training" and text(app, "#what"))
        assert ("and 36 clips of other voices (espeak-ng)" in text(app, "#what")) == recorded


async def test_the_dataset_step_takes_the_column_names(tmp_path, speech_dataset):
    folder = speech_dataset(["Good morning."])
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for clip in folder.glob("*.wav"):
        (renamed / clip.name).symlink_to(clip)
    rows = (folder / "metadata.csv").read_text().splitlines()
    (renamed / "metadata.csv").write_text("\n".join(["clip,words", *rows[1:]]) + "\n")
    app = WacftApp(Session(step="dataset", dataset=str(renamed)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "✗" in text(app, "#report"))
        assert "its columns are clip, words" in text(app, "#report")
        app.screen.query_one("#audio_column", Input).value = "clip"
        app.screen.query_one("#text_column", Input).value = "words"
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "✓ 2 clips" in text(app, "#report"))
        await pilot.press("ctrl+n")
    config = Session.load().settings()
    assert (config.audio_column, config.text_column) == ("clip", "words")


@pytest.fixture(scope="module")
def model_bin(tmp_path_factory, random_whisper):
    from wacft.convert.convert import convert, plan_outputs

    [result] = convert(str(random_whisper()), plan_outputs(tmp_path_factory.mktemp("bin") / "model.bin", ["q8_0"]))
    return result.path


async def test_convert_asks_before_replacing_a_file(random_whisper, tmp_path):
    out = tmp_path / "mine_q8_0.bin"  # what the output file mine.bin names for q8_0
    out.write_bytes(b"an earlier file")
    app = WacftApp(Session(step="convert", model=str(random_whisper())))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        app.screen.query_one("#out", Input).value = str(tmp_path / "mine.bin")
        app.screen.query_one("#types").deselect("q5_0")
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: "Replace" in str(app.screen.query_one("#question").render()))
        await pilot.press("n")
        await settle(pilot, app, lambda: "Nothing written" in text(app, "#result"))
        assert out.read_bytes() == b"an earlier file"
        await pilot.press("ctrl+r")
        await settle(pilot, app, lambda: app.screen.query("#question"))
        await pilot.press("y")
        await settle(pilot, app, lambda: "sha256" in text(app, "#result"))
    assert out.read_bytes()[:4] == b"lmgg"  # GGML's magic, little-endian
    assert Session.load().bins == {"q8_0": str(out)}


async def test_the_phone_step_tells_a_file_rewritten_since_its_verdict(model_bin, tmp_path):
    """A verdict is about the file as it was verified: converted again (a new training in the same folder), the
    same name holds another model, and its "ready" would be a guess."""
    import shutil

    from wacft.services.verify import stamp_of

    model = tmp_path / "model_q8_0.bin"
    shutil.copyfile(model_bin, model)
    verified = {"file": str(model), "stamp": stamp_of(str(model)), "state": "ready", "verdict": "Ready for the phone."}
    for rewrite, shown in ((False, "✓ Ready for the phone."), (True, "Rewritten since step 5 verified it")):
        if rewrite:
            (tmp_path / "new.bin").write_bytes(model.read_bytes()[:-1] + b"x")
            (tmp_path / "new.bin").replace(model)  # as a conversion writes it: atomically, a new file
        session = Session(step="push", bins={"q8_0": str(model)}, verified=verified)
        app = WacftApp(session, environment=lambda: [], phones=lambda: (None, []))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("c")
            await settle(pilot, app, lambda app=app, shown=shown: shown in text(app, "#verdict"))
            assert app.screen.unready(str(model)) == ("model_q8_0.bin was rewritten since step 5 verified it. Push it"
                                                      " anyway?" if rewrite else "")


async def test_push_goes_to_the_phone_picked_across_refreshes_and_asks_before_replacing(model_bin, tmp_path,
                                                                                        monkeypatch):
    """Two phones; the second picked; the list refreshes (every 3 s) before the push, which must still go to
    the second. Then the same name again: replaced only on a yes."""
    from wacft.tui.app import _phones

    lookups = []

    def phones():
        lookups.append(1)  # counted as each lookup starts: the one before it has been shown
        return _phones()

    with adb_with(tmp_path, monkeypatch, {"state": "device"}, {"state": "device", "model": "Pixel 8"}) as made:
        verified = {"file": str(model_bin), "state": "ready", "verdict": "Ready for the phone."}
        app = WacftApp(Session(step="push", bins={"q8_0": str(model_bin)}, verified=verified), phones=phones)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("c")
            table = app.screen.query_one("#phones", DataTable)
            await settle(pilot, app, lambda: table.row_count == 2)
            table.focus()
            await pilot.press("down")
            under_cursor = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            picked = next(p for p in made if p.address == under_cursor)
            other = next(p for p in made if p is not picked)
            shown = len(lookups)
            await settle(pilot, app, lambda: len(lookups) >= shown + 2)  # a refresh shown since the pick
            name = app.screen.query_one("#name", Input).value
            await pilot.press("ctrl+r")
            await settle(pilot, app, lambda: "verified" in text(app, "#result"))
            assert picked.file(f"/sdcard/Download/{name}").read_bytes() == model_bin.read_bytes()
            assert not other.file(f"/sdcard/Download/{name}").exists()
            picked.file(f"/sdcard/Download/{name}").write_bytes(b"the phone's own")
            await pilot.press("ctrl+r")
            await settle(pilot, app, lambda: app.screen.query("#question"))
            assert name in str(app.screen.query_one("#question").render())
            await pilot.press("n")
            await settle(pilot, app, lambda: "Not pushed" in text(app, "#result"))
            assert picked.file(f"/sdcard/Download/{name}").read_bytes() == b"the phone's own"
            await pilot.press("ctrl+r")
            await settle(pilot, app, lambda: app.screen.query("#question"))
            await pilot.press("y")
            await settle(pilot, app, lambda: "verified" in text(app, "#result"))
            assert picked.file(f"/sdcard/Download/{name}").read_bytes() == model_bin.read_bytes()
