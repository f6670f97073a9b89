"""What every benchmark script prints and times the same way.

The scripts run as ``python benchmarks/bench_x.py`` (this folder is then first on ``sys.path``),
so they import this module as ``_common``. One description of the machine and one timer keep
the numbers of different scripts comparable.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

__all__ = ["best_of", "machine", "timed"]


def machine(*distributions: str) -> str:
    """One line: platform, CPU count, Python, and the versions of ``distributions``.

    Versions come from the installed distribution metadata (``psycopg``, ``ioos-qc``...), so a
    library without ``__version__`` is described the same way as any other.
    """
    versions = []
    for name in ("numpy", *distributions):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return " | ".join(
        [
            platform.platform(),
            platform.processor() or platform.machine(),
            f"{os.cpu_count()} CPUs",
            f"Python {platform.python_version()}",
            *versions,
        ]
    )


def timed(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs (seconds), and what the last run returned.

    The best, not the mean: other load on the machine only ever adds time, so the minimum is
    the estimate least disturbed by it (both sides of a ratio are timed the same way).
    """
    best = float("inf")
    out = None
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - started)
    return best, out


def best_of(repeat: int, func: Callable[[], object]) -> float:
    """Best wall time of ``repeat`` runs, in seconds."""
    return timed(func, repeat)[0]
