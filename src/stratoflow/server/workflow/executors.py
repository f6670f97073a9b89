"""Executors: where task bodies run. Threads in this process (default) or Celery workers.

The driver (:func:`~stratoflow.server.workflow.services.run_execute`) only *submits* task ids;
the executor runs :func:`~stratoflow.server.workflow.services.task_execute` for each, somewhere.
Because the body claims its task in the database, an executor may deliver a task twice
(Celery's ``acks_late`` redelivery, a re-dispatch after a lost message) without double work.

The choice comes from ``STRATOFLOW_EXECUTOR`` (setting or environment): ``inprocess``
(default, the embedded mode) or ``celery`` (scale-out; run ``stratoflow worker`` processes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from django.conf import settings
from django.db import connection

from stratoflow.errors import ConfigError

__all__ = ["CeleryExecutor", "Executor", "InProcessExecutor", "default"]


class Executor(Protocol):
    """Runs task bodies by id."""

    def submit(self, task_ids: Sequence[int]) -> None:
        """Have ``task_execute`` called for each id (eventually, at least once)."""

    def close(self) -> None:
        """Release threads/connections; submitted work already finished or was abandoned."""


class InProcessExecutor:
    """A thread pool in this process; on SQLite (one writer at a time) the caller's thread."""

    def __init__(self, workers: int = 4) -> None:
        self.inline = workers <= 1 or connection.vendor == "sqlite"
        self._pool = (
            None
            if self.inline
            else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stratoflow-task")
        )

    def submit(self, task_ids: Sequence[int]) -> None:
        if self._pool is None:
            for task_id in task_ids:
                _body(task_id, close=False)
            return
        for task_id in task_ids:
            self._pool.submit(_body, task_id, close=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _body(task_id: int, *, close: bool) -> None:
    from stratoflow.server.workflow.services import task_execute

    try:
        task_execute(task_id)
    finally:
        if close:
            connection.close()


class CeleryExecutor:
    """Send each task id to the ``stratoflow.execute_task`` Celery task (see server.celery)."""

    def __init__(self, queue: str | None = None) -> None:
        from stratoflow.server.celery import app, queue_name

        self._app = app()
        self._queue = queue or queue_name()

    def submit(self, task_ids: Sequence[int]) -> None:
        for task_id in task_ids:
            self._app.send_task("stratoflow.execute_task", args=[task_id], queue=self._queue)

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
