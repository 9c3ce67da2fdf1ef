"""`pip install wacft` without extras: what needs an extra says which one and the command, never a
traceback. Run for real in a virtual environment that has only the default dependencies."""

import os
import subprocess

import pytest
from fixtures.bare_install import REPO, bare_python, requirements

from wacft.convert.convert import convert, plan_outputs
from wacft.errors import WacftError
from wacft.extras import EXTRAS, needs_extra

pytestmark = pytest.mark.e2e


def hint(wacft, feature: str, package: str, extra: str) -> str:
    return (f"wacft: {feature} needs {package}, which is not installed: install the {extra!r} extra with"
            f" `{wacft.install_command(extra)}` (a checkout's `make run` installs every extra).")


def installed(tmp_path_factory, *extras):
    """`wacft` as an install with only these extras runs it: this checkout's code, no other package."""
    path = tmp_path_factory.mktemp("path")
    (path / "wacft").symlink_to(REPO)
    python = bare_python(*extras)
    home = tmp_path_factory.mktemp("home")  # no Modal or Hugging Face credentials in it
    env = {**os.environ, "PYTHONPATH": str(path), "WACFT_HOME": str(home / "wacft"), "HOME": str(home)}
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_CONFIG_PATH"):
        env.pop(name, None)

    def wacft(*argv):
        return subprocess.run([python, "-m", "wacft.cli", *map(str, argv)], env=env, capture_output=True,
                              text=True, timeout=120)

    def install_command(extra):
        """What this install says adds the extra: from a checkout, into a venv made without pip."""
        code = f"from wacft.extras import install_command; print(install_command({extra!r}))"
        return subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()

    assert wacft("--help").returncode == 0
    wacft.install_command = install_command
    return wacft


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    return installed(tmp_path_factory)


@pytest.fixture(scope="module")
def model_bin(random_whisper, tmp_path_factory):
    [f16] = convert(str(random_whisper()), plan_outputs(tmp_path_factory.mktemp("bin") / "random.bin", ["f16"]))
    return f16.path


def test_conversion_needs_no_extra(bare, random_whisper, tmp_path):
    done = bare("convert", random_whisper(), "--out", tmp_path / "x.bin")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x_q8_0.bin").is_file() and (tmp_path / "x_q5_0.bin").is_file()  # the default types


@pytest.mark.parametrize("where", ["here", "local"])
def test_training_names_the_train_extra(bare, tmp_path, where):
    done = bare("train", "--model", "openai/whisper-tiny.en", "--dataset", tmp_path, "--out", tmp_path / "run",
                "--on", where)
    assert (done.returncode, done.stderr.splitlines()[-1]) == (1, hint(bare, "Training", "torch", "train"))
    assert "Traceback" not in done.stderr


def test_training_without_its_extra_says_nothing_of_where_it_would_train(bare, tmp_path):
    done = bare("train", "--model", "openai/whisper-tiny.en", "--dataset", tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.strip() == hint(bare, "Training", "torch", "train")


def test_training_on_modal_names_the_modal_extra(bare, tmp_path):
    done = bare("train", "--model", "openai/whisper-tiny.en", "--dataset", tmp_path, "--on", "modal")
    assert (done.returncode, done.stderr.strip()) == (1, hint(bare, "Running on Modal", "modal", "modal"))


def test_launching_on_modal_needs_only_the_modal_extra(tmp_path_factory, tmp_path):
    """torch, transformers and datasets run in Modal's image: launching from here needs none of them."""
    wacft = installed(tmp_path_factory, "modal")
    done = wacft("train", "--model", "openai/whisper-tiny.en", "--dataset", tmp_path, "--on", "modal")
    assert done.returncode == 1 and done.stderr.startswith("wacft: No Modal token is configured; run `modal token new`")


def test_verifying_names_the_verify_extra(bare, model_bin, tmp_path):
    """Not the 'data' extra of the dataset it reads first: that alone would not verify."""
    (tmp_path / "metadata.csv").write_text("file_name,text\na.wav,hello\n")
    done = bare("verify", model_bin, "--dataset", tmp_path)
    assert (done.returncode, done.stderr.strip()) == (1, hint(bare, "Verifying in whisper.cpp", "pywhispercpp",
                                                                "verify"))


def test_the_command_given_adds_the_extra_from_the_checkout(bare):
    """A checkout run without installing it: the command reinstalls that checkout with the extra, into this venv
    (made without pip, so through uv)."""
    command = bare.install_command("data")
    assert command.startswith("uv pip install --python ") and command.endswith(f"-e '{REPO}[data]'")


def test_only_the_extras_own_packages_are_reworded():
    with pytest.raises(ModuleNotFoundError, match="no_such_module"), needs_extra("train"):
        import no_such_module  # noqa: F401
    with pytest.raises(WacftError, match=r"install the 'verify' extra with `.*verify\]'`"), needs_extra("verify"):
        raise ModuleNotFoundError("No module named 'pywhispercpp'", name="pywhispercpp")


def test_the_packages_named_are_those_of_pyproject():
    def packages(extra):
        named = set()
        for requirement in requirements(extra):
            named |= set().union(*map(packages, requirement.extras)) if requirement.name == "wacft" \
                else {requirement.name}
        return named

    assert {extra: set(names) for extra, names in EXTRAS.items()} == {extra: packages(extra) for extra in EXTRAS}


@pytest.mark.parametrize(("marker", "start"), [("pipx_metadata.json", "pipx install --force "),
                                               ("uv-receipt.toml", "uv tool install --force --python ")])
def test_a_tool_install_is_told_its_tools_command(tmp_path, monkeypatch, marker, start):
    """pipx and uv tool mark the environments they make; the command is theirs, from where wacft came."""
    import sys

    from wacft.extras import install_command

    (tmp_path / marker).write_text("")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    command = install_command("record")
    assert command.startswith(start) and "record" in command and "pip install" not in command
