"""Leases: how a process proves it is still alive, and how its work is taken over when not.

These are held under a lease renewed by one heartbeat thread per process:

- a :class:`~stratoflow.server.workflow.models.Task` being executed (``claim`` token and
  ``lease_until``): when the worker dies the lease runs out and the task is re-queued;
- a :class:`~stratoflow.server.workflow.models.JobRun` being driven (``owner`` and
  ``heartbeat_at``): another scheduler resumes a run whose driver went silent;
- the scheduler's leadership (:class:`~stratoflow.server.workflow.models.SchedulerLease`);
- other named leases (same table) held while a piece of work runs, e.g. an export's upload
  (:mod:`stratoflow.exporters.unconfirmed`): the work runs while its lease is alive.

All takeovers are conditional UPDATEs on the database (``... WHERE lease expired``), so two
processes racing for the same thing cannot both win. Leases use real time, never a simulated
scheduler clock: they are about whether a process is alive.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from stratoflow.durations import positive_seconds
from stratoflow.errors import ConfigError
from stratoflow.jobs.states import RunState, TaskState
from stratoflow.server.workflow.models import JobRun, SchedulerLease, Task

__all__ = [
    "Heartbeat",
    "driver_silent",
    "heartbeat",
    "identity",
    "lease_acquire",
    "lease_release",
    "lease_seconds",
]

log = logging.getLogger("stratoflow.workflow.leases")
#: seconds a lease lasts when ``STRATOFLOW_LEASE_SECONDS`` is not set
DEFAULT_LEASE_SECONDS = 60.0


def lease_seconds() -> float:
    """How long a lease lasts without renewal (``STRATOFLOW_LEASE_SECONDS``, default 60).

    ``0``, ``-5`` or ``nan`` would make every lease expire at once (each task taken over while
    it runs), so they are refused (see :func:`seconds_setting`).
    """
    return seconds_setting("STRATOFLOW_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)


def seconds_setting(name: str, default: float) -> float:
    """A duration setting: the Django setting ``name``, else the environment variable, else
    ``default``. A value that is not finite seconds > 0 raises
    :class:`~stratoflow.errors.ConfigError` naming the setting (``abc`` would otherwise be a
    ValueError traceback deep inside a run).
    """
    value = getattr(settings, name, None) or os.environ.get(name, str(default))
    try:
        return positive_seconds(value)
    except ValueError:
        raise ConfigError(
            f"{name} must be a number of seconds > 0 (default {default:g}), not {value!r}"
        ) from None


def driver_silent(now: datetime | None = None) -> Q:
    """Runs whose driver is gone: no heartbeat for a lease time, or none at all.

    A run marked ``running`` with no heartbeat (left by a version before heartbeats, or set
    by hand) has no driver that could ever renew it: compared only with the lease time, NULL
    is older than nothing, and such a run stayed running forever.
    """
    stale = (now or timezone.now()) - timedelta(seconds=lease_seconds())
    return Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)


def identity() -> str:
    """A name for this process that is unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Heartbeat:
    """Renews this process's task claims, run ownerships and extra leases every ``interval``."""

    def __init__(self, interval: float | None = None) -> None:
        self._interval = interval
        self._claims: set[str] = set()
        self._runs: dict[int, str] = {}  # run id -> the owner this process drives it as
        self._stopped: set[int] = set()  # runs whose driver here stopped (see stop_run)
        self._extra: list[Callable[[], None]] = []
        self._leases: dict[str, str] = {}  # lease name -> the holder this process holds it as
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold_task(self, token: str) -> None:
        with self._lock:
            self._claims.add(token)
        self._ensure_started()

    def drop_task(self, token: str) -> None:
        with self._lock:
            self._claims.discard(token)

    def claims(self) -> set[str]:
        """The claim tokens of the tasks this process is executing now."""
        with self._lock:
            return set(self._claims)

    def hold_run(self, run_id: int, owner: str) -> None:
        """Keep the run's heartbeat going while it is running under ``owner``."""
        with self._lock:
            self._runs[run_id] = owner
            self._stopped.discard(run_id)  # driven again (resumed) by this process
        self._ensure_started()

    def stop_run(self, run_id: int) -> set[str]:
        """The run's driver in this process stops: from now on no task of the run starts
        here (:meth:`run_stopped`). Returns the claims held at this moment, those to give
        back: a claim taken after it is let go by its own thread, so that between the two
        none is missed."""
        with self._lock:
            self._stopped.add(run_id)
            return set(self._claims)

    def run_stopped(self, run_id: int) -> bool:
        """Whether the driver of ``run_id`` in this process stopped (see :meth:`stop_run`)."""
        with self._lock:
            return run_id in self._stopped

    def drop_run(self, run_id: int) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def hold_lease(self, name: str, holder: str) -> None:
        """Renew the named lease ``name`` (see :func:`lease_acquire`) as ``holder`` on every
        beat, until :meth:`drop_lease`."""
        with self._lock:
            self._leases[name] = holder
        self._ensure_started()

    def drop_lease(self, name: str) -> None:
        """Stop renewing the named lease ``name`` (its holder gives it up itself)."""
        with self._lock:
            self._leases.pop(name, None)

    def also(self, renew: Callable[[], None]) -> None:
        """Call ``renew`` on every beat too (e.g. the scheduler's leadership lease)."""
        with self._lock:
            self._extra.append(renew)
        self._ensure_started()

    def beat(self) -> None:
        """Renew everything held now."""
        with self._lock:
            claims, runs, extra = list(self._claims), dict(self._runs), list(self._extra)
            held = dict(self._leases)
        now = timezone.now()
        if claims:
            # a task past its deadline is no longer renewed: it is abandoned (see
            # services.tasks_requeue_expired), whatever its thread is still doing
            Task.objects.filter(claim__in=claims, state=TaskState.RUNNING.value).filter(
                Q(deadline_at__isnull=True) | Q(deadline_at__gt=now)
            ).update(lease_until=now + timedelta(seconds=self._lease()))
        # only a run this process still owns: one another scheduler took over (this driver had
        # gone silent) would otherwise look alive while its new driver is dead
        for owner in set(runs.values()):
            ids = [run for run, by in runs.items() if by == owner]
            JobRun.objects.filter(pk__in=ids, owner=owner, state=RunState.RUNNING.value).update(
                heartbeat_at=now
            )
        for name, holder in held.items():
            SchedulerLease.objects.filter(name=name, holder=holder).update(
                expires_at=now + timedelta(seconds=self._lease()), renewed_at=now
            )
        for renew in extra:
            renew()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._loop, name="stratoflow-heartbeat")
            self._thread.daemon = True
            self._thread.start()

    @property
    def interval(self) -> float:
        """Seconds between beats: a third of the lease time unless fixed."""
        return self._interval if self._interval is not None else lease_seconds() / 3

    def _next_wait(self) -> float:
        """:attr:`interval`, or the default one when the lease setting has become invalid:
        the thread outlives the command that started it (it serves the whole process), and
        dying over a setting that command refuses anyway would stop every lease renewal."""
        if self._interval is not None:
            return self._interval
        return self._lease() / 3

    def _lease(self) -> float:
        """The lease time, or the default one while the setting is invalid (see
        :meth:`_next_wait`): a renewal must not fail, with a traceback in the log, because a
        command of this process was just given a bad value it refuses itself."""
        try:
            return lease_seconds()
        except ConfigError as exc:
            log.error("heartbeat: %s; leases of %.0f s", exc, DEFAULT_LEASE_SECONDS)
            return DEFAULT_LEASE_SECONDS

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self._next_wait()):
                try:
                    self.beat()
                except Exception:  # a missed beat is survivable; the next one retries
                    log.exception("heartbeat failed")
                finally:
                    # no idle connection between beats (it would block dropping a database)
                    connection.close()
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()


_heartbeat: Heartbeat | None = None
_heartbeat_lock = threading.Lock()


def heartbeat() -> Heartbeat:
    """The process's heartbeat (renews at a third of the lease time)."""
    global _heartbeat
    with _heartbeat_lock:
        if _heartbeat is None:
            _heartbeat = Heartbeat()
        return _heartbeat


def lease_acquire(name: str, holder: str, seconds: float) -> bool:
    """Take or renew lease ``name`` for ``holder``; False while another live holder has it."""
    now = timezone.now()
    expires = now + timedelta(seconds=seconds)
    taken = (
        SchedulerLease.objects.filter(name=name)
        .filter(Q(holder=holder) | Q(expires_at__lt=now))
        .update(holder=holder, expires_at=expires, renewed_at=now)
    )
    if taken:
        return True
    if SchedulerLease.objects.filter(name=name).exists():
        return False
    try:
        with transaction.atomic():
            SchedulerLease.objects.create(
                name=name, holder=holder, expires_at=expires, renewed_at=now
            )
    except IntegrityError:
        return False  # another process created it first
    return True


def lease_release(name: str, holder: str) -> None:
    """Give lease ``name`` up at once (on a clean shutdown) so a standby takes over quickly."""
    SchedulerLease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now())
