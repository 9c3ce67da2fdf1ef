"""wacft installed as people install it (`pipx install`, `uv tool install`): the sdist and the wheel built from
it, installed into fresh virtual environments outside the repository (no editable install, the repository not on
sys.path), then used through the installed commands. One environment per kind of install per session; the
packages come from uv's cache or PyPI."""

import ast
import json
import os
import shlex
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from uv import find_uv_bin

import wacft
from wacft.cli import build_parser
from wacft.extras import ADDS

pytestmark = pytest.mark.e2e

ROOT = Path(wacft.__file__).parent
UV = find_uv_bin()
# kind of install -> the extras it asks for
INSTALLS = {"default": "", "modal": "[modal]"}
HEAVY = ("torch", "transformers", "datasets", "pywhispercpp")


def run(command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The sdist, then the wheel built from the unpacked sdist (as pip builds an sdist): a file the sdist
    lacks is missing from the wheel too."""
    out = tmp_path_factory.mktemp("dist")
    proc = run([UV, "build", "--out-dir", out, ROOT])
    assert proc.returncode == 0, proc.stderr
    (sdist,) = out.glob("wacft-*.tar.gz")
    (built,) = out.glob("wacft-*.whl")
    return built


@pytest.fixture(scope="session")
def environments(wheel, tmp_path_factory):
    made: dict[str, Path] = {}

    def environment(kind: str) -> Path:
        if kind not in made:
            venv = tmp_path_factory.mktemp(f"venv-{kind}") / "venv"
            for command in ([UV, "venv", "--quiet", "--python", sys.executable, venv],
                            [UV, "pip", "install", "--quiet", "--python", venv / "bin" / "python",
                             f"wacft{INSTALLS[kind]} @ {wheel.as_uri()}"]):
                proc = run(command)
                assert proc.returncode == 0, proc.stderr
            made[kind] = venv
        return made[kind]

    return environment


def commands(venv: Path, folder: Path):
    """Runs a command of the installed environment from a folder outside the repository."""
    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    base_env.update(HOME=str(folder), WACFT_HOME=str(folder / "wacft"), HF_HUB_OFFLINE="1", NO_COLOR="1")

    def command(name: str, *args, env: dict | None = None) -> subprocess.CompletedProcess:
        proc = run([venv / "bin" / name, *args], cwd=folder, env={**base_env, **(env or {})}, timeout=300)
        assert proc.returncode == 0, f"{name} {' '.join(map(str, args))}:\n{proc.stderr}"
        assert "Traceback" not in proc.stderr
        return proc

    command.venv = venv
    return command


@pytest.fixture(params=list(INSTALLS))
def installed(request, environments, tmp_path):
    command = commands(environments(request.param), tmp_path)
    command.kind = request.param
    return command


def python(installed, code: str) -> str:
    return installed("python", "-c", textwrap.dedent(code)).stdout


def test_the_wheel_holds_every_module_and_data_file(wheel):
    shipped = {p.relative_to(ROOT) for p in [*ROOT.rglob("*.py"), *ROOT.glob("record/frames*.txt")]} | {
        Path("modal-image.txt"), Path("tui/wacft.tcss")}
    shipped = {p for p in shipped if p.parts[0] not in ("tests", "bench", "build", "dist")
               and not p.parts[0].startswith(".")}
    with zipfile.ZipFile(wheel) as z:
        held = {Path(name).relative_to("wacft") for name in z.namelist() if name.startswith("wacft/")}
    assert held == shipped


def test_the_package_comes_from_the_environment_not_the_repository(installed):
    where = json.loads(python(installed, """
        import json, sys, wacft
        print(json.dumps({"file": wacft.__file__, "path": sys.path}))
    """))
    assert Path(where["file"]).is_relative_to(installed.venv)
    assert not any(Path(p).resolve() == ROOT for p in where["path"] if p)


def test_every_subcommand_has_its_help(installed):
    assert "usage: wacft" in installed("wacft", "--help").stdout
    steps = next(a for a in build_parser()._actions if a.dest == "step").choices
    for step in steps:
        assert installed("wacft", step, "--help").stdout.startswith(f"usage: wacft {step}")


def test_convert_and_inspect_the_real_weights(installed, tiny_en_dir, tmp_path):
    out = installed("wacft", "convert", tiny_en_dir, "--out", tmp_path / "tiny.bin", "--type", "q5_0").stdout
    assert out.startswith(f"{tmp_path / 'tiny_q5_0.bin'}  q5_0")
    shown = installed("wacft", "inspect", tmp_path / "tiny_q5_0.bin").stdout
    assert "English-only" in shown and "4 layers, width 384, 6 heads" in shown


def test_the_wizard_console_script_starts_and_quits(installed):
    """`wacft-tui` itself, with Textual's headless driver, quitting as soon as the app is ready."""
    proc = installed("wacft-tui", env={"TEXTUAL_DRIVER": "textual.drivers.headless_driver:HeadlessDriver",
                                       "TEXTUAL_PRESS": "ctrl+q"})
    assert proc.stderr == ""


FIRST_SCREEN = """
    import asyncio, json
    from wacft.extras import install_command
    from wacft.tui.app import WacftApp

    async def first_screen():
        app = WacftApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()  # the environment checks
            await pilot.pause()
            extras = app.screen.query_one("#extras")
            lines = str(extras.render()).splitlines() if extras.display else []
            commands = {extra: install_command(extra) for extra in ("train", "verify", "modal", "record")}
            print(json.dumps([type(app.screen).__name__, [c.name for c in app.screen.checks], lines, commands]))
            await pilot.press("ctrl+q")
        assert app.return_code == 0

    asyncio.run(first_screen())
"""


def first_screen(python_of_the_install) -> tuple[str, list[str], dict[str, str]]:
    """The start screen's lines of extras (spaces squeezed), and the command that install gives for each extra."""
    name, checks, lines, commands = json.loads(python_of_the_install(FIRST_SCREEN))
    assert (name, checks) == ("StartScreen", ["Modal token", "Hugging Face login", "adb", "espeak-ng", "Local GPU"])
    return [" ".join(line.split()) for line in lines], commands


def test_the_wizard_shows_its_first_screen(installed):
    """With what each extra this install lacks would add, and the command for it."""
    lines, commands = first_screen(lambda code: python(installed, code))
    missing = {"default": ["train", "verify", "modal", "record"], "modal": ["train", "verify", "record"]}
    assert lines == [line for extra in missing[installed.kind] for line in (f"adds {ADDS[extra]}:", commands[extra])]
    # a venv uv made has no pip: uv installs into it, from the wheel it came from, keeping the extras it has
    kept = "modal," if installed.kind == "modal" else ""
    assert commands["record"] == (f"uv pip install --python {installed.venv / 'bin' / 'python'} "
                                  f"'wacft[{kept}record] @ {wheel_of(installed)}'")


def wheel_of(installed) -> str:
    return json.loads(python(installed, """
        import importlib.metadata
        print(importlib.metadata.distribution("wacft").read_text("direct_url.json"))
    """))["url"]


def test_the_start_screens_command_adds_the_extra_to_a_uv_tool(wheel, tmp_path):
    """`uv tool install` of the wheel into a fresh home: the start screen's command for a missing extra, run
    there as it reads, adds that extra to the tool and keeps the one it had."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(HOME=str(home), UV_TOOL_DIR=str(home / "tools"), UV_TOOL_BIN_DIR=str(home / "bin"),
               UV_CACHE_DIR=os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv"),
               WACFT_HOME=str(home / "wacft"), HF_HUB_OFFLINE="1", NO_COLOR="1")
    proc = run([UV, "tool", "install", "--quiet", "--python", sys.executable, f"wacft[modal] @ {wheel.as_uri()}"],
               env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    tool_python = home / "tools" / "wacft" / "bin" / "python"

    def in_the_tool(code: str) -> str:
        proc = run([tool_python, "-c", textwrap.dedent(code)], env=env, cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    lines, commands = first_screen(in_the_tool)
    assert lines[lines.index(f"adds {ADDS['record']}:") + 1] == commands["record"]
    command = shlex.split(commands["record"])
    assert command[:4] == ["uv", "tool", "install", "--force"]
    proc = run([UV, *command[1:]], env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    has = "from wacft.extras import installed; print(installed('record'), installed('modal'))"
    assert in_the_tool(has).split() == ["True", "True"]
    assert (home / "bin" / "wacft-tui").exists()


def test_no_heavy_package_is_installed(installed):
    present = python(installed, f"""
        import importlib.util
        print(",".join(m for m in {HEAVY!r} if importlib.util.find_spec(m)))
    """)
    assert present.strip() == ""
    assert bool(python(installed, "import importlib.util; print(importlib.util.find_spec('modal') or '')").strip()) \
        == (installed.kind == "modal")


def imported_at_module_level(path: Path, module: str) -> bool:
    return any(isinstance(node, ast.ImportFrom) and node.module == module for node in ast.parse(path.read_text()).body)


@pytest.mark.xfail(imported_at_module_level(ROOT / "modal_jobs.py", "wacft.acft.trainer"),
                   reason="modal_jobs.py imports the trainer (torch) at module level until the Modal work lands")
def test_the_modal_launch_path_needs_no_torch(environments, tmp_path):
    loaded = python(commands(environments("modal"), tmp_path), f"""
        import sys
        import wacft.modal_jobs
        from wacft.acft.modal_backend import ModalBackend
        assert wacft.modal_jobs.IMAGE_LOCK.is_file()  # the image's lock file travels with the package
        print(",".join(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert loaded.strip() == ""


def test_the_wheel_states_its_license_as_an_spdx_expression(wheel):
    """`project.license` as a string (a TOML table is deprecated in setuptools, and warned about at each build)."""
    with zipfile.ZipFile(wheel) as z:
        [metadata] = [name for name in z.namelist() if name.endswith(".dist-info/METADATA")]
        lines = z.read(metadata).decode().splitlines()
    assert "License-Expression: MIT" in lines and not any(line.startswith("License: ") for line in lines)
