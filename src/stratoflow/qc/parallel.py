"""Large QC passes split over a few threads.

Why: a range check of 10^7 points reads 80 MB and writes a fresh 40 MB result. On one core
it is bound as much by the comparisons of each block in cache and by the kernel zeroing the
result's pages as by memory; numpy's ufuncs release the GIL, so the pieces of one array can run
side by side. Measured on the 2-core CI VM at 10^7 points (comparisons, search and fill of a
fresh result, median of 15 rounds): 9.6 ms in one thread, 8.0 ms in two. At 10^6 points the
gain is within the noise (0.52 against 0.48 ms), hence :data:`PARALLEL_FROM`; smaller calls
never touch the pool. Results are the same bit for bit: each piece is the same element-wise
arithmetic on its own points, and the pieces' outputs are joined in order.

``STRATOFLOW_QC_THREADS`` sets the number of threads (1: never split); by default it is the
number of CPUs this process may run on, at most :data:`MAX_THREADS` (a pass bound by memory
gains nothing from more threads than the memory can feed).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from stratoflow.errors import QCError

__all__ = [
    "ENV",
    "MAX_THREADS",
    "PARALLEL_FROM",
    "PIECES_PER_THREAD",
    "pieces",
    "qc_threads",
    "run_pieces",
]

ENV = "STRATOFLOW_QC_THREADS"
PARALLEL_FROM = 1 << 22
"""Points from which a pass is split over threads (4 Mi points: 32 MiB of float64)."""
MAX_THREADS = 4
PIECES_PER_THREAD = 4
"""More pieces than threads, so that a thread that is not scheduled leaves few to the others."""

T = TypeVar("T")

_lock = threading.Lock()
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, pool)


def qc_threads() -> int:
    """Threads a large QC pass may use: ``STRATOFLOW_QC_THREADS``, else the usable CPUs (capped).

    :class:`QCError` if the variable is set to anything but a whole number >= 1.
    """
    raw = os.environ.get(ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise QCError(f"{ENV} must be a whole number >= 1 (1: no threads), got {raw!r}")
        return value
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may use (taskset, cgroups)
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_THREADS))


def pieces(n: int, align: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the pieces ``n`` points are split into: one below
    :data:`PARALLEL_FROM` or with one thread, else :data:`PIECES_PER_THREAD` per thread, each
    start a multiple of ``align`` (a block size, so that each piece compares whole blocks and
    whole 8-point words).
    """
    k = qc_threads() if n >= PARALLEL_FROM else 1
    if k <= 1:
        return [(0, n)]
    size = -(-n // (k * PIECES_PER_THREAD))
    size = -(-size // align) * align
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def run_pieces(fn: Callable[[int, int], T], bounds: Sequence[tuple[int, int]]) -> list[T]:
    """``fn(start, stop)`` for each piece; the results in order.

    This thread and up to ``qc_threads() - 1`` helpers from a shared pool take the next piece
    not yet taken until none is left. On a machine whose other cores are busy a helper may not
    run for a while: this thread then does the pieces itself and only waits for a piece a
    helper has started, never for a helper to start (its pending task is cancelled).
    ``fn`` must not itself wait for the pool.
    """
    if len(bounds) == 1:
        return [fn(*bounds[0])]
    results: list[T | None] = [None] * len(bounds)
    taken = itertools.count()  # next() on it is atomic: each piece is taken once

    def work() -> None:
        while (i := next(taken)) < len(bounds):
            results[i] = fn(*bounds[i])

    helpers = min(qc_threads(), len(bounds)) - 1
    pool = _executor(helpers)
    futures = [pool.submit(work) for _ in range(helpers)]
    work()
    for f in futures:
        if not f.cancel():  # started: it may be running a piece
            f.result()
    return results  # type: ignore[return-value]  # every piece was run: no None is left


def _executor(workers: int) -> ThreadPoolExecutor:
    """The shared pool with at least ``workers`` threads.

    A forked child (a prefork Celery worker) inherits the pool object but none of its threads:
    work handed to it would wait for ever, so a process makes its own pool.
    """
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] < workers:
            if _pool is not None and _pool[0] == os.getpid():
                _pool[2].shutdown(wait=False)  # a smaller one of this process
            pool = ThreadPoolExecutor(workers, thread_name_prefix="stratoflow-qc")
            _pool = (os.getpid(), workers, pool)
        return _pool[2]
