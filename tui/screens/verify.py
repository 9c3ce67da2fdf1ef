"""Step 5: the .bin in whisper.cpp at full, dynamic and FUTO context, before it goes to the phone."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, Input, ProgressBar, Static

from wacft.tui.screens.base import StepScreen
from wacft.tui.widgets import BinSelect, Form, Setting

CLIPS = Setting("max_clips", "clips")  # how many of the dataset's clips to transcribe


class VerifyScreen(StepScreen):
    TITLE = "5 · Verify in whisper.cpp"
    HELP = ("Transcribes a sample of your data the way FUTO Keyboard records and runs it (with the silence "
            "around a dictation): does it loop or lose accuracy at short audio context? [b]ctrl+r[/b] verifies, "
            "[b]ctrl+n[/b] goes to the phone.")
    BINDINGS = [("ctrl+r", "verify", "Verify"), ("ctrl+n", "next", "Phone"), ("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        bins = self.session.bins
        yield Form(
            ("model file", BinSelect(bins)),
            ("dataset", Input(self.session.dataset, placeholder="dataset to verify with", id="dataset",
                              compact=True)),
            ("clips", Input("20", id="limit", placeholder="a whole number of at least 1", compact=True,
                            validators=[CLIPS])),
            ("glossary", Input(self.session.glossary, placeholder="your words, as in FUTO's personal dictionary:"
                               " GitHub, Kubernetes", id="glossary", compact=True)),
        )
        yield Button("Verify", id="verify", variant="primary", compact=True)
        yield ProgressBar(id="progress", show_eta=True)
        yield Static("", id="result")

    def needs(self) -> str:
        return "" if self.session.bins else "Convert a model first (step 4): this step verifies its .bin files."

    def on_screen_resume(self) -> None:
        self.query_one(BinSelect).show(self.session.bins)

    def on_button_pressed(self) -> None:
        self.action_verify()

    def action_verify(self) -> None:
        model = self.query_one(BinSelect).chosen
        dataset = self.query_one("#dataset", Input).value.strip()
        if not model or not dataset:
            self.put("result", "[yellow]Convert a model first (step 4).[/yellow]" if not model else
                     "[yellow]Name the dataset to verify with (a folder or hub id).[/yellow]")
            return
        limit = self.query_one("#limit", Input).value.strip()
        wrong = CLIPS.sentence(limit) if limit else "clips is empty; it must be a whole number of at least 1."
        if wrong:
            self.put("result", Text(wrong, style="red"))
            return
        self.put("result", "transcribing in whisper.cpp…")
        self.session.glossary = self.query_one("#glossary", Input).value.strip()
        self.verify(model, dataset, int(limit))

    @work(thread=True, exclusive=True)
    def verify(self, model: str, dataset: str, limit: int) -> None:
        from wacft.acft.config import TrainConfig
        from wacft.acft.data import as_the_phone_records, load_clips
        from wacft.convert.phone_engine import choose_engines
        from wacft.convert.verify import verify
        from wacft.convert.whispercpp import Decoding, parse_glossary
        from wacft.errors import WacftError
        from wacft.extras import require_extra
        from wacft.facts import language_code

        s = self.session
        config = TrainConfig(model="", out="", dataset=dataset, dataset_config=s.dataset_config or None,
                             split=s.split, audio_column=s.audio_column or None,
                             text_column=s.text_column or None, max_clips=limit)
        bar = self.query_one("#progress", ProgressBar)
        try:
            require_extra("verify")  # before the dataset, which would name only the 'data' part of it
            # the phone's whisper.cpp and the current one; said here when the phone's cannot be installed
            engines = choose_engines("both", lambda sentence: self.say("result", sentence))
            clips = as_the_phone_records(load_clips(config).clips, 1.0, 0, config.max_audio_length)
            result = verify(model, clips, language=language_code(s.language) or "en",  # forced, as FUTO does
                            decoding=Decoding(glossary=parse_glossary(s.glossary)), engines=engines,
                            progress=lambda done, total: self.tell(bar.update, total=total,
                                                                                 progress=done))
        except WacftError as e:
            self.say("result", f"[red]✗ {e}[/red]")
            return
        verdict = Text(("✓ " if result.ready else "✗ ") + result.verdict, style="green" if result.ready else "red")
        self.say("result", Text(result.table() + "\n\n") + verdict)  # Text: no markup read into the table

    def action_next(self) -> None:
        self.go("push")

    def action_back(self) -> None:
        self.go("convert")
