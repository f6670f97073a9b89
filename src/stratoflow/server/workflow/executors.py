"""Executors: where task bodies run. Threads in this process (default) or Celery workers.

The driver (:func:`~stratoflow.server.workflow.services.run_execute`) only *submits* task ids;
the executor runs :func:`~stratoflow.server.workflow.services.task_execute` for each, somewhere.
Because the body claims its task in the database, an executor may deliver a task twice
(Celery's ``acks_late`` redelivery, a re-dispatch after a lost message) without double work.

The choice comes from ``STRATOFLOW_EXECUTOR`` (setting or environment): ``inprocess``
(default, the embedded mode) or ``celery`` (scale-out; run ``stratoflow worker`` processes).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.db import close_old_connections, connection

from stratoflow.errors import ConfigError

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["CeleryExecutor", "Executor", "InProcessExecutor", "default"]

log = logging.getLogger("stratoflow.workflow")


class Executor(Protocol):
    """Runs task bodies by id."""

    def submit(self, task_ids: Sequence[int]) -> None:
        """Have ``task_execute`` called for each id (eventually, at least once)."""

    def wait(self, timeout: float) -> None:
        """Block until some submitted task may have finished, at most ``timeout`` seconds."""

    def close(self) -> None:
        """Release threads/connections; submitted work already finished or was abandoned."""


class InProcessExecutor:
    """Threads in this process; on SQLite (one writer at a time) the caller's thread.

    Each thread keeps its own database connection for its lifetime (opening one per task
    would cost more than a no-op task) and closes it when the executor closes.
    """

    def __init__(self, workers: int = 4) -> None:
        self.inline = workers <= 1 or connection.vendor == "sqlite"
        self._finished = threading.Event()
        self._queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"stratoflow-task-{i}", daemon=True)
            for i in range(0 if self.inline else workers)
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        from stratoflow.server.workflow.services import task_execute

        try:
            while True:
                try:
                    task_id = self._queue.get(timeout=1.0)
                except queue.Empty:
                    connection.close()  # idle: hold no connection between runs
                    continue
                if task_id is None:
                    break
                try:
                    task_execute(task_id)
                except Exception:  # the task's lease brings it back; keep the thread alive
                    log.exception("task %s: executor error", task_id)
                    close_old_connections()
                finally:
                    self._finished.set()
        finally:
            connection.close()

    def submit(self, task_ids: Sequence[int]) -> None:
        if self.inline:
            from stratoflow.server.workflow.services import task_execute

            for task_id in task_ids:
                task_execute(task_id)
            return
        for task_id in task_ids:
            self._queue.put(task_id)

    def wait(self, timeout: float) -> None:
        if self.inline:
            time.sleep(timeout)  # nothing runs meanwhile; only retries are waited for
            return
        self._finished.wait(timeout)
        self._finished.clear()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads; wait at most ``timeout`` seconds for them.

        A thread still busy then runs a task its driver has given up on (past its manager's
        timeout: the task was re-queued or failed, and its late result will be discarded) and
        may never return; waiting for it held ``job run`` and a stopping scheduler forever.
        It is a daemon thread, and is left to finish or to end with the process.
        """
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        busy = []
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
            if thread.is_alive():
                busy.append(thread.name)
        if busy:
            log.warning(
                "not waiting for %d task thread(s) still busy after %g s (%s): a task past "
                "its timeout, whose result is discarded",
                len(busy),
                timeout,
                ", ".join(busy),
            )
        self._threads = []


class CeleryExecutor:
    """Send each task id to the ``stratoflow.execute_task`` Celery task (see server.celery)."""

    def __init__(self, queue: str | None = None, *, app: Celery | None = None) -> None:
        """``app``: another Celery application than stratoflow's (e.g. another broker)."""
        from stratoflow.server import celery

        self._app = app or celery.app()
        self._queue = queue or celery.queue_name()

    def submit(self, task_ids: Sequence[int]) -> None:
        for task_id in task_ids:
            self._app.send_task("stratoflow.execute_task", args=[task_id], queue=self._queue)

    def wait(self, timeout: float) -> None:
        time.sleep(timeout)  # no completion signal: the driver polls the database

    def close(self) -> None:
        pass


def default(workers: int = 4) -> Executor:
    """The executor chosen by ``STRATOFLOW_EXECUTOR`` (``inprocess`` or ``celery``)."""
    name = getattr(settings, "STRATOFLOW_EXECUTOR", None) or os.environ.get(
        "STRATOFLOW_EXECUTOR", "inprocess"
    )
    if name == "inprocess":
        return InProcessExecutor(workers)
    if name == "celery":
        return CeleryExecutor()
    raise ConfigError(f"unknown STRATOFLOW_EXECUTOR {name!r}: use 'inprocess' or 'celery'")
