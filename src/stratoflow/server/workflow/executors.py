"""Executors: where task bodies run. Threads in this process (default) or Celery workers.

The driver (:func:`~stratoflow.server.workflow.services.run_execute`) only *submits* task ids;
the executor runs :func:`~stratoflow.server.workflow.services.task_execute` for each, somewhere.
Because the body claims its task in the database, an executor may deliver a task twice
(Celery's ``acks_late`` redelivery, a re-dispatch after a lost message) without double work.

The choice comes from ``STRATOFLOW_EXECUTOR`` (setting or environment): ``inprocess``
(default, the embedded mode) or ``celery`` (scale-out; run ``stratoflow worker`` processes).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.db import close_old_connections, connection

from stratoflow.errors import ConfigError
from stratoflow.jobs.states import TaskState

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

    def drop_pending(self) -> None:
        """Forget what the calling driver submitted and was not started yet (it was stopped:
        those tasks stay queued, or were given back, for the next run)."""

    def close(self) -> None:
        """Release threads/connections; submitted work already finished or was abandoned."""


@dataclass(eq=False)
class _Worker:
    """One task thread of an :class:`InProcessExecutor` and what it is doing."""

    thread: threading.Thread | None = None
    #: (task id, claim token, time.monotonic() it began) while it runs a task body
    busy: tuple[int, str, float] | None = None
    #: its task's claim was lost (timed out) while it ran: another thread took its place
    abandoned: bool = False


class InProcessExecutor:
    """Task threads in this process (``workers`` of them; SQLite too).

    A task past its manager's ``timeout`` is abandoned by its driver: the heartbeat stops
    renewing its lease, and the driver re-queues it or, after ``max_attempts``, fails it
    ("timed out", :func:`~stratoflow.server.workflow.services.tasks_requeue_expired`). A
    Python thread cannot be stopped, so the thread that ran it is left to its task (a
    daemon, whose late result is discarded, and whose import, should it end, is rolled back:
    :func:`~stratoflow.server.workflow.services.task_fence`) and, once :meth:`wait` sees
    that its task's claim is gone, another thread takes its place: the other tasks go on.
    Tasks used to run in the driver's own thread on SQLite, where a hung one held its run,
    and ``job run`` or the scheduler with it, for as long as it hung.

    A stop raised inside a task body (``KeyboardInterrupt``, SIGTERM's
    :class:`~stratoflow.jobs.interrupt.Terminated`) is raised again in the driver that
    submitted the task, at its next :meth:`submit` or :meth:`wait`, and the tasks that driver
    had handed over and that did not start are dropped (they stay queued for the next run).

    Each thread keeps its own database connection for its lifetime (opening one per task
    would cost more than a no-op task) and closes it when the executor closes.
    """

    def __init__(self, workers: int = 4) -> None:
        self.workers = max(workers, 1)
        self._finished = threading.Event()
        #: (task id, submitting thread, submission number); None stops a thread
        self._queue: queue.SimpleQueue[tuple[int, int, int] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._live: list[_Worker] = []
        self._abandoned: list[_Worker] = []
        self._submitted = itertools.count(1)
        #: a stop raised in a task body, for the thread that submitted the task
        self._stops: dict[int, BaseException] = {}
        #: submitting thread -> its submissions up to this number are dropped (stopped)
        self._dropped: dict[int, int] = {}
        self._checked = 0.0
        with self._lock:
            for _ in range(self.workers):
                self._start()

    def _start(self) -> None:
        """Start one more task thread (the caller holds ``_lock``)."""
        worker = _Worker()
        worker.thread = threading.Thread(
            target=self._loop,
            args=(worker,),
            name=f"stratoflow-task-{len(self._live) + len(self._abandoned)}",
            daemon=True,
        )
        self._live.append(worker)
        worker.thread.start()

    def _loop(self, worker: _Worker) -> None:
        from stratoflow.server.workflow.services import task_execute

        try:
            while not worker.abandoned:
                try:
                    item = self._queue.get(timeout=1.0)
                except queue.Empty:
                    connection.close()  # idle: hold no connection between runs
                    continue
                if item is None:
                    break
                task_id, driver, number = item
                if number <= self._dropped.get(driver, 0):
                    continue  # its driver was stopped: the task stays queued for the next run
                token = uuid.uuid4().hex
                worker.busy = (task_id, token, time.monotonic())
                try:
                    task_execute(task_id, token=token)
                except Exception:  # the task's lease brings it back; keep the thread alive
                    log.exception("task %s: executor error", task_id)
                    close_old_connections()
                except BaseException as exc:  # a stop: its driver's to handle (see class)
                    with self._lock:
                        self._stops[driver] = exc
                        self._dropped[driver] = next(self._submitted)
                finally:
                    worker.busy = None
                    self._finished.set()
        finally:
            connection.close()

    def _raise_stop(self) -> None:
        """Raise here a stop raised in a task this thread submitted."""
        with self._lock:
            stop = self._stops.pop(threading.get_ident(), None)
        if stop is not None:
            raise stop

    def _abandon_lost(self, *, replace: bool) -> None:
        """Mark abandoned each thread whose task's claim is gone (past its timeout, its
        driver re-queued or failed it); ``replace``: start another thread in its place.

        Only a thread busy for longer than a lease can be in that case (a task's claim goes
        when its lease ran out), so nothing is asked of the database while none is; and then
        at most once a second while the driver waits.
        """
        from stratoflow.server.workflow.leases import lease_seconds
        from stratoflow.server.workflow.models import Task

        now = time.monotonic()
        lease = lease_seconds()
        with self._lock:
            suspects = [
                (w, w.busy) for w in self._live if w.busy is not None and now - w.busy[2] > lease
            ]
        if not suspects or (replace and now - self._checked < min(1.0, lease / 3)):
            return
        self._checked = now
        held = set(
            Task.objects.filter(
                pk__in=[busy[0] for _, busy in suspects], state=TaskState.RUNNING.value
            ).values_list("pk", "claim")
        )
        with self._lock:
            for worker, busy in suspects:
                if worker.busy is not busy or busy[:2] in held:
                    continue  # done meanwhile, or still its task
                worker.abandoned = True
                self._live.remove(worker)
                self._abandoned.append(worker)
                if replace:
                    self._start()
                log.warning(
                    "task %s: abandoned past its timeout; its thread %s is left to it%s",
                    busy[0],
                    worker.thread.name if worker.thread else "?",
                    " and another takes its place" if replace else "",
                )

    def submit(self, task_ids: Sequence[int]) -> None:
        self._raise_stop()
        driver = threading.get_ident()
        for task_id in task_ids:
            self._queue.put((task_id, driver, next(self._submitted)))

    def drop_pending(self) -> None:
        # Without this the threads, once free, took up what a stopped driver had handed over,
        # even tasks its stop had just given back, and ran them in a process that is ending.
        with self._lock:
            self._dropped[threading.get_ident()] = next(self._submitted)

    def wait(self, timeout: float) -> None:
        self._raise_stop()
        self._abandon_lost(replace=True)
        self._finished.wait(timeout)
        self._finished.clear()
        self._raise_stop()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads; wait at most ``timeout`` seconds for them.

        A thread still busy then runs a task its driver has given up on (past its manager's
        timeout: the task was re-queued or failed, and its late result will be discarded) and
        may never return; waiting for it held ``job run`` and a stopping scheduler forever.
        It is a daemon thread, and is left to finish or to end with the process; one whose
        task was abandoned already is not waited for at all.
        """
        with contextlib.suppress(Exception):  # the database may be what failed: then wait
            self._abandon_lost(replace=False)
        with self._lock:
            live, self._live = self._live, []
        for _ in live:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        busy = []
        for worker in live:
            assert worker.thread is not None
            worker.thread.join(max(deadline - time.monotonic(), 0.0))
            if worker.thread.is_alive():
                busy.append(worker.thread.name)
        if busy:
            log.warning(
                "not waiting for %d task thread(s) still busy after %g s (%s): a task past "
                "its timeout, whose result is discarded",
                len(busy),
                timeout,
                ", ".join(busy),
            )


class CeleryExecutor:
    """Send each task id to the ``stratoflow.execute_task`` Celery task (see server.celery).

    Each message carries its manager's ``timeout`` as Celery's soft time limit, and a hard
    time limit a lease time later (see :mod:`stratoflow.server.celery`): a worker's prefork
    pool stops a hung task, and kills and replaces a process whose task does not stop,
    instead of running it forever.
    """

    def __init__(self, queue: str | None = None, *, app: Celery | None = None) -> None:
        """``app``: another Celery application than stratoflow's (e.g. another broker)."""
        from stratoflow.server import celery

        self._app = app or celery.app()
        self._queue = queue or celery.queue_name()

    def submit(self, task_ids: Sequence[int]) -> None:
        from stratoflow.server.workflow.leases import lease_seconds
        from stratoflow.server.workflow.models import Task

        timeouts = dict(Task.objects.filter(pk__in=task_ids).values_list("pk", "manager__timeout"))
        grace = lease_seconds()
        for task_id in task_ids:
            limits: dict[str, float] = {}
            if timeouts.get(task_id):
                limits = {
                    "soft_time_limit": timeouts[task_id],
                    "time_limit": timeouts[task_id] + grace,
                }
            self._app.send_task(
                "stratoflow.execute_task", args=[task_id], queue=self._queue, **limits
            )

    def drop_pending(self) -> None:
        pass  # sent to the broker already; a worker claims each only while it is queued

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
