"""`wacft-tui`: the wizard from speech data to a model in FUTO Keyboard's voice input."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from wacft.tui.screens.convert import ConvertScreen
from wacft.tui.screens.dataset import DatasetScreen
from wacft.tui.screens.model import ModelScreen
from wacft.tui.screens.monitor import MonitorScreen, wait_for_watches
from wacft.tui.screens.push import PushScreen
from wacft.tui.screens.record import RecordScreen
from wacft.tui.screens.start import StartScreen
from wacft.tui.screens.train import TrainScreen
from wacft.tui.screens.verify import VerifyScreen
from wacft.tui.session import Session

QUIT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
STEPS = {
    "start": StartScreen, "record": RecordScreen, "dataset": DatasetScreen, "model": ModelScreen, "train": TrainScreen,
    "monitor": MonitorScreen, "convert": ConvertScreen, "verify": VerifyScreen, "push": PushScreen,
}


class WacftApp(App):
    TITLE = "wacft"
    CSS_PATH = "wacft.tcss"
    SCREENS: ClassVar[dict[str, Callable[[], Screen[Any]]]] = {**STEPS}
    # Esc closes the Keys panel (the command palette's "Keys") before it goes back a step: only while it shows
    BINDINGS = [("ctrl+q", "quit", "Quit"),
                Binding("escape", "hide_help_panel", "Close keys", show=False, priority=True)]

    def __init__(self, session: Session | None = None, *, environment: Callable[[], list] | None = None,
                 phones: Callable[[], tuple] | None = None, first: str = "start"):
        """`environment` (the start screen's checks) and `phones` ((adb client, phones)) default to asking this
        machine; tests pass fixed ones so that what the screens show does not depend on the machine."""
        super().__init__()
        self.session = session or Session.load()
        self.environment = environment or _environment
        self.phones = phones or _phones
        self.first = first  # the screen it opens on (`wacft record` opens the record step)
        self.started: list[str] = []  # the runs launched or resumed here: a SIGTERM or SIGHUP stops the local ones
        self.signalled = False

    def run(self, *args, **kwargs):
        """The app, then a short wait for the run watches it told to stop as it closed (`wait_for_watches`); closed
        by a signal, the local runs it started are then cancelled (with the terminal already given back)."""
        try:
            return super().run(*args, **kwargs)
        finally:
            wait_for_watches()
            if self.signalled:
                stop_started(self.started)

    def on_mount(self) -> None:
        self.push_screen(self.first)
        # SIGTERM (`kill`, a service manager) and SIGHUP (a closed terminal) quit as ctrl+q does: the terminal is
        # restored and the session saved, where the default would end the process with the terminal still in raw
        # mode. Unlike ctrl+q, which leaves a run going (it runs in a session of its own), they then stop the local
        # runs started here: no one was asked, and a trainer left behind would hold this machine for hours
        with contextlib.suppress(NotImplementedError):  # Windows: asyncio has no signal handlers
            for quitting in QUIT_SIGNALS:
                asyncio.get_running_loop().add_signal_handler(quitting, self.quit_on_signal)

    def quit_on_signal(self) -> None:
        self.signalled = True
        self.exit()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "hide_help_panel":  # otherwise Esc goes on to the step's own binding
            return bool(self.screen.query("HelpPanel"))
        return True

    def on_unmount(self) -> None:
        """However the app ends: the session as it stands (a step keeps what was typed there in it before it
        moves on) is saved, and SIGTERM and SIGHUP go back to what they were."""
        self.session.save()
        with contextlib.suppress(NotImplementedError):
            for quitting in QUIT_SIGNALS:
                asyncio.get_running_loop().remove_signal_handler(quitting)

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for name, step in STEPS.items():  # each step says what it needs when reached too early
            yield SystemCommand(step.TITLE or name, f"go to {name}", partial(self.switch_screen, name))


def _environment() -> list:
    from wacft.checks import environment

    return environment()


def _phones() -> tuple:
    from wacft.services.phone import phones

    return phones()


def stop_started(run_ids: list[str]) -> None:
    """Cancel the local runs among `run_ids`, each said on stderr where there still is one (no terminal after a
    SIGHUP)."""
    import sys

    from wacft.errors import WacftError
    from wacft.services.runs import cancel_if_local

    for run_id in run_ids:
        try:
            stopped = cancel_if_local(run_id)
            said = stopped and f"stopped run {run_id}; `wacft resume {run_id}` goes on from its last checkpoint"
        except WacftError as e:
            said = str(e)
        with contextlib.suppress(OSError):
            if said:
                print(f"wacft-tui: {said}", file=sys.stderr)


def main() -> None:
    WacftApp().run()
