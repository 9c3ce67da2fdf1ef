"""Step 1: the speech data. A hub id or a local folder, checked in the background."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.suggester import Suggester
from textual.widgets import Button, Input, Static

from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import Form


class PathSuggester(Suggester):
    """Completes local paths as they are typed."""

    async def get_suggestion(self, value: str) -> str | None:
        path = Path(value).expanduser()
        folder, stem = (path, "") if value.endswith("/") else (path.parent, path.name)
        if not folder.is_dir():
            return None
        matches = sorted(p for p in folder.iterdir() if p.name.startswith(stem) and not p.name.startswith("."))
        if not matches:
            return None
        return value + matches[0].name[len(stem):] + ("/" if matches[0].is_dir() else "")


class DatasetScreen(StepScreen):
    TITLE = "1 · Dataset"
    HELP = ("A Hugging Face dataset id (e.g. google/fleurs@refs/convert/parquet, config en_us: FLEURS' parquet "
            "export) or a folder of audio files with a metadata.csv (file_name,text). [b]ctrl+r[/b] checks it, "
            "[b]ctrl+n[/b] goes on.")
    BINDINGS = [("ctrl+r", "check", "Check"), ("ctrl+n", "next", "Next"), ("escape", "back", "Back"),
                ("ctrl+t", "app.switch_screen('record')", "Record your own")]
    checked: tuple | None = None  # the fields a check found clips with: moving on needs them as they are now

    def body(self) -> ComposeResult:
        s = self.session
        yield Form(
            ("dataset", Input(s.dataset, placeholder="hub id or folder", id="dataset", suggester=PathSuggester(),
                              compact=True)),
            ("config", Input(s.dataset_config, placeholder="hub only, e.g. en_us", id="config", compact=True)),
            ("split", Input(s.split, placeholder="train", id="split", compact=True)),
            ("audio column", Input(s.audio_column, placeholder="found by the check", id="audio_column",
                                   compact=True)),
            ("text column", Input(s.text_column, placeholder="found by the check", id="text_column",
                                  compact=True)),
        )
        yield Button("Check", id="check", variant="primary", compact=True)
        yield Static("", id="report")

    def on_screen_resume(self) -> None:
        """The dataset the session has now (the record step may just have set it)."""
        self.query_one("#dataset", Input).value = self.session.dataset

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_check()

    def on_input_submitted(self) -> None:
        self.action_check()

    def fields(self) -> tuple:
        return tuple(self.query_one(f"#{name}", Input).value.strip()
                     for name in ("dataset", "config", "split", "audio_column", "text_column"))

    def action_check(self) -> None:
        self.session.dataset = self.query_one("#dataset", Input).value.strip()
        self.session.dataset_config = self.query_one("#config", Input).value.strip()
        self.session.split = self.query_one("#split", Input).value.strip() or "train"
        self.session.audio_column, self.session.text_column = self.value("audio_column"), self.value("text_column")
        if not self.session.dataset:
            self.query_one("#report", Static).update("[red]Type a hub id or a folder first.[/red]")
            return
        self.query_one("#report", Static).update("checking…")
        self.checked = None
        self.check(self.fields())

    @work(thread=True, exclusive=True)
    def check(self, fields: tuple) -> None:
        from wacft.errors import WacftError
        from wacft.services.datasets import survey

        try:
            found = survey(self.session.dataset_spec())
        except WacftError as e:
            self.tell(self.report, Text(f"✗ {e}", style="red"), fields)  # as the engine words it
            return
        text = f"[green]✓[/green] {found.describe()}"
        self.tell(self.report, text, fields, (found.clips, found.seconds, found.partial))

    def report(self, text: str | Text, fields: tuple, counted: tuple[int, float, bool] | None = None) -> None:
        self.put("report", text)
        self.checked = fields if counted else None
        if counted:
            s = self.session
            s.dataset_clips, s.dataset_seconds, s.dataset_partial = counted
            s.save()

    def action_next(self) -> None:
        if self.checked and self.checked == self.fields():
            self.go("model")
        elif self.checked:  # the fields changed since: what was checked is not what they show
            self.query_one("#report", Static).update("[yellow]The dataset fields changed since the check; check"
                                                     " them again (ctrl+r).[/yellow]")
        else:
            self.query_one("#report", Static).update("[yellow]Check the dataset first (ctrl+r).[/yellow]")

    def action_back(self) -> None:
        self.go("start")
