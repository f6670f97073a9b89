"""The Celery application of ``stratoflow worker`` (scale-out executor).

One task, ``stratoflow.execute_task(task_id)``, a thin caller of
:func:`~stratoflow.server.workflow.services.task_execute`. Messages are acknowledged late
(after the body ran) and rejected back to the queue when the worker process is lost, and the
body claims its Task row with a conditional UPDATE, so a redelivered message does no double
work. The broker comes from ``STRATOFLOW_BROKER_URL`` (Django setting ``CELERY_BROKER_URL``):
Redis (``redis://127.0.0.1:6379/0``) or RabbitMQ (``amqp://guest:guest@127.0.0.1:5672//``).
No result backend: the database is the source of truth.
"""

from __future__ import annotations

import os
import threading

from celery import Celery

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
            _app = celery
        return _app


def execute_task(task_id: int) -> str:
    """Run one Task row (no-op when it is already claimed or done)."""
    from django.db import close_old_connections

    from stratoflow.server.workflow.services import task_execute

    close_old_connections()
    return task_execute(task_id)
