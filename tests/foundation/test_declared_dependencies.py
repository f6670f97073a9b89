"""Every third-party module stratoflow's own code imports is a declared runtime dependency.

The test extras pull in a lot (scipy came in through ioos_qc and compliance-checker), so an
undeclared import works in the test venv and fails on a user's machine: `./dev demo` once
died with "No module named 'scipy'". This test reads the imports of ``src/stratoflow`` and
maps each module to the distribution that provides it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0] for spec in project["dependencies"]}
    return {_norm(n) for n in names}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements_of(dist: str, seen: set[str]) -> set[str]:
    """``dist`` and everything it depends on (extras included), recursively."""
    if dist in seen:
        return seen
    seen.add(dist)
    try:
        requires = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return seen
    for spec in requires:
        if "extra ==" in spec and "redis" not in spec:  # celery[redis] is what we declare
            continue
        _requirements_of(_norm(re.split(r"[\[<>=!~; (]", spec, maxsplit=1)[0]), seen)
    return seen


def _imported_modules() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in (ROOT / "src" / "stratoflow").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "stratoflow" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_runtime_import_is_declared() -> None:
    providers = metadata.packages_distributions()
    allowed: set[str] = set()
    for dist in _declared():
        _requirements_of(dist, allowed)
    undeclared = {}
    for module, where in _imported_modules().items():
        dists = {_norm(d) for d in providers.get(module, [module])}
        if not dists & allowed:
            undeclared[module] = where
    assert not undeclared, f"imported but not declared in [project.dependencies]: {undeclared}"
