"""Dependencies between jobs: cycle detection and a stable run order.

Stored as edges ``job -> jobs it depends on``; :func:`find_cycle` is what saving a dependency
checks (a cycle is rejected when it is saved, never discovered at 02:30 at night), and
:func:`run_order` is the order in which a scheduler tick starts the jobs.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

from stratoflow.errors import ConfigError

__all__ = ["find_cycle", "run_order"]

N = TypeVar("N", bound=Hashable)


def find_cycle(edges: Mapping[N, Iterable[N]]) -> list[N] | None:
    """A dependency cycle as a path ``[a, b, ..., a]``, or ``None`` when there is none."""
    graph = {node: list(deps) for node, deps in edges.items()}
    state: dict[N, int] = {}  # 1 = on the current path, 2 = done
    path: list[N] = []

    def visit(node: N) -> list[N] | None:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def run_order(edges: Mapping[N, Iterable[N]], nodes: Iterable[N]) -> list[N]:
    """``nodes`` with every dependency before its dependents, otherwise in the given order."""
    ordered = list(nodes)
    cycle = find_cycle(edges)
    if cycle is not None:
        raise ConfigError(f"dependency cycle: {' -> '.join(map(str, cycle))}")
    wanted = set(ordered)
    done: set[N] = set()
    out: list[N] = []

    def place(node: N) -> None:
        if node in done:
            return
        done.add(node)
        for dep in edges.get(node, []):
            if dep in wanted:
                place(dep)
        out.append(node)

    for node in ordered:
        place(node)
    return out
