"""`wacft record DIR`: the wizard's record step on a folder, its summary, and imports of recordings people
already have."""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `wacft --help` reads every command's module
    from wacft.services.recording import RecordingFolder


def register(steps: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = steps.add_parser("record", help="record your own dataset: sentences with your words, read aloud",
                         description="Opens the wizard's record step on DIR (an audiofolder: clips and"
                                     " metadata.csv, ready for `wacft train --dataset DIR`).")
    p.add_argument("folder", metavar="DIR", help="where the clips go; an earlier folder continues")
    p.add_argument("--terms", help="your words, comma-separated, or a file of them one a line")
    p.add_argument("--text", metavar="FILE", help="text of your own (notes, emails) to take sentences from")
    p.add_argument("--language", help="the language you will speak (e.g. de): the sentences proposed are in it;"
                   " default English")
    p.add_argument("--per-term", type=int, default=5, help="sentences with each word")
    p.add_argument("--dictations", type=int, default=2, help="one- to three-word dictations with each word")
    p.add_argument("--summary", action="store_true", help="print what the folder holds and exit")
    p.add_argument("--import-clips", metavar="SRC", help="add a folder of recordings with a .txt file each")
    p.add_argument("--import-long", metavar="AUDIO", help="add one long recording, cut at its pauses ...")
    p.add_argument("--transcript", metavar="FILE", help="... with the text read in it")
    p.set_defaults(func=run_record)


def run_record(args: argparse.Namespace) -> None:
    from pathlib import Path

    from wacft.errors import WacftError

    if bool(args.import_long) != bool(args.transcript):
        raise WacftError("--import-long and --transcript go together: the recording and the text read in it.")
    path = Path(args.folder).expanduser()
    if args.summary and not path.is_dir() and not (args.terms or args.import_clips or args.import_long):
        raise WacftError(f"There is no folder {path}; give the folder `wacft record` recorded into.")
    created = not path.exists()
    try:
        record(args)
    except BaseException:
        if created:  # a failed start leaves no empty folder behind (one with a clip in it stays)
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def record(args: argparse.Namespace) -> None:
    from wacft.errors import WacftError
    from wacft.services.recording import RecordingFolder, Summary

    if args.language:
        from wacft.services.settings import problem

        if problem("language", args.language):
            raise WacftError(problem("language", args.language))
    folder = RecordingFolder(args.folder)
    if args.terms:
        start(args, folder)
    if args.import_clips or args.import_long:
        import_into(args, folder)
    if args.summary or args.import_clips or args.import_long:
        print(Summary.of(folder).text())
        return
    import sys

    if not (sys.stdin.isatty() and sys.stdout.isatty()):  # the recorder would wait for keys that never come
        raise WacftError("The recorder needs a terminal to run in; from a script, use --summary, --import-clips"
                         " or --import-long.")
    from wacft.tui.app import WacftApp
    from wacft.tui.session import Session

    session = Session.load()
    session.record_folder = str(folder.path)
    session.language = args.language or session.language
    WacftApp(session, first="record").run()


def start(args: argparse.Namespace, folder: RecordingFolder) -> None:
    """The sentences to read, proposed from --terms (and --text)."""
    from wacft.services.recording import own_text_only, proposals

    folder.start(*proposals(args.terms, args.text or "", args.language, per_term=args.per_term,
                            dictations=args.dictations))
    if own_text_only(args.language):
        print(own_text_only(args.language))
    print(f"{len(folder.state.prompts)} sentences to read in {folder.path}")


def import_into(args: argparse.Namespace, folder: RecordingFolder) -> None:
    """The recordings of --import-clips and --import-long, each import's report printed."""
    from wacft.errors import WacftError
    from wacft.services.recording import importer, text_or_file

    results = []
    if args.import_clips:
        results.append(importer.import_clips(args.import_clips, folder))
        print(results[-1].text())
    if args.import_long:
        results.append(importer.import_long(args.import_long, text_or_file(args.transcript), folder))
        print(results[-1].text())
    if not any(r.kept for r in results):
        raise WacftError("No clip was imported (each one left out says why above); fix those and import again.")

