"""The package as pyproject.toml declares it: every package of the tree in the wheel, and the Python range
that `requires-python` claims kept by rule (only one Python runs here)."""

import re
import subprocess
import sys
from pathlib import Path

import wacft
from wacft.checks import tomllib

ROOT = Path(wacft.__file__).parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NOT_SHIPPED = {"tests", "bench", "build", "dist"}


def test_every_package_in_the_tree_is_listed():
    found = {"wacft"} | {
        "wacft." + ".".join(init.parent.relative_to(ROOT).parts)
        for init in ROOT.glob("*/**/__init__.py")
        if init.relative_to(ROOT).parts[0] not in NOT_SHIPPED and not init.relative_to(ROOT).parts[0].startswith(".")
    }
    assert sorted(PYPROJECT["tool"]["setuptools"]["packages"]) == sorted(found)


def lowest_python() -> str:
    return re.fullmatch(r">=(3\.\d+)", PYPROJECT["project"]["requires-python"]).group(1)


def test_ruff_checks_for_the_lowest_python_claimed():
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + lowest_python().replace(".", "")


def test_the_code_needs_no_newer_python_than_claimed():
    """vermin reads every module for the newest syntax, module or function it uses (a version guard such as
    checks.py's tomllib/tomli counts as the fallback it is)."""
    sources = [str(p) for p in ROOT.rglob("*.py") if not p.relative_to(ROOT).parts[0].startswith(".")]
    vermin = [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())"]
    proc = subprocess.run([*vermin, f"--target={lowest_python()}-", "--no-tips", "--violations", "--eval-annotations",
                           "--no-parse-comments", *sources], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
