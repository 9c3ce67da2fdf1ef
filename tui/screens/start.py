"""The start screen: the environment at a glance, earlier runs, and where to begin."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, DataTable

from wacft.tui.screens.base import StepScreen


class StartScreen(StepScreen):
    TITLE = "wacft: your own Whisper for FUTO Keyboard"
    HELP = ("Dataset → model → ACFT training → convert → verify → phone. "
            "Press [b]n[/b] for a new model, [b]c[/b] to carry on where you stopped.")
    BINDINGS = [("n", "new", "New model"), ("c", "carry_on", "Carry on"), ("r", "refresh", "Refresh")]

    def body(self) -> ComposeResult:
        yield DataTable(id="checks", cursor_type="none")
        yield DataTable(id="runs", cursor_type="row")
        yield Button("New model", id="new", variant="primary")
        yield Button("Carry on", id="carry_on")

    def on_mount(self) -> None:
        self.query_one("#checks", DataTable).add_columns("check", "state", "what to do")
        self.query_one("#runs", DataTable).add_columns("run", "where", "status", "model", "progress")
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        from wacft.acft.runs import list_runs
        from wacft.checks import environment

        checks, runs = environment(), list_runs()
        self.app.call_from_thread(self.show, checks, runs)

    def show(self, checks, runs) -> None:
        table = self.query_one("#checks", DataTable)
        table.clear()
        for c in checks:
            table.add_row(c.name, ("✓ " if c.ok else "✗ ") + c.detail, c.fix)
        table = self.query_one("#runs", DataTable)
        table.clear()
        for r in runs:
            progress = f"step {r.last['step']}/{r.last['total_steps']}" if r.last else ""
            table.add_row(r.id, r.backend, r.status, r.config.get("model", ""), progress, key=r.id)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        getattr(self, f"action_{event.button.id}")()

    def action_new(self) -> None:
        self.go("dataset")

    def action_carry_on(self) -> None:
        self.go(self.session.step)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Choosing an earlier run: watch it (or see how it ended) on the monitor."""
        self.session.run_id = event.row_key.value
        self.go("monitor")
