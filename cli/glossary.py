"""The glossary options, as `wacft train` and `wacft verify` take them."""

from __future__ import annotations

import argparse


def add_glossary_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, help: str) -> None:
    """--glossary 'A, B' and --glossary-file FILE, as train and verify take them: either repeated, the terms
    gathered in command-line order into one list, args.glossary."""
    parser.add_argument("--glossary", metavar="'A, B'", action="extend", type=glossary_terms, default=[], help=help)
    parser.add_argument("--glossary-file", metavar="FILE", dest="glossary", action="extend", type=glossary_file_terms,
                        help="the same, one term a line")


def glossary_terms(text: str) -> list[str]:
    from wacft.services.settings import parse_glossary

    return list(parse_glossary(text))


def glossary_file_terms(path: str) -> list[str]:
    """A file that cannot be read is refused while the command line is read, in one sentence."""
    from wacft.errors import WacftError
    from wacft.services.settings import read_glossary

    try:
        return list(read_glossary(path))
    except WacftError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
