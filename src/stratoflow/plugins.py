"""Plugin registry: every extension point finds its implementations by name through entry points.

One mechanism serves all extension points. Each has an entry-point group; stratoflow's own
built-ins are declared in its ``pyproject.toml`` exactly like a third-party plugin would be::

    [project.entry-points."stratoflow.readers"]
    nasa_ames = "stratoflow.readers.nasa_ames:NasaAmesReader"

Entry points are only imported when a plugin is asked for, so a slow or missing optional
dependency of one plugin costs nothing to the others. A plugin that fails to import is
skipped with a warning when plugins are enumerated, and raises when it is asked for by name.
An unknown name raises :class:`~stratoflow.errors.PluginNotFound` listing the installed ones.

Example::

    >>> from stratoflow import plugins
    >>> reader_cls = plugins.load("readers", "iagos_netcdf")    # doctest: +SKIP
    >>> sorted(plugins.names("writers"))                          # doctest: +SKIP
    ['csv', 'icartt', 'nasa_ames', 'netcdf']
"""

from __future__ import annotations

import warnings
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from stratoflow.errors import PluginNotFound

__all__ = ["GROUPS", "load", "load_all", "names", "register", "unregister"]

#: Extension point -> entry-point group.
GROUPS: dict[str, str] = {
    "readers": "stratoflow.readers",
    "writers": "stratoflow.writers",
    "transfer_types": "stratoflow.transfer_types",
    "auth": "stratoflow.auth",
    "qc_tests": "stratoflow.qc_tests",
    "evaluations": "stratoflow.evaluations",
    "importers": "stratoflow.importers",
    "exporters": "stratoflow.exporters",
}

# Plugins registered at run time (a notebook, a test); they shadow entry points of the same name.
_runtime: dict[str, dict[str, Any]] = {kind: {} for kind in GROUPS}


def _group(kind: str) -> str:
    try:
        return GROUPS[kind]
    except KeyError:
        raise PluginNotFound(
            f"unknown extension point {kind!r}; known: {', '.join(sorted(GROUPS))}"
        ) from None


@cache
def _entry_points(kind: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=_group(kind))}


@cache
def _loaded(ep: EntryPoint) -> Any:
    """The object behind an entry point, imported once: a QC run asks for its tests per
    variable, and ``EntryPoint.load`` re-resolves the module every time (about 7 us)."""
    return ep.load()


def names(kind: str) -> list[str]:
    """Names of the installed plugins of one extension point, sorted."""
    _group(kind)
    return sorted(set(_entry_points(kind)) | set(_runtime[kind]))


def load(kind: str, name: str) -> Any:
    """The plugin object (usually a class or function) registered as ``name``."""
    _group(kind)
    if name in _runtime[kind]:
        return _runtime[kind][name]
    ep = _entry_points(kind).get(name)
    if ep is None:
        available = ", ".join(names(kind)) or "none"
        singular = kind[:-1] if kind.endswith("s") else kind
        raise PluginNotFound(
            f"unknown {singular.replace('_', ' ')} {name!r}; installed: {available}"
        )
    try:
        return _loaded(ep)
    except Exception as exc:  # a broken plugin must name itself, not crash with an obscure error
        raise PluginNotFound(
            f"{kind} plugin {name!r} ({ep.value}) is installed but cannot be loaded: {exc}"
        ) from exc


def load_all(kind: str) -> dict[str, Any]:
    """Every loadable plugin of one extension point; broken ones warn and are skipped."""
    loaded: dict[str, Any] = {}
    for name in names(kind):
        try:
            loaded[name] = load(kind, name)
        except PluginNotFound as exc:
            warnings.warn(str(exc), RuntimeWarning, stacklevel=2)
    return loaded


def register(kind: str, name: str, obj: Any) -> None:
    """Register a plugin at run time (e.g. from a notebook) without packaging it."""
    _group(kind)
    _runtime[kind][name] = obj


def unregister(kind: str, name: str) -> None:
    """Remove a plugin registered with :func:`register`."""
    _group(kind)
    _runtime[kind].pop(name, None)
