"""SVG snapshots of the record step at 80x24 and 120x40, reopened on a folder with two clips kept (fixed
proposals and clip lengths, relative paths; see test_tui_snapshots for what keeps them machine-free)."""

import numpy as np
from test_tui import text
from test_tui_snapshots import SIZES, carry_on, place, wizard  # noqa: F401 (place: the autouse fixture)

from wacft.record.folder import RecordingFolder
from wacft.record.prompts import propose

TERMS = ["GitHub", "Grafana", "Anja Müller"]
OWN = "I pushed the fix to GitHub last night. Anja Müller will review it on Monday."


def recorded(path) -> str:
    folder = RecordingFolder(path)
    folder.start(TERMS, propose(TERMS, OWN))
    for seconds, prompt in zip((1.2, 3.4), folder.state.prompts, strict=False):
        folder.keep(np.full(int(16000 * seconds), 0.1, np.float32), prompt.text)
    return path.name


@SIZES
def test_record(snap_compare, size, tmp_path):
    app = wizard(step="record", record_folder=recorded(tmp_path / "mine"))
    ready = carry_on(lambda app: "to go" in text(app, "#prompt"))
    assert snap_compare(app, terminal_size=size, run_before=ready)
