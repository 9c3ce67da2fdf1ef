"""Imports run one way: presentation (the wizard, the command lines) -> services -> engine (acft, convert, device,
record, the Modal job, audio, atomic, ...); the engine imports neither of the others, the services no
presentation. Read from the sources' import
statements, so it is fast and needs none of the optional packages."""

from __future__ import annotations

import ast
import functools
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repo root is the package `wacft`
NOT_PACKAGE = {"tests", "bench", "scripts", "build", "dist"}


def module_name(path: Path) -> str:
    """`wacft.acft.trainer`; a package's own file keeps its `__init__`, so relative imports resolve alike."""
    return ".".join(("wacft", *path.relative_to(ROOT).with_suffix("").parts))


def is_presentation(module: str) -> bool:
    """The wizard (`tui`), the command line (`cli`: `wacft` and its steps) and the `modal run` entrypoints."""
    return any(module == p or module.startswith(p + ".") for p in ("wacft.tui", "wacft.cli", "wacft.modal_cli"))


def is_service(module: str) -> bool:
    return module == "wacft.services" or module.startswith("wacft.services.")


def imported(source: str, module: str) -> set[str]:
    """Every module (or module.name) an import statement of `source`, the text of `module`, names."""
    package = module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            target = ".".join(part for part in (base, node.module or "") if part)
            names |= {target} | {f"{target}.{alias.name}" for alias in node.names}
    return names


@functools.cache
def package_sources() -> dict[str, str]:
    """Every module of the package, by name. Only the package's own folders are walked: a virtual environment
    beside them (.venv, scripts/test-lowest's .venv-lowest) holds tens of thousands of files."""
    tops = [p for p in ROOT.iterdir() if p.name not in NOT_PACKAGE and not p.name.startswith(".")
            and not p.name.endswith(".egg-info")]
    paths = [p for top in tops for p in ([top] if top.suffix == ".py" else top.rglob("*.py") if top.is_dir() else [])]
    return {module_name(path): path.read_text() for path in paths}


def test_the_engine_imports_neither_the_wizard_nor_a_command_line():
    sources = package_sources()
    engine = {m for m in sources if not is_presentation(m) and not is_service(m)}
    assert {"wacft.acft.trainer", "wacft.verify.check", "wacft.device.push", "wacft.modal_jobs"} <= engine
    wrong = {m: sorted(n for n in imported(sources[m], m) if is_presentation(n) or is_service(n))
             for m in sorted(engine)}
    assert {m: names for m, names in wrong.items() if names} == {}


def test_the_services_import_no_presentation():
    services = {m for m in package_sources() if is_service(m)}
    assert "wacft.services.settings" in services
    wrong = {m: sorted(n for n in imported(package_sources()[m], m) if is_presentation(n)) for m in services}
    assert {m: names for m, names in wrong.items() if names} == {}


PACKAGES = ("acft", "convert", "dataset", "device", "record", "verify")  # the engine's packages
ENGINE = (*(f"wacft.{p}" for p in PACKAGES), "wacft.modal_jobs")
# what everything may import: flat modules that import nothing of the package but each other
KERNEL = ("errors", "facts", "atomic", "extras", "audio", "paths", "pipeline", "hub", "run_folder", "faults", "checks")


def is_engine(module: str) -> bool:
    return any(module == e or module.startswith(e + ".") for e in ENGINE)


def test_the_wizard_and_the_command_line_reach_the_engine_only_through_the_services():
    """A screen or a command collects input, calls a service and shows the result: what both show comes from one
    place."""
    sources = package_sources()
    presentation = {m for m in sources if is_presentation(m)}
    assert {"wacft.tui.app", "wacft.tui.screens.verify", "wacft.cli.__init__", "wacft.cli.verify", "wacft.modal_cli"} \
        <= presentation
    # `modal run` finds its entrypoints on the job's own app, so they are declared on it
    on_the_app = {"wacft.modal_cli": {"wacft.modal_jobs", "wacft.modal_jobs.app"}}
    wrong = {m: sorted(n for n in imported(sources[m], m) if is_engine(n) and n not in on_the_app.get(m, ()))
             for m in sorted(presentation)}
    assert {m: names for m, names in wrong.items() if names} == {}


def test_an_import_the_other_way_is_seen_however_it_is_written():
    for source in ("from wacft.tui.session import Session", "import wacft.cli", "from wacft import tui",
                   "from ..tui import app", "from wacft.cli import train", "from wacft.cli.verify import main",
                   "def later():\n    from wacft.tui.screens.base import StepScreen"):
        assert any(is_presentation(n) for n in imported(source, "wacft.acft.trainer")), source
    for source in ("from wacft.services.settings import train_settings", "from wacft import services",
                   "from ..services import settings"):
        assert any(is_service(n) for n in imported(source, "wacft.acft.trainer")), source
    for source in ("from wacft.dataset.clips import load_clips", "import wacft.device.push", "from wacft import record",
                   "def later():\n    from ...convert.verify import verify"):
        assert any(is_engine(n) for n in imported(source, "wacft.tui.screens.verify")), source
    for source in ("from wacft.acft.events import log", "from . import context", "import wacft.facts"):
        names = imported(source, "wacft.acft.trainer")
        assert not any(is_presentation(n) or is_service(n) for n in names), source


def package_of(module: str) -> str | None:
    """`acft` for wacft.acft.trainer, "kernel" for a flat kernel module, None for anything else."""
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == "wacft" and parts[1] in KERNEL:
        return "kernel"
    return parts[1] if len(parts) > 2 and parts[0] == "wacft" and parts[1] in PACKAGES else None


def package_imports() -> dict[tuple[str, str], str]:
    """(importer, imported) package pairs, each with one module that makes it: the engine's import graph."""
    sources = package_sources()
    edges: dict[tuple[str, str], str] = {}
    for m, source in sorted(sources.items()):
        here = package_of(m)
        for n in imported(source, m):
            there = package_of(n) or package_of(n.rsplit(".", 1)[0])
            if here and there and here != there:
                edges.setdefault((here, there), f"{m} imports {n}")
    return edges


def test_the_kernel_imports_no_package():
    assert {pair: why for pair, why in package_imports().items() if pair[0] == "kernel"} == {}


def test_the_engine_packages_import_each_other_one_way():
    """No two packages depend on each other, however far round: each can be read, and changed, knowing only what
    it imports."""
    edges = package_imports()
    assert ("acft", "dataset") in edges and ("dataset", "kernel") in edges  # the graph is read at all
    graph = {a: {b for x, b in edges if x == a} for a, _ in edges}

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == start:
                return [*path, start]
            if nxt not in path and (found := cycle_from(start, [*path, nxt])):
                return found
        return None

    cycles = [c for p in sorted(graph) if (c := cycle_from(p, [p]))]
    assert cycles == [], [[edges[pair] for pair in itertools.pairwise(c)] for c in cycles]
