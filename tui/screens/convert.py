"""Step 4: whisper.cpp files, with the size each type will have, written with a progress bar."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, Input, ProgressBar, SelectionList, Static

from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import Form

TYPES = ("f16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0")
DEFAULT_TYPES = ("q8_0", "q5_0")


class ConvertScreen(StepScreen):
    TITLE = "4 · Convert for whisper.cpp"
    HELP = ("q8_0 is nearly lossless; q5_0 is about a third of f16 with a small loss; FUTO's own files are "
            "q8_0. [b]ctrl+r[/b] converts, [b]ctrl+n[/b] verifies.")
    BINDINGS = [("ctrl+r", "convert", "Convert"), ("ctrl+n", "next", "Verify"), ("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        yield Form(("model", Input(self.session.trained or self.session.model, placeholder="model folder or hub id",
                                   id="model", compact=True)))
        yield SelectionList[str](*((t, t, t in DEFAULT_TYPES) for t in TYPES), id="types", compact=True)
        yield Button("Convert", id="convert", variant="primary", compact=True)
        yield ProgressBar(id="progress", show_eta=True)
        yield Static("", id="result")

    def on_screen_resume(self) -> None:
        """Each time the step shows: the model the session has now (a run may have finished meanwhile)."""
        model = self.query_one("#model", Input)
        model.value = self.session.trained or self.session.model
        self.sizes(model.value)

    @work(thread=True, exclusive=True, group="sizes")
    def sizes(self, model: str) -> None:
        from wacft.acft.modal_backend import modal_output
        from wacft.convert.convert import output_sizes
        from wacft.errors import WacftError

        if modal_output(self.session.run_id, model):
            self.say("result", "Trained on Modal: converting fetches what it needs from the run's volume.")
            return
        try:
            sizes = output_sizes(model, TYPES)
        except WacftError as e:
            self.say("result", f"[red]✗ {e}[/red]")
            return
        self.app.call_from_thread(self.show_sizes, sizes)

    def show_sizes(self, sizes: dict[str, int]) -> None:
        chosen = self.query_one("#types", SelectionList)
        selected = set(chosen.selected)
        chosen.clear_options()
        chosen.add_options((f"{t}  {sizes[t] / 1e6:.0f} MB", t, t in selected) for t in TYPES)

    def on_button_pressed(self) -> None:
        self.action_convert()

    def action_convert(self) -> None:
        types = list(self.query_one("#types", SelectionList).selected)
        if not types:
            self.put("result", "[yellow]Pick at least one type.[/yellow]")
            return
        self.convert(self.query_one("#model", Input).value.strip(), types)

    @work(thread=True, exclusive=True)
    def convert(self, model: str, types: list[str]) -> None:
        from wacft.acft.modal_backend import for_convert
        from wacft.convert.convert import convert, plan_outputs
        from wacft.errors import WacftError

        bar = self.query_one("#progress", ProgressBar)
        stem = Path(self.session.out or "model").name.replace("-", "_")
        out = Path(self.session.out or ".") / f"{stem}.bin"

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(bar.update, total=total, progress=done)

        try:
            source = for_convert(self.session.run_id, model, types, Path(self.session.out or self.session.run_id),
                                 progress)
            if isinstance(source, dict):  # the Modal job made these types: fetched as they are
                self.fetched(source)
                return
            results = convert(source, plan_outputs(out, types), force=True, progress=progress)
        except WacftError as e:
            self.say("result", f"[red]✗ {e}[/red]")
            return
        self.session.bins = {r.file_type.name: str(r.path) for r in results}
        self.session.save()
        lines = [f"[green]✓[/green] {r.path}  {r.size / 1e6:.1f} MB  sha256 {r.sha256[:16]}…" for r in results]
        self.say("result", "\n".join(lines))

    def fetched(self, bins: dict[str, Path]) -> None:
        self.session.bins = {t: str(path) for t, path in bins.items()}
        self.session.save()
        lines = [f"[green]✓[/green] {p}  {p.stat().st_size / 1e6:.1f} MB  (converted on Modal)" for p in bins.values()]
        self.say("result", "\n".join(lines))

    def action_next(self) -> None:
        if self.session.bins:
            self.go("verify")

    def action_back(self) -> None:
        self.go("monitor" if self.session.run_id else "train")
