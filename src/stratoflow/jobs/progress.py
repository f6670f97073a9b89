"""Progress of a running job: a live table on a terminal, plain log lines otherwise.

Both take ``update(manager, {state: count}, elapsed_seconds)`` from the driver and show tasks
done / failed / total per manager, the rate and an ETA. Plain lines are throttled (one per
manager every few seconds and one at the end) so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

__all__ = ["LiveProgress", "PlainProgress", "summarize"]

_FINISHED = ("done", "failed", "skipped", "cancelled", "awaiting_review")


def summarize(counts: dict[str, int], elapsed: float) -> tuple[int, int, int, float, float | None]:
    """(finished, failed, total, rate per second, ETA seconds or None)."""
    total = sum(counts.values())
    finished = sum(counts.get(state, 0) for state in _FINISHED)
    failed = counts.get("failed", 0)
    rate = finished / elapsed if elapsed > 0 else 0.0
    eta = (total - finished) / rate if rate > 0 else None
    return finished, failed, total, rate, eta


def _eta(eta: float | None) -> str:
    return "?" if eta is None else f"{eta:.0f} s"


class PlainProgress:
    """One log line per manager every ``every`` seconds, and when it finishes."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self._last: dict[str, float] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def update(self, manager: str, counts: dict[str, int], elapsed: float) -> None:
        finished, failed, total, rate, eta = summarize(counts, elapsed)
        now = time.monotonic()
        complete = finished == total
        if not complete and now - self._last.get(manager, -1e9) < self.every:
            return
        if complete and self._last.get(manager) == float("inf"):
            return
        self._last[manager] = float("inf") if complete else now
        print(
            f"{manager}: {finished}/{total} done, {failed} failed, {rate:.1f} tasks/s, "
            f"ETA {_eta(eta)}",
            file=sys.stderr,
            flush=True,
        )


class LiveProgress:
    """A rich live table, one row per manager."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[int, int, int, float, float | None]] = {}
        self._live = Live(self._table(), console=Console(stderr=True), refresh_per_second=4)

    def _table(self) -> Table:
        table = Table("manager", "done", "failed", "total", "tasks/s", "ETA")
        for name, (finished, failed, total, rate, eta) in self._rows.items():
            table.add_row(name, str(finished), str(failed), str(total), f"{rate:.1f}", _eta(eta))
        return table

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.__exit__(t, e, tb)

    def update(self, manager: str, counts: dict[str, int], elapsed: float) -> None:
        self._rows[manager] = summarize(counts, elapsed)
        self._live.update(self._table())
