"""`wacft --help` and each step's help: a line per step, help for every option, and its default shown."""

import argparse

import pytest

from wacft.cli import build_parser, main

PARSER = build_parser()
STEPS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction))


def test_the_top_help_lists_every_step_with_a_line(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "Thin" not in out
    for choice in STEPS._choices_actions:
        assert choice.help and f"{choice.dest} " in out


@pytest.mark.parametrize("step", list(STEPS.choices))
def test_each_step_describes_itself_and_every_option_with_its_default(step):
    parser = STEPS.choices[step]
    assert parser.description
    page = " ".join(parser.format_help().split())
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{step} {action.option_strings or action.dest} has no help"
        if action.default not in (None, True, False):
            assert f"(default: {action.default})" in page or "default" in action.help


def test_train_shows_its_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    page = " ".join(capsys.readouterr().out.split())
    assert "--epochs EPOCHS ACFT epochs (default: 8)" in page
    assert "--split SPLIT the hub dataset's split (default: train)" in page
