"""The start screen: the environment at a glance, earlier runs, and where to begin."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Static

from wacft.tui.screens.base import StepScreen


def checks_table(checks) -> Table:
    """The checks as a table whose cells wrap, so what to do about a missing piece is never cut off at 80
    columns (a DataTable would clip it)."""
    table = Table(box=None, padding=(0, 1, 0, 0), expand=True, show_edge=False)
    table.add_column("check", no_wrap=True)
    table.add_column("state", ratio=1, overflow="fold")  # fold, not "…": a long path must stay whole
    table.add_column("what to do", ratio=1, overflow="fold")
    for c in checks:
        table.add_row(c.name, ("✓ " if c.ok else "✗ ") + c.detail, c.fix)
    return table


def extras_table(missing: dict[str, str]) -> Text:
    """Each optional part that is not installed: what it would add, then on a line of its own the command that adds
    it to this copy of wacft (the width of the screen for it: a path is long)."""
    from wacft.extras import install_command

    shown = Text()
    for extra, adds in missing.items():  # Text: `[train]` is no markup
        shown.append(f"adds {adds}:\n", style="dim").append(f"  {install_command(extra)}\n")
    shown.rstrip()
    return shown


class StartScreen(StepScreen):
    TITLE = "wacft: your own Whisper for FUTO Keyboard"
    HELP = ("Dataset → model → ACFT training → convert → verify → phone. Press [b]n[/b] for a new model, "
            "[b]c[/b] to carry on where you stopped, or pick an earlier run to watch or resume it.")
    BINDINGS = [("n", "new", "New model"), ("c", "carry_on", "Carry on"), ("r", "refresh", "Refresh")]
    AUTO_FOCUS = "#new"
    checks: list = []  # as last found

    def body(self) -> ComposeResult:
        yield Static("checking this machine…", id="checks")
        yield Static("", id="extras")
        yield DataTable(id="runs", cursor_type="row")
        with Horizontal(classes="buttons"):
            yield Button("New model", id="new", variant="primary", compact=True)
            yield Button("Carry on", id="carry_on", compact=True)

    def on_mount(self) -> None:
        self.query_one("#runs", DataTable).add_columns("earlier run", "where", "status", "progress")

    def on_screen_resume(self) -> None:
        self.action_refresh()  # a run may have moved on while another step showed

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        from wacft.extras import missing_extras
        from wacft.services.runs import last_step, list_runs

        runs = [(r, last_step(r)) for r in list_runs()]  # a run going on is read where it writes
        checks, extras = self.wizard.environment(), missing_extras()
        self.tell(self.show, checks, extras, runs)

    def show(self, checks, extras, runs) -> None:
        self.checks = checks
        self.query_one("#checks", Static).update(checks_table(checks))
        shown = self.query_one("#extras", Static)
        shown.display = bool(extras)  # nothing at all when every extra is there
        shown.update(extras_table(extras))
        table = self.query_one("#runs", DataTable)
        table.clear()
        for r, last in runs:
            progress = f"step {last['step']}/{last['total_steps']}" if last else ""
            table.add_row(r.id, r.backend, r.status, progress, key=r.id)
        # a DataTable widens its columns for rows added after its first paint without always repainting its
        # header: measured, 5 start screens in 32 kept the header at its first widths however long they waited;
        # with this repaint, none in 66
        self.call_after_refresh(table.refresh)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        getattr(self, f"action_{event.button.id}")()

    def action_new(self) -> None:
        self.go("dataset")

    def action_carry_on(self) -> None:
        self.go(self.session.step)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Choosing an earlier run: watch it, or see how it ended and resume it, on the monitor."""
        self.session.run_id = event.row_key.value or ""
        self.go("monitor")
