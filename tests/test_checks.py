"""The start screen's Modal token check reads Modal's config without importing modal; it must agree with
what the real modal package decides for the same files and environment."""

import os
import subprocess
import sys

import pytest

from wacft.checks import modal_token_configured

ACTIVE = '[default]\ntoken_id = "ak-1"\ntoken_secret = "as-1"\n'
PROFILES = {
    "active profile with a token": '[work]\ntoken_id = "ak-1"\ntoken_secret = "as-1"\nactive = true\n',
    "default profile with a token": ACTIVE,
    "token in an inactive profile": '[a]\nactive = true\n[b]\ntoken_id = "ak-1"\ntoken_secret = "as-1"\n',
    "id without secret": '[default]\ntoken_id = "ak-1"\n',
    "no file": None,
    "not toml": "token_id = \n[[[",
}


def modal_says(env: dict) -> bool:
    code = "from modal.config import config; print(bool(config.get('token_id') and config.get('token_secret')))"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return run.stdout.strip() == "True"


@pytest.mark.parametrize("environment", [{}, {"MODAL_TOKEN_SECRET": "as-env"}, {"MODAL_PROFILE": "b"}],
                         ids=["files only", "secret from the environment", "profile named"])
@pytest.mark.parametrize("name", PROFILES)
def test_agrees_with_modal(tmp_path, monkeypatch, name, environment):
    config = tmp_path / "modal.toml"
    if PROFILES[name] is not None:
        config.write_text(PROFILES[name])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env |= {"MODAL_CONFIG_PATH": str(config), "HOME": str(tmp_path), **environment}
    for key in [k for k in os.environ if k.startswith("MODAL_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if name == "not toml":  # modal refuses to start at all; the check just says there is no token
        assert not modal_token_configured()
        return
    assert modal_token_configured() == modal_says(env)
