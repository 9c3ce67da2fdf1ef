"""SVG snapshots of every wizard screen at 80x24 and 120x40 (pytest-textual-snapshot; `pytest
--snapshot-update` rewrites them after a deliberate change). Nothing in them may depend on the machine: the
screens run in a temporary folder with relative paths, a temporary WACFT_HOME, fixed session contents, fixed
environment checks and phones (injected), fixed audio lengths, no animation and no blinking cursor."""

import json
import re

import numpy as np
import pytest
import soundfile
from rich.cells import cell_len
from test_tui import log_text, settle, text
from textual.widgets import DataTable, Input, SelectionList

from wacft.acft.runs import RunRecord
from wacft.checks import Check
from wacft.device.devices import PhoneInfo
from wacft.tui.app import WacftApp
from wacft.tui.session import Session

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
CHECKS = [
    Check("Modal token", False, "none", "run `modal token new` to train on Modal GPUs"),
    Check("Hugging Face login", True, "token found"),
    Check("adb", True, "/usr/bin/adb"),
    Check("Local GPU", False, "none: local training runs on the CPU",
          "train on Modal for anything beyond a small test"),
]
PHONES = [PhoneInfo("R58M20ABCDE", "device", 1, "Pixel 7", "14", 52_400_000_000, ("org.futo.inputmethod.latin",)),
          PhoneInfo("0123456789", "unauthorized", 2)]
LENGTHS = (0.8, 1.5, 2.5, 3.0, 4.2, 7.5, 12.0)  # seconds: every bin of the histogram but the last
T0 = 1_795_000_000.0  # a fixed moment for run records and events


@pytest.fixture(autouse=True)
def place(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("WACFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # the model step's check: an empty hub cache, offline, whatever this machine has cached (read at import,
    # so set where the hub looks for them)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.chdir(tmp_path)  # paths on screen are relative to here


def wizard(**session) -> WacftApp:
    app = WacftApp(Session(**session), environment=lambda: CHECKS, phones=lambda: (None, PHONES))
    app.animation_level = "none"  # an indeterminate progress bar stands still
    return app


def laid_out(table: DataTable, rows: int) -> bool:
    """The table holds its rows and its columns have grown to fit them: DataTable widens its columns for new
    rows only when it next refreshes, so a row count alone can catch the header at its first widths."""
    return table.row_count == rows and all(
        column.content_width >= max((cell_len(str(cell)) for cell in table.get_column(key)), default=0)
        for key, column in table.columns.items()
    )


def carry_on(until=lambda app: True):
    """run_before: the saved step (unless this is the start screen), its background work done, no blinking."""

    async def run_before(pilot):
        app = pilot.app
        if app.session.step != "start":
            await pilot.press("c")
        await settle(pilot, app, lambda: until(app))
        for field in app.screen.query(Input):
            field.cursor_blink = False

    return run_before


def recordings(folder) -> str:
    """Clips of fixed lengths, a tone in each (a silent clip is skipped), with metadata.csv."""
    folder.mkdir()
    rows = ["file_name,text"]
    for i, seconds in enumerate(LENGTHS):
        tone = 3000 * np.sin(np.arange(int(16000 * seconds)) * 0.1)
        soundfile.write(folder / f"clip{i}.wav", tone.astype(np.int16), 16000)
        rows.append(f"clip{i}.wav,sentence number {i}")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    return folder.name


@SIZES
def test_start(snap_compare, size):
    RunRecord("20261124-091500-base.en-a1b2", "modal", {"model": "openai/whisper-base.en", "out": "/vol/runs/x"},
              status="running", created=T0, gpu="A100-40GB", last={"step": 120, "total_steps": 960}).save()
    RunRecord("20261123-180000-tiny.en-c3d4", "local", {"model": "openai/whisper-tiny.en", "out": "runs/tiny"},
              status="cancelled", created=T0 - 86400, last={"step": 40, "total_steps": 96}).save()
    app = wizard(step="start")
    ready = carry_on(lambda app: laid_out(app.screen.query_one("#runs", DataTable), 2) and app.screen.checks)
    assert snap_compare(app, terminal_size=size, run_before=ready)


@SIZES
def test_dataset(snap_compare, size, tmp_path):
    app = wizard(step="dataset", dataset=recordings(tmp_path / "recordings"))

    async def checked(pilot):
        await carry_on()(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot, pilot.app, lambda: "✓" in text(pilot.app, "#report"))

    assert snap_compare(app, terminal_size=size, run_before=checked)


@SIZES
def test_model(snap_compare, size):
    checked = carry_on(lambda app: "✗" in text(app, "#check"))  # not in the (empty) cache
    assert snap_compare(wizard(step="model", model="openai/whisper-small.en"), terminal_size=size,
                        run_before=checked)


@SIZES
def test_train(snap_compare, size):
    app = wizard(step="train", model="openai/whisper-base.en", dataset="recordings", dataset_clips=420,
                 dataset_seconds=1512.0, where="modal", finetune_epochs=4, out="runs/base-mine")
    ready = carry_on(lambda app: text(app, "#estimate").startswith("About"))
    assert snap_compare(app, terminal_size=size, run_before=ready)


@SIZES
def test_monitor(snap_compare, size, tmp_path):
    """A two-stage run: stage 1's cross-entropy (0.8 down to 0.1) then ACFT's distance (about 4.7), each charted on
    its own scale, the switch in the log."""
    events = [{"type": "log", "message": "dataset: 420 clips (25.2 min of audio); skipped: none"},
              {"type": "log", "message": "420 steps: finetune (2 epochs), acft (6 epochs), on cpu"}]
    for step in range(1, 421):
        stage, first = ("finetune", 1) if step <= 106 else ("acft", 107)
        loss = 0.1 + 0.7 / (1 + step / 10) if stage == "finetune" else 4.6 + 0.15 / (1 + (step - first) / 40)
        events.append({"type": "step", "stage": stage, "step": step, "total_steps": 420,
                       "epoch": 1 + (step - first) // 53, "epochs": 2 if stage == "finetune" else 6,
                       "loss": loss, "lr": 8e-6, "context": 180, "clips": 8 * step,
                       "audio_seconds": 28.8 * step, "clips_per_second": 21.5, "eta_seconds": (420 - step) * 0.37,
                       "time": T0 + step})
        if step % 200 == 0:
            events.append({"type": "checkpoint", "stage": "acft", "path": "runs/base/checkpoint", "step": step})
    events.append({"type": "done", "stage": "acft", "out": "runs/base", "final_loss": 0.0017, "contexts": [40, 320]})
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    RunRecord("20261124-091500-base.en-a1b2", "local", {"model": "openai/whisper-base.en", "out": "runs/base"},
              status="running", created=T0, events=str(tmp_path / "events.jsonl")).save()
    app = wizard(step="monitor", run_id="20261124-091500-base.en-a1b2")
    ready = carry_on(lambda app: "done" in log_text(app))
    assert snap_compare(app, terminal_size=size, run_before=ready)


@SIZES
def test_convert(snap_compare, size, tmp_path, tiny_en_dir):
    (tmp_path / "tiny.en").symlink_to(tiny_en_dir)
    app = wizard(step="convert", trained="tiny.en", out="runs/tiny")
    ready = carry_on(lambda app: "MB" in str(app.screen.query_one(SelectionList).get_option_at_index(0).prompt))
    assert snap_compare(app, terminal_size=size, run_before=ready)


@SIZES
def test_verify(snap_compare, size):
    bins = {"q8_0": "runs/base/base_en_acft_q8_0.bin", "q5_0": "runs/base/base_en_acft_q5_0.bin"}
    assert snap_compare(wizard(step="verify", bins=bins, dataset="recordings"), terminal_size=size,
                        run_before=carry_on())


@pytest.fixture(scope="module")
def model_bin(tmp_path_factory, random_whisper):
    from wacft.convert.convert import convert, plan_outputs

    [result] = convert(str(random_whisper()), plan_outputs(tmp_path_factory.mktemp("bin") / "model.bin", ["q8_0"]))
    return result.path


@SIZES
def test_push(snap_compare, size, tmp_path, model_bin):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "model_q8_0.bin").symlink_to(model_bin)
    app = wizard(step="push", bins={"q8_0": "runs/model_q8_0.bin"})
    ready = carry_on(lambda app: laid_out(app.screen.query_one("#phones", DataTable), 2)
                     and app.screen.query_one("#name", Input).value)
    assert snap_compare(app, terminal_size=size, run_before=ready)


def colours(svg: str) -> set[str]:
    """The colours of the terminal's text and cell backgrounds (not the window frame's coloured buttons)."""
    text_colours = re.findall(r"-r\d+ \{ fill: (#[0-9a-fA-F]{6})", svg)
    return set(text_colours + re.findall(r"<rect fill=\"(#[0-9a-fA-F]{6})", svg))


def grey(colour: str) -> bool:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return max(r, g, b) - min(r, g, b) <= 3  # Rich's default foreground, #c5c8c6, is a grey too


@pytest.mark.parametrize("no_color", [False, True])
async def test_no_color_leaves_only_greys(monkeypatch, no_color):
    """NO_COLOR turns every colour on screen into a grey (Textual's monochrome filter); without it there is
    colour, so this test can tell the two apart."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    app = wizard(step="start")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, lambda: app.screen.checks)
        svg = app.export_screenshot()
    assert app.no_color == no_color
    assert all(grey(c) for c in colours(svg)) == no_color
