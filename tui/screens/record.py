"""Step 0: record a dataset of one's own. The person's terms (and text) become sentences to read; each take
is recorded, trimmed, checked, played back, kept, redone, skipped or reworded; every kept clip is on disk at
once, and the folder then opens in the dataset step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widgets import Input, Static

from wacft.facts import SAMPLE_RATE
from wacft.tui.screens.base import FIELDS, StepScreen
from wacft.tui.widgets import Form

if TYPE_CHECKING:
    import numpy as np

    from wacft.services.recording import RecordingFolder, Take, Verdict

METER_WIDTH = 30
METER_FLOOR_DB = -60.0  # the meter's left end
STAGE1_EPOCHS = 4  # recorded words need stage 1 to be learnt; the README's example


def meter(level_db: float, seconds: float) -> str:
    """The live level as a bar: green while speech-loud, red near full scale."""
    filled = round(METER_WIDTH * min(1.0, max(0.0, (level_db - METER_FLOOR_DB) / -METER_FLOOR_DB)))
    colour = "red" if level_db > -3 else "green" if level_db > -40 else "yellow"
    return (f"● {seconds:4.1f} s [{colour}]{'█' * filled}[/{colour}]{'░' * (METER_WIDTH - filled)}"
            f" {level_db:5.0f} dBFS  [b]space[/b] stops")


class RecordScreen(StepScreen):
    TITLE = "0 · Record your own"
    HELP = ("Your words (commas, or a file of them), optionally a text file of yours. [b]ctrl+r[/b] proposes "
            "sentences; [b]space[/b] records and stops at your pause; [b]ctrl+n[/b] uses the folder.")
    BINDINGS = [("ctrl+r", "propose", "Propose"), ("space", "take", "Record"), ("p", "play", "Play"),
                ("k", "keep", "Keep"), ("r", "redo", "Redo"), ("s", "skip", "Skip"), ("e", "edit", "Reword"),
                ("ctrl+n", "next", "Use it"), ("escape", "back", "Back")]
    folder: RecordingFolder | None = None  # the folder open
    index: int | None = None  # the proposal being read
    take: Take | None = None  # the take recording now
    clip: np.ndarray | None = None  # the last take, trimmed, not yet kept
    verdict: Verdict | None = None  # what judge() found in it

    @property
    def opened(self) -> RecordingFolder:
        """The folder open: the keys that record act on one (a proposal is chosen only once one is open)."""
        assert self.folder is not None
        return self.folder

    @property
    def AUTO_FOCUS(self) -> str:  # type: ignore[override]  # Textual's name, read as an attribute
        """The folder field until a folder is open; then no field, so that the keys record."""
        return "" if self.folder is not None else FIELDS

    def body(self) -> ComposeResult:
        s = self.session
        yield Form(
            ("folder", Input(s.record_folder, placeholder="where the clips go", id="folder", compact=True)),
            ("your words", Input("", placeholder="GitHub, Anja Müller, kubectl (or a file)", id="terms",
                                 compact=True)),
            ("your text", Input("", placeholder="optional: a file of your notes or emails", id="text",
                                compact=True)),
            ("language", Input(s.language, placeholder="the one you speak, e.g. de (default: en)", id="language",
                               compact=True)),
        )
        yield Static("", id="prompt")
        yield Input("", id="edit", compact=True, classes="hidden")
        yield Static("", id="take")
        yield Static("", id="summary")

    def on_mount(self) -> None:
        if self.session.record_folder and self.open(self.session.record_folder):
            self.call_after_refresh(self.set_focus, None)  # the keys record (after the step's first focus)

    def on_unmount(self) -> None:
        self.discard()  # quitting mid-take loses that take only

    def on_screen_suspend(self) -> None:
        self.discard()  # another step shows: the microphone is let go

    def open(self, path: str) -> bool:
        from wacft.errors import WacftError
        from wacft.services.recording import RecordingFolder

        try:
            self.folder = RecordingFolder(path)
        except WacftError as e:
            self.put("take", f"[red]✗ {e}[/red]")
            return False
        self.query_one("#terms", Input).value = ", ".join(self.folder.state.terms)
        self.advance()
        return True

    def action_propose(self) -> None:
        from wacft.errors import WacftError
        from wacft.services.recording import own_text_only, proposals
        from wacft.services.settings import label, problem

        path = self.value("folder")
        if not path:
            self.put("take", "[red]Choose a folder for the clips first.[/red]")
            return
        language = self.value("language") or None
        wrong = problem("language", language)
        if wrong:
            self.put("take", f"[red]✗ {wrong.replace(label('language'), 'The language', 1)}[/red]")
            return
        try:
            terms, prompts = proposals(self.value("terms"), self.value("text"), language)
        except WacftError as e:
            self.put("take", f"[red]✗ {e}[/red]")
            return
        self.session.language = language or self.session.language
        if not self.open(path):
            return
        self.session.record_folder, self.session.step = path, "record"  # `carry on` comes back here
        self.session.save()
        self.opened.start(terms, prompts)
        self.query_one("#terms", Input).value = ", ".join(terms)  # opening a new folder emptied the field
        self.index = None
        self.advance()
        if own_text_only(language):
            self.put("take", f"[yellow]{own_text_only(language)}[/yellow]")
        self.set_focus(None)  # the keys now record

    def advance(self) -> None:
        """On to the next proposal not yet done, after the one just read."""
        self.clip = None
        if self.opened.state.prompts:
            self.index = self.opened.next_prompt(-1 if self.index is None else self.index)
        self.show()

    def show(self) -> None:
        """The proposal to read, how many are left, and the summary."""
        from wacft.services.recording import Summary

        if self.index is None:
            done = "all proposals done" if self.opened.state.prompts else "type your words and press ctrl+r"
            self.put("prompt", f"[b]{done}[/b]")
        else:
            prompt = self.opened.state.prompts[self.index]
            left = sum(not self.opened.done(i) for i in range(len(self.opened.state.prompts)))
            self.put("prompt", f"{left} to go · {prompt.kind} · read:\n[b]{prompt.text}[/b]")
        self.query_one("#take", Static).update("")
        self.query_one("#summary", Static).update(Summary.of(self.opened).text(histogram_width=20))

    def action_take(self) -> None:
        """Start a take, or stop the one recording."""
        if self.take is not None:
            self.finish()
            return
        if self.index is None:
            return
        from wacft.errors import WacftError
        from wacft.services.recording import BLOCK, Take

        try:
            self.take = Take().start()
        except WacftError as e:
            self.put("take", f"[red]✗ {e}[/red]")
            return
        self.meter_timer = self.set_interval(BLOCK, self.show_level)

    def show_level(self) -> None:
        take = self.take
        assert take is not None  # the meter runs while a take does
        if take.ended.is_set():
            self.finish()
        else:
            self.put("take", meter(take.level, take.seconds))

    def finish(self) -> None:
        from wacft.services.recording import judged

        assert self.take is not None  # called for the take recording
        self.meter_timer.stop()
        audio, self.take = self.take.stop(), None
        self.clip, self.verdict = judged(audio)
        verdict = self.verdict
        if verdict.silent:
            self.put("take", f"[yellow]{verdict.problem}[/yellow]\n[b]r[/b] redoes, [b]s[/b] skips")
            return
        state = (f"[yellow]{verdict.problem}[/yellow]" if verdict.problem
                 else f"[green]✓[/green] {len(self.clip) / SAMPLE_RATE:.1f} s, peak {verdict.peak_db:.0f} dBFS")
        self.put("take", f"{state}\n[b]k[/b] keeps, [b]r[/b] redoes, [b]p[/b] plays")

    def discard(self) -> None:
        if self.take is not None:
            self.meter_timer.stop()
            self.take.stop()
            self.take = None

    def action_play(self) -> None:
        from wacft.errors import WacftError
        from wacft.services.recording import play

        if self.clip is None or self.take is not None:
            return
        try:
            play(self.clip)
        except WacftError as e:
            self.put("take", f"[red]✗ {e}[/red]")

    def action_keep(self) -> None:
        if self.clip is None or self.take is not None or self.verdict is None or self.verdict.silent:
            return  # a silent take would teach the model words that were never said
        assert self.index is not None  # a take is of the proposal chosen
        name = self.opened.keep(self.clip, self.opened.state.prompts[self.index].text)
        self.advance()
        self.notify(f"kept {name}")

    def action_redo(self) -> None:
        self.discard()
        self.clip = None
        self.action_take()

    def action_skip(self) -> None:
        if self.index is None:
            return
        self.discard()
        self.opened.skip(self.index)
        self.advance()

    def action_edit(self) -> None:
        if self.index is None:
            return
        self.discard()
        edit = self.query_one("#edit", Input)
        edit.value = self.opened.state.prompts[self.index].text
        edit.remove_class("hidden")
        edit.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "edit":
            if event.value.strip() and self.index is not None:
                self.opened.edit(self.index, event.value)
            event.input.add_class("hidden")
            self.set_focus(None)
            self.show()
        else:
            self.action_propose()

    def action_next(self) -> None:
        """The dataset step, on this folder, with stage 1 on (recorded words are new words)."""
        if self.folder is None or not self.folder.rows:
            self.put("take", "[yellow]Keep at least one clip first.[/yellow]")
            return
        self.discard()
        s = self.session
        s.dataset, s.dataset_config = str(self.folder.path), ""
        s.finetune_epochs = s.finetune_epochs or STAGE1_EPOCHS
        # the words recorded are the ones a person puts in FUTO Keyboard's personal dictionary: its glossary
        s.glossary = s.glossary or ", ".join(self.opened.state.terms)
        self.go("dataset")

    def action_back(self) -> None:
        self.discard()
        self.go("start")
