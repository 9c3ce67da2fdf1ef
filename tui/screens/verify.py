"""Step 5: the .bin in whisper.cpp at full, dynamic and FUTO context, before it goes to the phone."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, Input, ProgressBar, Select, Static

from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import BinSelect, Form


class VerifyScreen(StepScreen):
    TITLE = "5 · Verify in whisper.cpp"
    HELP = ("Transcribes a sample of your data the way FUTO Keyboard runs the model: does it loop or lose "
            "accuracy at short audio context? [b]ctrl+r[/b] verifies, [b]ctrl+n[/b] goes to the phone.")
    BINDINGS = [("ctrl+r", "verify", "Verify"), ("ctrl+n", "next", "Phone"), ("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        bins = self.session.bins
        yield Form(
            ("model file", BinSelect(bins)),
            ("dataset", Input(self.session.dataset, placeholder="dataset to verify with", id="dataset",
                              compact=True)),
            ("clips", Input("20", id="limit", type="integer", compact=True)),
            ("glossary", Input(self.session.glossary, placeholder="your words, as in FUTO's personal dictionary:"
                               " GitHub, Kubernetes", id="glossary", compact=True)),
        )
        yield Button("Verify", id="verify", variant="primary", compact=True)
        yield ProgressBar(id="progress", show_eta=True)
        yield Static("", id="result")

    def on_screen_resume(self) -> None:
        self.query_one(BinSelect).show(self.session.bins)

    def on_button_pressed(self) -> None:
        self.action_verify()

    def action_verify(self) -> None:
        model = self.query_one("#bin", Select).value
        if model is Select.BLANK:
            self.put("result", "[yellow]Convert a model first.[/yellow]")
            return
        self.put("result", "transcribing in whisper.cpp…")
        self.session.glossary = self.query_one("#glossary", Input).value.strip()
        self.verify(str(model), self.query_one("#dataset", Input).value.strip(),
                    int(self.query_one("#limit", Input).value or 20))

    @work(thread=True, exclusive=True)
    def verify(self, model: str, dataset: str, limit: int) -> None:
        from wacft.acft.config import TrainConfig
        from wacft.acft.data import load_clips
        from wacft.convert.phone_engine import choose_engines
        from wacft.convert.verify import verify
        from wacft.convert.whispercpp import Decoding, parse_glossary
        from wacft.errors import WacftError

        s = self.session
        config = TrainConfig(model="", out="", dataset=dataset, dataset_config=s.dataset_config or None,
                             split=s.split, max_clips=limit)
        bar = self.query_one("#progress", ProgressBar)
        try:
            # the phone's whisper.cpp and the current one; said here when the phone's cannot be installed
            engines = choose_engines("both", lambda sentence: self.say("result", sentence))
            result = verify(model, load_clips(config).clips, language=s.language or "en",
                            decoding=Decoding(glossary=parse_glossary(s.glossary)), engines=engines,
                            progress=lambda done, total: self.app.call_from_thread(bar.update, total=total,
                                                                                 progress=done))
        except WacftError as e:
            self.say("result", f"[red]✗ {e}[/red]")
            return
        from rich.text import Text

        verdict = Text(("✓ " if result.ready else "✗ ") + result.verdict, style="green" if result.ready else "red")
        self.say("result", Text(result.table() + "\n\n") + verdict)  # Text: no markup read into the table

    def action_next(self) -> None:
        self.go("push")

    def action_back(self) -> None:
        self.go("convert")
