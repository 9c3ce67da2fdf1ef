"""`wacft`: each pipeline step from a script. Thin: parses arguments, calls the packages, prints."""

from __future__ import annotations

import argparse
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
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except WacftError as e:
        print(f"wacft: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wacft: interrupted; nothing was left half-written.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
