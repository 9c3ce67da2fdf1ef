"""Step 6: onto the phone. Devices refresh as they are plugged in; the push is verified on the phone, and
FUTO Keyboard's Languages page opens for the import."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, DataTable, Input, ProgressBar, Static

from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import BinSelect, ConfirmScreen, Form

REFRESH_SECONDS = 3
NO_PHONE = ("[yellow]No phone is connected: plug one in with USB debugging on; this list refreshes by"
            " itself.[/yellow]")


class PushScreen(StepScreen):
    TITLE = "6 · Phone"
    HELP = ("Plug the phone in with USB debugging on, pick it, and push. [b]ctrl+r[/b] pushes. On the phone: "
            "FUTO Keyboard → Settings → Languages → Import resource file.")
    BINDINGS = [("ctrl+r", "push", "Push"), ("escape", "back", "Back")]
    lookup = ""  # why no phone is listed, while that is shown

    def body(self) -> ComposeResult:
        bins = self.session.bins
        self.offered = self.session.verified.get("file")  # the verified file, chosen first
        yield Form(("model file", BinSelect(bins, self.offered)))
        yield Static("", id="verdict")
        yield DataTable(id="phones", cursor_type="row")
        yield Form(("name on phone", Input(placeholder="letters, digits, . _ -", id="name", compact=True)))
        yield Button("Push", id="push", variant="primary", compact=True)
        yield ProgressBar(id="progress", show_eta=True)
        yield Static("", id="result")

    def on_mount(self) -> None:
        self.query_one("#phones", DataTable).add_columns("serial", "state", "model", "Android", "free", "FUTO")
        self.phones: list = []
        self.refresh_phones()
        self.set_interval(REFRESH_SECONDS, self.refresh_phones)

    def needs(self) -> str:
        return "" if self.session.bins else "Convert a model first (step 4): this step sends its .bin to the phone."

    def on_screen_resume(self) -> None:
        select = self.query_one(BinSelect)
        select.show(self.session.bins)
        verified = self.session.verified.get("file")
        if verified != self.offered and verified in self.session.bins.values():  # verified since: offered now
            self.offered = select.preferred = select.value = verified
        self.on_select_changed()

    def on_select_changed(self) -> None:
        from wacft.errors import WacftError
        from wacft.services.phone import name_on_phone

        model = self.query_one(BinSelect).chosen
        self.put("verdict", self.verdict_of(model) if model else "")
        if model:
            try:
                self.query_one("#name", Input).value = name_on_phone(Path(model), self.language(model))
            except WacftError as e:
                self.put("result", f"[red]✗ {e}[/red]")

    def language(self, model: str) -> str | None:
        from wacft.services.phone import language_of

        return language_of(Path(model), self.session.language)

    def verdict_of(self, model: str) -> Text:
        """What step 5 said of `model`, shown beside it."""
        from wacft.services.verify import READY

        verified = self.session.verified
        if verified.get("file") != model:
            return Text("Not verified: step 5 checks it on the phone's whisper.cpp first.", style="yellow")
        if self.rewritten(model):
            return Text("Rewritten since step 5 verified it: verify it again.", style="yellow")
        ready = verified["state"] == READY
        return Text(("✓ " if ready else "✗ ") + verified["verdict"], style="green" if ready else "red")

    @work(thread=True, exclusive=True, group="phones")
    def refresh_phones(self) -> None:
        from wacft.errors import WacftError

        try:
            client, phones = self.wizard.phones()
        except WacftError as e:
            self.tell(self.no_phones, f"[red]✗ {e}[/red]")
            return
        self.tell(self.show_phones, client, phones)

    def no_phones(self, why: str) -> None:
        """No adb, or no phone: said once, and cleared when a phone shows up."""
        self.phones = []
        self.query_one("#phones", DataTable).clear()
        if self.lookup != why:
            self.put("result", why)
        self.lookup = why

    def show_phones(self, client, phones) -> None:
        if not phones:
            self.no_phones(NO_PHONE)
            return
        if self.lookup:
            self.put("result", "")
            self.lookup = ""
        chosen = self.chosen()
        self.client, self.phones = client, phones
        table = self.query_one("#phones", DataTable)
        table.clear()  # (moves the cursor to the first row: the chosen phone's row is found again below)
        for p in phones:
            free = f"{p.free_bytes / 1e9:.1f} GB" if p.free_bytes else ""
            table.add_row(p.serial, p.state, p.model or "", p.android or "", free,
                          "yes" if p.futo_package else "no", key=p.serial)
        if chosen is not None and chosen in {p.serial for p in phones}:
            table.move_cursor(row=table.get_row_index(chosen))

    def chosen(self) -> str | None:
        """The serial of the phone under the table's cursor."""
        table = self.query_one("#phones", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_button_pressed(self) -> None:
        self.action_push()

    def action_push(self) -> None:
        model = self.query_one(BinSelect).chosen
        if not model:
            self.put("result", "[yellow]Convert a model first (step 4).[/yellow]")
            return
        serial = self.chosen()
        phone = next((p for p in self.phones if p.serial == serial), None)
        if phone is None:
            self.put("result", self.lookup or NO_PHONE)  # why there is none, when adb said
            return
        if phone.problem:
            self.put("result", f"[red]✗ {phone.problem}[/red]")
            return
        name = self.query_one("#name", Input).value.strip()
        question = self.unready(model)
        if not question:
            self.push(phone, Path(model), name)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.push(phone, Path(model), name)
            else:
                self.put("result", "[yellow]Not pushed.[/yellow]")

        self.app.push_screen(ConfirmScreen(question), answered)

    def rewritten(self, model: str) -> bool:
        """Whether the verified file changed since its verdict (a session from before stamps could not tell)."""
        from wacft.services.verify import stamp_of

        return "stamp" in self.session.verified and self.session.verified["stamp"] != stamp_of(model)

    def unready(self, model: str) -> str:
        """The question to ask before pushing a file that was never verified or is not ready ("" for none)."""
        from wacft.services.verify import NOT_READY, READY

        verified, name = self.session.verified, Path(model).name
        if verified.get("file") != model:
            return f"{name} was never verified. Push it anyway?"
        if self.rewritten(model):
            return f"{name} was rewritten since step 5 verified it. Push it anyway?"
        if verified["state"] == READY:
            return ""
        if verified["state"] == NOT_READY:
            return f"Step 5 found {name} not ready for the phone. Push it anyway?"
        return f"Step 5 had too few clips to tell whether {name} is ready for the phone. Push it anyway?"

    @work(thread=True, exclusive=True)
    def push(self, info, model: Path, name: str, force: bool = False) -> None:
        from wacft.errors import WacftError
        from wacft.services.phone import is_name_taken, push

        bar = self.query_one("#progress", ProgressBar)
        try:
            pushed = push(self.client, info, model, name, language=self.session.language, force=force,
                          progress=lambda done, total: self.tell(bar.update, total=total, progress=done))
        except WacftError as e:
            if is_name_taken(e):
                self.tell(self.ask_to_replace, info, model, name)
            else:
                self.say("result", f"[red]✗ {e}[/red]")
            return
        result = pushed.result
        steps = "\n".join(f"  {i}. {step}" for i, step in enumerate(pushed.steps, 1))
        then = f"[yellow]{pushed.futo_missing}[/yellow]" if pushed.futo_missing else f"On the phone:\n{steps}"
        self.say("result", f"[green]✓[/green] {result.remote_path} ({result.size / 1e6:.1f} MB, "
                           f"{result.checksum or 'size'} verified)\n{then}")

    def ask_to_replace(self, info, model: Path, name: str) -> None:
        """The name is taken on the phone: replace that file only when the person says so (as --force)."""

        def answered(yes: bool | None) -> None:
            if yes:
                self.push(info, model, name, force=True)
            else:
                self.put("result", "[yellow]Not pushed: choose another name on the phone.[/yellow]")

        self.app.push_screen(ConfirmScreen(f"{name} is already on {info.serial}. Replace it?"), answered)

    def action_back(self) -> None:
        self.go("verify")
