"""Step 6: onto the phone. Devices refresh as they are plugged in; the push is verified on the phone, and
FUTO Keyboard's Languages page opens for the import."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, DataTable, Input, ProgressBar, Select, Static

from wacft.tui.screens.base import StepScreen

REFRESH_SECONDS = 3


class PushScreen(StepScreen):
    TITLE = "6 · Phone"
    HELP = ("Plug the phone in with USB debugging on, pick it, and push. [b]ctrl+r[/b] pushes. On the phone: "
            "FUTO Keyboard → Settings → Languages → Import resource file.")
    BINDINGS = [("ctrl+r", "push", "Push"), ("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        bins = self.session.bins
        yield Select([(f"{t}  {p}", p) for t, p in bins.items()], id="bin", allow_blank=not bins,
                     value=next(iter(bins.values()), Select.BLANK))
        yield DataTable(id="phones", cursor_type="row")
        yield Input(placeholder="name on the phone", id="name")
        yield Button("Push", id="push", variant="primary")
        yield ProgressBar(id="progress", show_eta=True)
        yield Static("", id="result")

    def on_mount(self) -> None:
        self.query_one("#phones", DataTable).add_columns("serial", "state", "model", "Android", "free", "FUTO")
        self.phones: list = []
        self.refresh_phones()
        self.set_interval(REFRESH_SECONDS, self.refresh_phones)
        self.on_select_changed()

    def on_select_changed(self) -> None:
        from wacft.device.naming import default_name
        from wacft.errors import WacftError

        model = self.query_one("#bin", Select).value
        if model is not Select.BLANK:
            try:
                self.query_one("#name", Input).value = default_name(Path(str(model)))
            except WacftError as e:
                self.query_one("#result", Static).update(f"[red]{e}[/red]")

    @work(thread=True, exclusive=True, group="phones")
    def refresh_phones(self) -> None:
        from wacft.device.adb import connect
        from wacft.device.devices import list_phones
        from wacft.errors import WacftError

        try:
            client = connect()
            phones = list_phones(client)
        except WacftError as e:
            self.say("result", f"[red]{e}[/red]")
            return
        self.app.call_from_thread(self.show_phones, client, phones)

    def show_phones(self, client, phones) -> None:
        self.client, self.phones = client, phones
        table = self.query_one("#phones", DataTable)
        table.clear()
        for p in phones:
            free = f"{p.free_bytes / 1e9:.1f} GB" if p.free_bytes else ""
            table.add_row(p.serial, p.state, p.model or "", p.android or "", free, p.futo_package or "no",
                          key=p.serial)

    def on_button_pressed(self) -> None:
        self.action_push()

    def action_push(self) -> None:
        model = self.query_one("#bin", Select).value
        table = self.query_one("#phones", DataTable)
        if model is Select.BLANK or not self.phones:
            self.query_one("#result", Static).update("[yellow]Convert a model and plug a phone in first.[/yellow]")
            return
        phone = self.phones[min(table.cursor_row, len(self.phones) - 1)]
        if phone.problem:
            self.query_one("#result", Static).update(f"[red]{phone.problem}[/red]")
            return
        self.push(phone, Path(str(model)), self.query_one("#name", Input).value.strip())

    @work(thread=True, exclusive=True)
    def push(self, info, model: Path, name: str) -> None:
        from wacft.device.futo import import_steps, open_languages_page
        from wacft.device.push import push_model
        from wacft.errors import WacftError

        bar = self.query_one("#progress", ProgressBar)
        try:
            phone = info.open(self.client)
            result = push_model(phone, model, name, force=True, progress=lambda done, total: self.app.call_from_thread(
                bar.update, total=total, progress=done))
            opened = bool(info.futo_package)
            if opened:
                open_languages_page(phone, info.futo_package)
        except WacftError as e:
            self.say("result", f"[red]{e}[/red]")
            return
        steps = "\n".join(f"  {i}. {step}" for i, step in enumerate(import_steps(Path(result.remote_path).name,
                                                                                     opened), 1))
        futo = "" if opened else "\n[yellow]FUTO Keyboard is not installed on this phone.[/yellow]"
        self.say("result", f"[green]✓[/green] {result.remote_path} ({result.size / 1e6:.1f} MB, "
                           f"{result.checksum or 'size'} verified){futo}\nOn the phone:\n{steps}")

    def action_back(self) -> None:
        self.go("verify")
