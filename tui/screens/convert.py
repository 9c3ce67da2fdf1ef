"""Step 4: whisper.cpp files, with the size each type will have, written with a progress bar."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, Input, ProgressBar, SelectionList, Static

from wacft.services.outputs import DEFAULT_TYPES, TYPES
from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import ConfirmScreen, Form, Ticks


class ConvertScreen(StepScreen):
    TITLE = "4 · Convert for whisper.cpp"
    HELP = ("q8_0 is nearly lossless; q5_0 is about a third of f16 with a small loss; FUTO's own files are "
            "q8_0. [b]ctrl+r[/b] converts, [b]ctrl+n[/b] verifies.")
    BINDINGS = [("ctrl+r", "convert", "Convert"), ("ctrl+n", "next", "Verify"), ("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        model = self.model_shown = self.session.trained or self.session.model
        yield Form(("model", Input(model, placeholder="model folder or hub id", id="model", compact=True)),
                   ("output file", Input(str(self.default_file(model)), placeholder="a .bin file; one per type "
                                         "beside it when several", id="out", compact=True)))
        yield Ticks(*((t, t, t in DEFAULT_TYPES) for t in TYPES), id="types", compact=True)
        yield Button("Convert", id="convert", variant="primary", compact=True)
        yield ProgressBar(id="progress", show_eta=True)
        yield Static("", id="result")

    def needs(self) -> str:
        if self.session.trained:
            return ""
        return "No trained model yet (step 3): this converts the model below as it is, without ACFT."

    def default_file(self, model: str) -> Path:
        from wacft.services.outputs import default_file

        return default_file(model, self.session.trained, self.session.out)

    def on_screen_resume(self) -> None:
        """Each time the step shows: the model the session has now (a run may have finished meanwhile)."""
        model = self.query_one("#model", Input)
        model.value = self.session.trained or self.session.model
        self.sizes(model.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        """The output follows the model until the person edits it; the sizes follow the model."""
        if event.input.id != "model":
            return
        model, out = event.value.strip(), self.query_one("#out", Input)
        if out.value == str(self.default_file(self.model_shown)):
            out.value = str(self.default_file(model))
        self.model_shown = model
        self.sizes(model)

    @work(thread=True, exclusive=True, group="sizes")
    def sizes(self, model: str) -> None:
        from wacft.errors import WacftError
        from wacft.services.outputs import output_sizes, remote_output

        if remote_output(self.session.run_id, model):
            self.say("result", "Trained on Modal: converting fetches what it needs from the run's volume.")
            return
        try:
            sizes = output_sizes(model, TYPES)
        except WacftError as e:
            self.say("result", f"[red]✗ {e}[/red]")
            return
        self.tell(self.show_sizes, sizes)

    def show_sizes(self, sizes: dict[str, int]) -> None:
        chosen = self.query_one("#types", SelectionList)
        selected = set(chosen.selected)
        chosen.clear_options()
        chosen.add_options((f"{t}  {sizes[t] / 1e6:.0f} MB", t, t in selected) for t in TYPES)

    def on_button_pressed(self) -> None:
        self.action_convert()

    def action_convert(self) -> None:
        from wacft.services.outputs import plan_outputs

        types = list(self.query_one("#types", SelectionList).selected)
        model, out = self.value("model"), self.value("out")
        if not types or not model or not out:
            self.put("result", "[yellow]Pick at least one type.[/yellow]" if not types else
                     "[yellow]Name the model to convert and the output file.[/yellow]")
            return
        outputs = plan_outputs(Path(out).expanduser(), types)
        taken = [str(o.path) for o in outputs if o.path.exists()]
        if not taken:
            self.convert(model, outputs)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.convert(model, outputs, force=True)
            else:
                self.put("result", "[yellow]Nothing written: choose another output file.[/yellow]")

        self.app.push_screen(ConfirmScreen(f"Replace {', '.join(taken)}?"), answered)

    @work(thread=True, exclusive=True)
    def convert(self, model: str, outputs: list, force: bool = False) -> None:
        from wacft.errors import WacftError
        from wacft.services.outputs import convert, for_convert

        bar = self.query_one("#progress", ProgressBar)
        folder = Path(outputs[0].path).parent

        def progress(done: int, total: int) -> None:
            self.tell(bar.update, total=total, progress=done)

        try:
            folder.mkdir(parents=True, exist_ok=True)
            source = for_convert(self.session.run_id, model, [o.file_type.name for o in outputs], folder, progress)
            if source.made:  # the run made these types where it ran: fetched as they are
                self.fetched(source.made)
                return
            results = convert(source.model, outputs, force=force, progress=progress)
        except (WacftError, OSError) as e:  # OSError: the output folder cannot be made
            self.say("result", Text(f"✗ {e}", style="red"))
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
        else:
            self.put("result", "[yellow]Convert first (ctrl+r): the next steps use its files.[/yellow]")

    def action_back(self) -> None:
        self.go("monitor" if self.session.run_id else "train")
