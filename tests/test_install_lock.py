"""The Modal image's lock file (modal-image.txt): exact pins, one for each package the training job needs, each
inside the range pyproject.toml declares."""

from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import wacft
from wacft.checks import tomllib

ROOT = Path(wacft.__file__).parent
IMAGE = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
         "platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}


def pins() -> dict[str, str]:
    lines = [line.strip() for line in (ROOT / "modal-image.txt").read_text().splitlines()]
    pinned = [Requirement(line) for line in lines if line and not line.startswith("#")]
    assert all(len(r.specifier) == 1 and next(iter(r.specifier)).operator == "==" for r in pinned)
    return {canonicalize_name(r.name): next(iter(r.specifier)).version for r in pinned}


def test_every_package_the_job_needs_is_pinned_inside_its_declared_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras, needed = ["train"], [Requirement(r) for r in project["dependencies"]]
    while extras:  # an extra may include others (train includes data)
        for r in map(Requirement, project["optional-dependencies"][extras.pop()]):
            if canonicalize_name(r.name) == "wacft":
                extras += sorted(r.extras)
            else:
                needed.append(r)
    needed = [r for r in needed if r.marker is None or r.marker.evaluate(IMAGE)]
    locked = pins()
    for requirement in needed:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in modal-image.txt: run scripts/lock-modal-image"
        assert requirement.specifier.contains(locked[name]), f"{name}=={locked[name]} is outside {requirement}"

