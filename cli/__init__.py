"""`wacft`: each step from speech data to a model in FUTO Keyboard's voice input, from a script."""

from __future__ import annotations

import argparse
import os
import sys

from wacft.errors import WacftError

# Each package adds its own subcommands; their handlers import the heavy parts only when they run.
COMMAND_MODULES = ("wacft.cli.convert", "wacft.cli.verify", "wacft.cli.train", "wacft.cli.phone",
                   "wacft.cli.record")


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default after its help, except where there is nothing to show (no default, a flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, True) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action) or ""


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="wacft", description="Each step from speech data to a model in FUTO"
                                     " Keyboard's voice input: train, convert, inspect, verify, push.")
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(steps)
    for choice in steps._choices_actions:  # each step's one-line help is also its page's description
        step = steps.choices[choice.dest]
        step.formatter_class, step.description = HelpWithDefaults, step.description or choice.help
    return parser


def main(argv: list[str] | None = None) -> int:
    from wacft.faults import crash_report, report_warnings, stop_on_signals

    for stream in (sys.stdout, sys.stderr):  # a file name's non-UTF-8 byte (a lone surrogate) prints as \xe9
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    report_warnings()
    with stop_on_signals():
        try:
            status = args.func(args)  # a step may exit non-zero without an error: `verify` when not ready
            sys.stdout.flush()  # here, where a reader that has gone is caught: not at exit
        except WacftError as e:
            print(f"wacft: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as e:  # Ctrl+C or SIGTERM; a step may say what it kept
            print(f"wacft: {str(e) or 'stopped; nothing was left half-written.'}", file=sys.stderr)
            return 130
        except BrokenPipeError:  # stdout's reader has gone (`wacft runs | head -1`), as Python's docs advise:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second failure at exit
            return 141  # as a tool that SIGPIPE ended
        except Exception as e:  # a fault, not a mistake of the person's: a short report, the traceback in a log
            if isinstance(e, OSError) and e.filename is not None:  # a path the system refused, as `cp` says it
                name = str(e.filename)
                shown = name if len(name) <= 80 else f"{name[:40]}…{name[-20:]}"
                print(f"wacft: {shown}: {e.strerror}; check the path and run again.", file=sys.stderr)
                return 1
            print(f"wacft: {crash_report(e)}", file=sys.stderr)
            return 2
    return status or 0
