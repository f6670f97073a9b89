"""Stopping a run on request: SIGTERM becomes an exception the run can clean up after.

Python's default for SIGTERM is to die at once, without ``finally`` blocks: a ``stratoflow
job run`` stopped by a supervisor (systemd, Kubernetes, ``kill``) left its run ``running``
and its tasks claimed until their leases ran out, and a re-run found them taken ("0 new").
Inside :func:`sigterm_raises` SIGTERM raises :class:`Terminated` in the main thread instead,
like Ctrl-C raises :class:`KeyboardInterrupt`; the driver then marks its run interrupted and
gives its tasks back (see :func:`stratoflow.server.workflow.services.run_interrupt`).

Example::

    with sigterm_raises():
        job_run(job)          # SIGTERM: the run is failed as interrupted, then Terminated
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Terminated", "sigterm_raises"]


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM).

    A :class:`KeyboardInterrupt`, not an :class:`Exception`: code that catches ``Exception``
    to fail one task and go on must not swallow a request to stop the whole process.
    """


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (once: a
    second SIGTERM while the first is being handled is ignored, so the clean-up finishes).

    Outside the main thread (where Python cannot install handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated(f"terminated by {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
