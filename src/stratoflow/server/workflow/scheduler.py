"""The scheduler: exactly one active per database; it creates due occurrences and runs them.

The loop (:meth:`Scheduler.run`) hands each due run to a driver thread (at most ``drivers``
at once, one run per job at a time) and goes on ticking: a long run neither delays the start
of other jobs' runs nor keeps the scheduler from creating occurrences on time (with catch-up
``latest`` or ``skip``, a slot first seen late is dropped). :meth:`Scheduler.tick` alone runs
the due runs in the calling thread, one after the other, and returns them (tests, scripts).
Setting :attr:`Scheduler.stop_event` (SIGTERM) interrupts the runs under way at their next
wait (:func:`~.services.run_interrupt`); they are resumed by the next scheduler, and such an
interruption does not count as the run's one automatic resumption.

Every scheduler process loops: try to take (or renew) the ``scheduler`` lease row; the holder
ticks, the others wait. The holder renews the lease from its heartbeat thread even while a
long run executes; when it dies, the lease expires and a waiting scheduler takes over within
one lease time plus one tick, and resumes the run the dead one was driving (its tasks are
re-queued when their leases expire). Nothing is ever run twice because

- occurrences are rows with a unique (job, scheduled_for) — creating one twice is a no-op;
- a run is taken with a conditional UPDATE (pending, or running with a silent driver);
- a task is claimed with a conditional UPDATE (see :mod:`~stratoflow.server.workflow.services`).

Runs a driver left unfinished are resumed here too, not only by the next manual ``job run``:
those left ``running`` by a dead process (heartbeat older than the lease, or none) and those
failed as interrupted (SIGTERM, Ctrl-C, a failing driver: :func:`~.services.run_interrupt`) of
enabled jobs, whether tasks were left or not: one stopped while a manager was collecting, or
after its last task ended, is collected again and finished. Each is resumed automatically
once (the run records ``summary["resumed_by_scheduler"]``): a run that stops its driver
every time (a file that crashes the process, a broker that is down) is then left failed as
interrupted, naming the ``job run`` that resumes it, instead of being resumed tick after tick.

Which slots are due comes from :func:`stratoflow.jobs.due` (the catch-up policy) with the
job's watermark ``scheduled_until`` and "now" from an injected :class:`~stratoflow.jobs.Clock`;
slots from before a job was last switched on (``enabled_at``) are never caught up.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from stratoflow.errors import ConfigError, StratoflowError, TaskError
from stratoflow.jobs.catchup import DEFAULT_GRACE, due
from stratoflow.jobs.clock import Clock, SystemClock
from stratoflow.jobs.graph import run_order
from stratoflow.jobs.interrupt import Terminated
from stratoflow.jobs.states import RUN_TERMINAL, RunState, check_run_transition
from stratoflow.server.workflow.executors import Executor
from stratoflow.server.workflow.leases import (
    driver_silent,
    heartbeat,
    identity,
    lease_acquire,
    lease_release,
    lease_seconds,
)
from stratoflow.server.workflow.models import Job, JobRun

__all__ = ["Scheduler", "dependencies", "occurrences_create", "runs_due"]

log = logging.getLogger("stratoflow.scheduler")

LEASE_NAME = "scheduler"
#: How often the active scheduler looks for reviews past their deadline.
REMINDER_CHECK = timedelta(minutes=15)
#: The key of ``JobRun.summary`` that marks a run the scheduler resumed (see the docstring).
RESUMED = "resumed_by_scheduler"


def dependencies() -> dict[int, list[int]]:
    """Job id -> ids of the jobs it depends on."""
    edges: dict[int, list[int]] = {}
    for job_id, dep_id in Job.depends_on.through.objects.values_list("from_job_id", "to_job_id"):
        edges.setdefault(job_id, []).append(dep_id)
    return edges


def occurrences_create(
    job: Job, now: datetime, *, grace: timedelta = DEFAULT_GRACE
) -> list[datetime]:
    """Create the job's due occurrences (per its catch-up policy) as pending runs.

    Slots are considered after the watermark ``scheduled_until`` and, for a job switched back
    on, after ``enabled_at``: what it missed while switched off is not caught up (``stratoflow
    backfill`` creates those runs on purpose), what it missed while on and the scheduler was
    down is, per the policy.
    """
    schedule = job.schedule
    if schedule is None or not job.enabled:
        return []
    since = max((t for t in (job.scheduled_until, job.enabled_at) if t is not None), default=None)
    slots = due(
        schedule,
        since,
        now,
        job.catch_up,  # type: ignore[arg-type]  # validated by due()
        job.catch_up_cap,
        grace=grace,
    )
    with transaction.atomic():
        JobRun.objects.bulk_create(
            [JobRun(job=job, scheduled_for=slot) for slot in slots], ignore_conflicts=True
        )
        # never backwards: a scheduler whose clock lags (a standby on another host) would
        # hand the next one slots it already created or dropped on purpose
        Job.objects.filter(pk=job.pk).filter(
            Q(scheduled_until__isnull=True) | Q(scheduled_until__lt=now)
        ).update(scheduled_until=now)
    if job.scheduled_until is None or job.scheduled_until < now:
        job.scheduled_until = now
    return slots


def runs_due(now: datetime) -> list[JobRun]:
    """Runs to execute now: pending ones whose slot came, running ones whose driver died, and
    interrupted ones that the scheduler has not resumed yet.

    Ordered by slot, then with every job after the jobs it depends on; a run waits while a
    dependency has an unfinished run for the same or an earlier slot.
    """
    runs: list[JobRun] = list(
        JobRun.objects.filter(
            # a disabled job starts nothing (its pending runs wait until it is enabled); a run
            # it had started and whose driver died is still finished
            Q(state=RunState.PENDING.value, scheduled_for__lte=now, job__enabled=True)
            | (Q(state=RunState.RUNNING.value) & driver_silent())
            | (
                Q(
                    state=RunState.FAILED.value,
                    summary__has_key="interrupted",
                    job__enabled=True,
                )
                & ~Q(summary__has_key=RESUMED)
            )
        ).select_related("job")
    )
    edges = dependencies()
    rank = {
        job_id: i
        for i, job_id in enumerate(run_order(edges, Job.objects.values_list("pk", flat=True)))
    }
    runs.sort(key=lambda r: (r.scheduled_for, rank.get(r.job_id, 0)))
    return runs


def _blocked(run: JobRun, edges: dict[int, list[int]]) -> bool:
    deps = edges.get(run.job_id, [])
    if not deps:
        return False
    return (
        JobRun.objects.filter(job_id__in=deps, scheduled_for__lte=run.scheduled_for)
        .exclude(state__in=[s.value for s in RUN_TERMINAL])
        .exists()
    )


class Scheduler:
    """One scheduler process; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        executor: Executor | None = None,
        holder: str | None = None,
        tick_seconds: float = 1.0,
        grace: timedelta = DEFAULT_GRACE,
        drivers: int = 4,
    ) -> None:
        if drivers < 1:
            raise ConfigError(f"a scheduler needs at least 1 driver thread, not {drivers}")
        self.clock = clock or SystemClock()
        self.drivers = drivers
        self._pool: ThreadPoolExecutor | None = None
        #: runs handed to driver threads and not yet harvested: run id -> (job id, future)
        self._inflight: dict[int, tuple[int, Future[JobRun | None]]] = {}
        self.holder = holder or identity()
        self.tick_seconds = tick_seconds
        self.grace = grace
        self._executor = executor
        self._own_executor = executor is None
        self._leader = False
        #: held while the heartbeat renews the lease and while a stopping scheduler gives it
        #: up: a beat between the release and clearing ``_leader`` took the lease back
        self._lease_lock = threading.RLock()
        self._renewing = False
        self._reminders_at: datetime | None = None
        self._problems: dict[str, str] = {}
        self.stop_event = threading.Event()

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            from stratoflow.server.workflow.executors import default

            self._executor = default()
        return self._executor

    def close(self) -> None:
        """Wait for the runs in driver threads, then stop the threads and the executor this
        scheduler created (their connections too)."""
        self._drain()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._executor is not None and self._own_executor:
            self._executor.close()
            self._executor = None

    def is_leader(self) -> bool:
        """Take or renew the lease now; True while this process is the active scheduler."""
        self._leader = lease_acquire(LEASE_NAME, self.holder, lease_seconds())
        return self._leader

    def _renew(self) -> None:
        with self._lease_lock:
            if self._leader:
                self.is_leader()

    def _problem(self, key: str, message: str, exc: BaseException | None = None) -> None:
        """Log ``message`` as an error once while it persists (a broken job would otherwise
        repeat its traceback every tick); :meth:`_solved` forgets it."""
        if self._problems.get(key) == message:
            return
        self._problems[key] = message
        log.error("%s", message, exc_info=exc)

    def _solved(self, key: str) -> None:
        if self._problems.pop(key, None) is not None:
            log.info("%s: working again", key)

    def take_over(self, run: JobRun) -> bool:
        """Make ``run`` (interrupted, or running with a dead driver) ours to resume, once.

        Conditional, so a manual ``job run`` resuming it at the same time, or another
        scheduler, gets it at most once between them. The run is marked :data:`RESUMED`; one
        the scheduler had resumed before is not taken: a run left running again is failed as
        interrupted (naming the command that resumes it), one failed again stays failed.
        False when the run is not (or no longer) to be resumed by this scheduler.
        """
        now = timezone.now()
        summary = dict(run.summary) if isinstance(run.summary, dict) else {}
        if run.state == RunState.FAILED:
            if RESUMED in summary or "interrupted" not in summary:
                return False
            check_run_transition(RunState.FAILED, RunState.PENDING)
            summary[RESUMED] = {"after": summary["interrupted"], "at": now.isoformat()}
            won = JobRun.objects.filter(
                pk=run.pk, state=RunState.FAILED.value, summary__has_key="interrupted"
            ).update(state=RunState.PENDING.value, finished_at=None, summary=summary)
        elif run.state == RunState.RUNNING:
            dead = JobRun.objects.filter(
                driver_silent(now), pk=run.pk, state=RunState.RUNNING.value, owner=run.owner
            )
            since = f"since {run.heartbeat_at:%Y-%m-%d %H:%M:%S}Z" if run.heartbeat_at else "at all"
            if RESUMED in summary:
                summary["interrupted"] = (
                    f"its driver {run.owner} stopped (no heartbeat {since}) after the scheduler "
                    f"had resumed the run once already; not resumed again automatically: "
                    f"`stratoflow job run {run.job.name}` resumes it"
                )
                check_run_transition(RunState.RUNNING, RunState.FAILED)
                if dead.update(
                    state=RunState.FAILED.value,
                    finished_at=now,
                    heartbeat_at=None,
                    summary=summary,
                ):
                    log.error("run %s: %s", run, summary["interrupted"])
                return False
            summary[RESUMED] = {
                "after": f"its driver {run.owner} stopped (no heartbeat)",
                "at": now.isoformat(),
            }
            won = dead.update(owner=self.holder, heartbeat_at=now, summary=summary)
        else:
            return run.state == RunState.PENDING
        run.refresh_from_db()
        if won:
            log.warning("run %s: resuming it (%s)", run, summary[RESUMED]["after"])
        return bool(won)

    def tick(self) -> list[JobRun]:
        """Create due occurrences and execute due runs here, in turn; return those executed.

        One job that cannot be scheduled, or one run whose driver fails unexpectedly (an
        unreachable broker, a bug), is logged and skipped: the other jobs go on. Such a run is
        marked failed with the reason (:func:`~.services.run_interrupt`), not left running.
        """
        now = self._schedule()
        executed = []
        self.executor  # noqa: B018  # a bad STRATOFLOW_EXECUTOR fails before a run is taken
        for run in self._startable(now):
            if self._drive(run) is not None:
                executed.append(run)
        self._remind(now)
        return executed

    def _tick_dispatching(self) -> list[JobRun]:
        """:meth:`tick` of the loop: due runs go to driver threads; return those finished."""
        now = self._schedule()
        executed = self._harvest()
        # made here, not by two driver threads at once; and a bad STRATOFLOW_EXECUTOR fails
        # before a run is taken over
        self.executor  # noqa: B018
        for run in self._startable(now):
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.drivers, thread_name_prefix="stratoflow-run")
            future = self._pool.submit(self._drive_in_thread, run)
            self._inflight[run.pk] = (run.job_id, future)
        self._remind(now)
        return executed

    def _schedule(self) -> datetime:
        """Create the due occurrences of every scheduled job; return "now"."""
        now = self.clock.now()
        for job in Job.objects.filter(enabled=True, start__isnull=False):
            key = f"job {job.name}"
            try:
                occurrences_create(job, now, grace=self.grace)
            except StratoflowError as exc:
                self._problem(key, f"job {job.name}: cannot schedule: {exc}")
            except Exception as exc:  # one broken job must not stop the others
                self._problem(key, f"job {job.name}: cannot schedule: {exc!r}", exc)
            else:
                self._solved(key)
        return now

    def _startable(self, now: datetime) -> Iterator[JobRun]:
        """Due runs that may start now, taken over where they are resumed (:meth:`take_over`).

        Not one whose job has a run in a driver thread (a job's runs go in slot order), nor
        more than the free driver threads, nor one waiting for a dependency.
        """
        edges = dependencies()
        for run in runs_due(now):
            if self.stop_event.is_set() or len(self._inflight) >= self.drivers:
                return
            busy = {job_id for job_id, _ in self._inflight.values()}
            if run.pk in self._inflight or run.job_id in busy:
                continue
            if not self.is_leader():
                return
            if _blocked(run, edges) or not self.take_over(run):
                continue
            yield run

    def _drive(self, run: JobRun) -> JobRun | None:
        """Execute ``run``; None when another process had it or its driver failed."""
        from stratoflow.server.workflow.services import run_execute, run_interrupt

        try:
            report = run_execute(
                run, executor=self.executor, owner=self.holder, stop=self.stop_event
            )
        except TaskError as exc:  # another process took it first
            log.info("skipping %s: %s", run, exc)
            return None
        except Terminated:
            # interrupted because this scheduler stops, not for anything the run did: the
            # next scheduler resumes it, whether or not it had been resumed before
            self._forget_resumed(run)
            return None
        except Exception as exc:  # the next run, and the next tick, must still happen
            log.error("run %s: its driver failed: %r", run, exc, exc_info=exc)
            close_old_connections()
            with contextlib.suppress(Exception):  # the database may be what failed
                run_interrupt(run, self.holder, f"the scheduler's driver failed: {exc!r}")
            return None
        log.info("run %s finished: %s", run, report.state)
        return run

    def _forget_resumed(self, run: JobRun) -> None:
        run.refresh_from_db()
        summary = dict(run.summary) if isinstance(run.summary, dict) else {}
        if run.state == RunState.FAILED and summary.pop(RESUMED, None) is not None:
            JobRun.objects.filter(pk=run.pk, state=RunState.FAILED.value).update(summary=summary)

    def _drive_in_thread(self, run: JobRun) -> JobRun | None:
        try:
            return self._drive(run)
        finally:
            connection.close()  # an idle driver thread holds no connection

    def _harvest(self) -> list[JobRun]:
        """Forget the runs whose driver threads finished; return those that were executed."""
        executed = []
        for run_id, (_, future) in list(self._inflight.items()):
            if future.done():
                del self._inflight[run_id]
                run = future.result()
                if run is not None:
                    executed.append(run)
        return executed

    def _drain(self) -> None:
        """Wait for every run in a driver thread (a stopping scheduler lets them finish)."""
        for _, future in list(self._inflight.values()):
            future.result()
        self._harvest()

    def _remind(self, now: datetime) -> None:
        """Every REMINDER_CHECK, remind PIs of reviews past their deadline (by email)."""
        if self._reminders_at is not None and now - self._reminders_at < REMINDER_CHECK:
            return
        self._reminders_at = now
        from stratoflow.server.review.notifications import review_send_reminders

        try:
            sent = review_send_reminders(now)
        except (OSError, smtplib.SMTPException) as exc:  # mail trouble must not stop runs
            log.warning("could not send review reminders: %s", exc)
            return
        if len(sent):
            log.info("sent %d review reminder(s)", len(sent))

    def run(self, *, max_seconds: float | None = None) -> None:
        """Loop until :attr:`stop_event` is set (or ``max_seconds`` of real time passed)."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        if not self._renewing:
            heartbeat().also(self._renew)
            self._renewing = True
        try:
            while not self.stop_event.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    break
                try:
                    if self.is_leader():
                        self._tick_dispatching()
                    self._solved("scheduler tick")
                except StratoflowError as exc:
                    self._problem("scheduler tick", f"scheduler tick failed: {exc}")
                except Exception as exc:  # e.g. the database went away: try again next tick
                    self._problem("scheduler tick", f"scheduler tick failed: {exc!r}", exc)
                    close_old_connections()
                self.stop_event.wait(self.tick_seconds)
        finally:
            self._drain()  # its leadership is renewed meanwhile (by the heartbeat)
            with self._lease_lock:  # no beat may take the lease back once it is given up
                if self._leader:
                    self._leader = False
                    lease_release(LEASE_NAME, self.holder)
            self.close()
