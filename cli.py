"""`wacft`: each pipeline step from a script. Thin: parses arguments, calls the packages, prints."""

from __future__ import annotations

import argparse
import signal
import sys

from wacft.errors import WacftError

# Each package adds its own subcommands; their handlers import the heavy parts only when they run.
COMMAND_MODULES = ("wacft.convert.cli", "wacft.convert.verify_cli", "wacft.acft.cli", "wacft.device.cli",
                   "wacft.record.cli")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="wacft", description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(steps)
    return parser


def main(argv: list[str] | None = None) -> int:
    from wacft.faults import crash_report, report_warnings, stop_on_sigterm

    args = build_parser().parse_args(argv)
    report_warnings()
    restore = stop_on_sigterm()
    try:
        args.func(args)
    except WacftError as e:
        print(f"wacft: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # Ctrl+C or SIGTERM; a step may say what it kept
        print(f"wacft: {str(e) or 'stopped; nothing was left half-written.'}", file=sys.stderr)
        return 130
    except Exception as e:  # a fault, not a mistake of the person's: a short report, the traceback in a log
        print(f"wacft: {crash_report(e)}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, restore)  # main() may run inside another program (tests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
