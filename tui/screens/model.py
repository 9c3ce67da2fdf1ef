"""Step 2: the Whisper model to start from, with what FUTO Keyboard can run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, RadioButton, RadioSet, Static

from wacft.tui.screens.base import StepScreen
from wacft.tui.session import FUTO_SIZES, SIZES
from wacft.tui.widgets import Form


def hub_id(size: str, english: bool) -> str:
    return f"openai/whisper-{size}{'.en' if english else ''}"


class ModelScreen(StepScreen):
    TITLE = "2 · Model"
    HELP = ("FUTO Keyboard runs tiny, base and small; larger models train and convert but will not run on the "
            "phone. Or type any hub id or local folder (your own fine-tune). [b]ctrl+n[/b] goes on.")
    BINDINGS = [("ctrl+n", "next", "Next"), ("escape", "back", "Back")]

    def body(self) -> ComposeResult:
        current = self.session.model
        with RadioSet(id="size", compact=True):
            for size in SIZES:
                note = "" if size in FUTO_SIZES else "  (not run by FUTO)"
                yield RadioButton(f"{size}{note}", value=current.startswith(f"openai/whisper-{size}"), name=size,
                                  id=f"size-{size}")
        yield Checkbox("English-only (.en)", value=current.endswith(".en") or not current, id="english",
                       compact=True)
        custom = "" if current.startswith("openai/whisper-") else current
        yield Form(
            ("or hub id/folder", Input(custom, placeholder="any Whisper model", id="custom", compact=True)),
            ("language", Input(self.session.language, placeholder="multilingual models: the data's, e.g. en",
                               id="language", compact=True)),
        )
        yield Static("", id="warning")

    def chosen(self) -> str:
        custom = self.query_one("#custom", Input).value.strip()
        if custom:
            return custom
        pressed = self.query_one("#size", RadioSet).pressed_button
        size = pressed.name if pressed else "base"
        return hub_id(size, self.query_one("#english", Checkbox).value)

    def on_radio_set_changed(self) -> None:
        model = self.chosen()
        big = not any(f"whisper-{s}" in model for s in FUTO_SIZES)
        self.query_one("#warning", Static).update(
            "[yellow]FUTO Keyboard does not run this size; it will train, convert and verify, but not run on"
            " the phone.[/yellow]" if big else ""
        )

    def action_next(self) -> None:
        self.session.model = self.chosen()
        self.session.language = self.query_one("#language", Input).value.strip()
        multilingual = not self.session.model.endswith(".en") and "openai/whisper-" in self.session.model
        if multilingual and not self.session.language:
            self.put("warning", "[red]A multilingual model needs the data's language.[/red]")
            return
        self.go("train")

    def action_back(self) -> None:
        self.go("dataset")
