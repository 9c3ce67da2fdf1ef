"""Step 5: the .bin in the phone's whisper.cpp at FUTO's context and the full one, against the base model, on the
clips the run held out, before it goes to the phone."""

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
    HELP = ("Transcribes the clips your run held out the way FUTO Keyboard records and runs them, beside the base "
            "model: does it loop at the phone's context, or lose accuracy? [b]ctrl+r[/b] verifies, [b]ctrl+n[/b] goes"
            " to the phone.")
    BINDINGS = [("ctrl+r", "verify", "Verify"), ("ctrl+n", "next", "Phone"), ("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        bins = self.session.bins
        yield Form(
            ("model file", BinSelect(bins)),
            ("dataset", Input("" if self.run_folder() else self.session.dataset, id="dataset", compact=True,
                              placeholder="empty: the clips your run held out; or a folder or hub id")),
            ("clips", Input("20", id="limit", placeholder="a whole number of at least 1", compact=True,
                            validators=[CLIPS])),
            ("glossary", Input(self.session.glossary, placeholder="your words, as in FUTO's personal dictionary:"
                               " GitHub, Kubernetes", id="glossary", compact=True)),
        )
        yield Button("Verify", id="verify", variant="primary", compact=True)
        yield ProgressBar(id="progress", show_eta=True)
        yield Static("", id="doing")  # which model at which context is decoding
        yield Static("", id="result")

    def run_folder(self) -> str:
        """The session's run, as services.verify.find_run takes it: its id, else the folder it trained into."""
        return self.session.run_id or self.session.trained

    def needs(self) -> str:
        return "" if self.session.bins else "Convert a model first (step 4): this step verifies its .bin files."

    def on_screen_resume(self) -> None:
        self.query_one(BinSelect).show(self.session.bins)

    def on_button_pressed(self) -> None:
        self.action_verify()

    def action_verify(self) -> None:
        model = self.query_one(BinSelect).chosen
        dataset = self.query_one("#dataset", Input).value.strip()
        if not model or not (dataset or self.run_folder()):
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
        from wacft.errors import WacftError
        from wacft.services.settings import parse_glossary
        from wacft.services.verify import Request, stamp_of, verify_file

        s = self.session
        bar = self.query_one("#progress", ProgressBar)

        def progress(done: int, total: int, label: str) -> None:
            self.tell(bar.update, total=total, progress=done)
            self.say("doing", f"decoding {label}")

        stamp = stamp_of(model)  # the file as it was verified: the phone step tells a rewrite from it
        try:
            request = Request(model, self.run_folder() or None, s.dataset_spec(limit, dataset) if dataset else None,
                              limit, s.language or None, glossary=parse_glossary(s.glossary))
            result = verify_file(request, progress, say=lambda sentence: self.say("doing", sentence))
        except WacftError as e:
            self.say("doing", "")
            self.say("result", f"[red]✗ {e}[/red]")
            return
        self.tell(self.show_verdict, model, stamp, result)

    def show_verdict(self, model: str, stamp: list[int] | None, result) -> None:
        """The table and the verdict; the file and its verdict kept for the phone step (and the next start)."""
        self.put("doing", "")
        verdict = Text(("✓ " if result.ready else "✗ ") + result.verdict, style="green" if result.ready else "red")
        self.put("result", Text(result.table() + "\n\n") + verdict)  # Text: no markup read into the table
        self.session.verified = {"file": model, "stamp": stamp, "state": result.state, "verdict": result.verdict}
        self.session.save()

    def action_next(self) -> None:
        self.go("push")

    def action_back(self) -> None:
        self.go("convert")
