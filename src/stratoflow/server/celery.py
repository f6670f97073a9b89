"""The Celery application of ``stratoflow worker`` (scale-out executor).

One task, ``stratoflow.execute_task(task_id)``, a thin caller of
:func:`~stratoflow.server.workflow.services.task_execute`. Messages are acknowledged late
(after the body ran) and rejected back to the queue when the worker process is lost, and the
body claims its Task row with a conditional UPDATE, so a redelivered message does no double
work. The broker comes from ``STRATOFLOW_BROKER_URL`` (Django setting ``CELERY_BROKER_URL``):
Redis (``redis://127.0.0.1:6379/0``) or RabbitMQ (``amqp://guest:guest@127.0.0.1:5672//``).
No result backend: the database is the source of truth.

Each message carries its task manager's ``timeout`` as Celery's soft time limit, and a hard
time limit a lease time later (:class:`~stratoflow.server.workflow.executors.CeleryExecutor`).
At the soft limit the body is interrupted (``SoftTimeLimitExceeded``): what it did is rolled
back and the task is retried or fails as timed out, naming the timeout and the job. A body
that does not give up (stuck in C code) is killed with its process at the hard limit, and the
process replaced; its task's lease, no longer renewed past the deadline, has run out by then,
and the run's driver re-queues or fails it (``tasks_requeue_expired``). Only the ``prefork``
pool enforces time limits (the default of ``stratoflow worker``); with ``threads`` a task past
its timeout is still failed by its run, but its thread stays taken until the body returns.
"""

from __future__ import annotations

import os
import threading

from celery import Celery, signals
from celery.exceptions import SoftTimeLimitExceeded

from stratoflow.server import setup

__all__ = ["app", "execute_task", "queue_name"]

_app: Celery | None = None
_lock = threading.Lock()


def queue_name() -> str:
    """The queue tasks go to (``STRATOFLOW_QUEUE``, default ``stratoflow``)."""
    return os.environ.get("STRATOFLOW_QUEUE", "stratoflow")


def app() -> Celery:
    """The configured Celery application (Django is set up first)."""
    global _app
    with _lock:
        if _app is None:
            setup()
            from django.conf import settings

            # No Django fixup: it closes every database connection after every task (a new
            # connection per no-op task costs ~8 ms); the task body manages connections.
            celery = Celery("stratoflow", fixups=[])
            celery.conf.update(
                broker_url=settings.CELERY_BROKER_URL,
                broker_connection_retry_on_startup=True,
                task_acks_late=True,
                task_reject_on_worker_lost=True,
                task_ignore_result=True,
                task_default_queue=queue_name(),
                worker_prefetch_multiplier=1,
                worker_hijack_root_logger=False,
                worker_send_task_events=False,
                enable_utc=True,
            )
            celery.task(name="stratoflow.execute_task", acks_late=True)(execute_task)
            signals.worker_init.connect(
                _no_connection_across_fork, weak=False, dispatch_uid="stratoflow-no-fork-db"
            )
            _app = celery
        return _app


def execute_task(task_id: int) -> str:
    """Run one Task row (no-op when it is already claimed or done)."""
    from django.db import close_old_connections

    from stratoflow.server.workflow.services import task_execute

    close_old_connections()
    return task_execute(task_id, time_limits=(SoftTimeLimitExceeded,))


def _no_connection_across_fork(**_: object) -> None:
    """Close the main process's database connections before the prefork pool forks: a child
    must never share its parent's socket (each opens its own), nor close it under the
    parent, and a process replaced after a hard time limit is forked again later."""
    from django.db import connections

    connections.close_all()
