"""Workflow services: run a job — each task manager collects its tasks, then executes them.

The seed's order of work is kept literally: "the task manager will first collect all tasks
and store them in a queue. After it, the tasks will be executed". Collecting persists one
:class:`Task` per unit with an idempotency key (so a unit already handled is never queued
again); executing moves each task through the state machine of :mod:`stratoflow.jobs.states`.

Execution is split so that any executor (threads in this process, or Celery workers) behaves
the same:

- the *driver* (:func:`run_execute`, in the scheduler or ``stratoflow job run``) hands ready
  tasks to an executor, at most ``concurrency`` per manager and per data provider, re-queues
  tasks whose worker died (lease expired) and waits until every task has settled;
- the *body* (:func:`task_execute`, in a thread or a worker) claims its task with a
  conditional UPDATE — a redelivered or duplicated message finds the task claimed or done and
  does nothing — and records the outcome only while it still holds the claim, so a task that
  finished is never marked crashed and a re-queued task's late result is discarded; an import
  checks the claim in the transaction that stores it (:func:`task_fence`), so a body its run
  gave up on leaves no data behind either.

Transient failures are retried with exponential backoff and jitter up to the manager's
``max_attempts``; other failures fail the task at once. A failing task never stops siblings.

:func:`job_reprocess` makes a run of another sort: the files a job's import managers imported
that their current configuration would change, queued when the run is made (the run records
which managers it concerns in ``summary["reprocess"]``, so a resumed run does just that).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Min, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from stratoflow.errors import (
    ConfigError,
    StratoflowError,
    TaskError,
    TaskTimedOut,
    TaskWaitTimeout,
)
from stratoflow.jobs.retry import backoff, is_transient
from stratoflow.jobs.states import RunState, TaskState, check_run_transition, check_task_transition
from stratoflow.server.workflow.leases import driver_silent, heartbeat, identity, lease_seconds
from stratoflow.server.workflow.models import Job, JobRun, Task, TaskManager, fit_task_key
from stratoflow.transfer.secrets import redact

if TYPE_CHECKING:
    from stratoflow.server.workflow.executors import Executor
    from stratoflow.server.workflow.reprocess import Blocked, ManagerPlan, Selection

__all__ = [
    "ManagerReport",
    "Progress",
    "ReprocessReport",
    "RunReport",
    "driving_run",
    "job_enabled_at",
    "job_reprocess",
    "job_run",
    "run_execute",
    "run_interrupt",
    "run_retry_failed",
    "task_execute",
    "task_fence",
    "task_transition",
    "tasks_requeue_expired",
]

log = logging.getLogger("stratoflow.workflow")

#: Called while a manager runs: (manager name, {state: count}, seconds since it started).
Progress = Callable[[str, dict[str, int], float], None]

# The claim UPDATE below moves queued/retrying tasks to running without a Python-side check;
# make sure the state machine agrees with it.
check_task_transition(TaskState.QUEUED, TaskState.RUNNING)
check_task_transition(TaskState.RETRYING, TaskState.RUNNING)
check_task_transition(TaskState.RUNNING, TaskState.QUEUED)

#: The run the current thread drives (:func:`run_execute`); what it holds is named by it.
_DRIVING: contextvars.ContextVar[JobRun | None] = contextvars.ContextVar(
    "stratoflow_driving", default=None
)


#: The task the current thread executes (:func:`task_execute`): (id, claim token).
_HELD: contextvars.ContextVar[tuple[int, str] | None] = contextvars.ContextVar(
    "stratoflow_held", default=None
)


def driving_run() -> JobRun | None:
    """The run the calling thread is driving now, if any (for messages naming who waits on
    whom, such as the staging lock's holder)."""
    return _DRIVING.get()


_SERIAL = threading.Lock()
#: when the task holding _SERIAL passes its timeout (time.monotonic), None while free
_serial_deadline: float | None = None
_NO_LOCK = contextlib.nullcontext()

#: Seconds between a driver's looks while its tasks only wait for their retry backoff.
_BACKOFF_POLL = 1.0

_SETTLED = (TaskState.DONE, TaskState.FAILED, TaskState.SKIPPED, TaskState.CANCELLED)
_SETTLED_OR_REVIEW = frozenset(s.value for s in (*_SETTLED, TaskState.AWAITING_REVIEW))


@dataclass
class ManagerReport:
    """What one task manager did in a run."""

    manager: str
    kind: str
    collected: int = 0
    states: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass
class RunReport:
    """What a job run did, manager by manager."""

    job: str
    run_id: int
    state: str
    managers: list[ManagerReport] = field(default_factory=list)
    #: earlier runs of the job whose driver had died, finished first (see :func:`job_run`)
    resumed: list[RunReport] = field(default_factory=list)


def task_transition(task: Task, new: TaskState, **fields: Any) -> Task:
    """Move ``task`` to ``new`` (checked by the state machine) and save it with ``fields``."""
    task.state = check_task_transition(task.state, new).value
    for name, value in fields.items():
        setattr(task, name, value)
    now = timezone.now()
    if new == TaskState.RUNNING:
        task.started_at = now
        task.attempts += 1
    if new in (TaskState.DONE, TaskState.FAILED, TaskState.SKIPPED, TaskState.AWAITING_REVIEW):
        task.finished_at = now
    task.save()
    return task


def _run_transition(run: JobRun, new: RunState) -> None:
    run.state = check_run_transition(run.state, new).value
    if new == RunState.RUNNING:
        run.started_at = timezone.now()
    elif new in (RunState.SUCCEEDED, RunState.FAILED):
        run.finished_at = timezone.now()
    run.save()


# --- the task body -------------------------------------------------------------------------


def _claim(task_id: int, token: str) -> Task | None:
    """Take task ``task_id`` for ``token`` if it is ready; ``None`` when it is not ours to run."""
    now = timezone.now()
    ready = Q(state=TaskState.QUEUED.value) | Q(
        state=TaskState.RETRYING.value, next_attempt_at__lte=now
    )
    found = Task.objects.filter(pk=task_id).values_list("manager__timeout", "manager__kind").first()
    if found is None:
        return None
    timeout, kind = found
    # a kind that takes turns gets its deadline when its turn comes (_serial_turn): the wait
    # for it is not the task's time
    deadline = None if _takes_turns(kind) else now + timedelta(seconds=timeout)
    taken = Task.objects.filter(ready, pk=task_id).update(
        state=TaskState.RUNNING.value,
        claim=token,
        lease_until=now + timedelta(seconds=lease_seconds()),
        deadline_at=deadline,
        started_at=now,
        attempts=F("attempts") + 1,
    )
    if not taken:
        return None
    return Task.objects.select_related("manager__job", "manager__transfer__provider", "run").get(
        pk=task_id
    )


def _settle(task: Task, token: str, new: TaskState, **fields: Any) -> bool:
    """Record the outcome of a claimed task; False when the claim was lost meanwhile."""
    check_task_transition(TaskState.RUNNING, new)
    now = timezone.now()
    values: dict[str, Any] = {"state": new.value, "lease_until": None, **fields}
    if values.get("error"):  # what a plugin or library quoted of what it sent, if anything
        values["error"] = redact(values["error"])
    if new != TaskState.RETRYING:
        values["finished_at"] = now
    won = Task.objects.filter(pk=task.pk, claim=token, state=TaskState.RUNNING.value).update(
        **values
    )
    if not won:
        log.warning("task %s: claim lost (lease expired); its result is discarded", task.pk)
    return bool(won)


def task_execute(
    task_id: int,
    *,
    token: str | None = None,
    rng: random.Random | None = None,
    time_limits: tuple[type[BaseException], ...] = (),
) -> str:
    """Execute one queued task if it is still ready; return what happened.

    Safe to call any number of times for the same task (redelivered messages): only the
    caller that wins the claim does the work. Returns the new state, or ``"not-ready"``.
    ``token``: the claim to take the task with (default: a new one); an executor that names
    it can tell whether the claim was lost while the body still runs (the task timed out and
    its driver re-queued or failed it). ``time_limits``: the exceptions by which the executor
    stops a body at the manager's timeout (Celery's ``SoftTimeLimitExceeded``); the task
    then fails (or is retried) as timed out, with its manager's timeout and job named, instead
    of as an internal error.
    """
    from stratoflow.server.workflow import managers

    token = token or uuid.uuid4().hex
    # Held before the claim is taken: a driver stopped by SIGTERM gives back the tasks whose
    # claims this process holds (run_interrupt). Held only after, a task seen 'running' at
    # that moment was missed, ran on when its thread was let go and ended 'done' in a run
    # already recorded as interrupted.
    beat = heartbeat()
    beat.hold_task(token)
    try:
        task = _claim(task_id, token)
    except BaseException:
        beat.drop_task(token)
        raise
    if task is None:
        beat.drop_task(token)
        return "not-ready"
    if task.run_id is not None and beat.run_stopped(task.run_id):
        # The run's driver in this process stopped (SIGTERM, Ctrl-C) while the claim was
        # being taken: the claims it gave back (run_interrupt) may not include this one, so
        # it is given back here, instead of the task sitting 'running' until its lease ran
        # out while the process went away.
        _release(task, token)
        beat.drop_task(token)
        return "not-ready"
    manager = task.manager
    held = _HELD.set((task.pk, token))
    try:
        try:
            impl = managers.get(manager.kind)
            # netCDF4/HDF5 and friends are not thread-safe: kinds run one at a time per
            # process unless they declare ``thread_safe = True`` (scale out with processes).
            turn = _serial_turn(task, token, manager) if _takes_turns(manager.kind) else _NO_LOCK
            with turn:
                outcome = impl.execute(manager, task)
        except Exception as exc:
            if _stopped_by(exc, time_limits):
                # stopped in the middle of whatever it did, perhaps of a query
                connection_after_interrupt()
                exc = TaskTimedOut(_timed_out(task, "stopped at its time limit"))
            return _failed(task, token, manager, exc, rng)
        except BaseException:  # Ctrl-C, SIGTERM (Terminated): not the task's failure
            connection_after_interrupt()
            _release(task, token)
            raise
        new_state = TaskState(outcome.pop("state", TaskState.DONE))
        _settle(task, token, new_state, details={**task.details, **outcome}, error="")
        return new_state.value
    finally:
        _HELD.reset(held)
        beat.drop_task(token)


def _stopped_by(exc: BaseException, limits: tuple[type[BaseException], ...]) -> bool:
    """True when ``exc`` is one of ``limits``, or was raised while handling one: a reader or
    a transfer that wraps what went wrong in its own error wraps the time limit too."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while limits and current is not None and id(current) not in seen:
        if isinstance(current, limits):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _timed_out(task: Task, what: str) -> str:
    """The message of a task past its manager's timeout: the task, the timeout, the job."""
    manager = task.manager
    return (
        f"{task.subject}: timed out after {manager.timeout} s (the timeout of task manager "
        f"{manager.name!r} of job {manager.job.name!r}): {what}; nothing of it was recorded"
    )


def task_fence(task: Task, *, last: bool = True) -> None:
    """Let what ``task`` did be recorded only if its run has not given up on it.

    Called last inside the transaction that records what a task did (an import calls it
    before it commits). A task past its manager's timeout is given up by its driver
    (re-queued or failed) while its body may still run: a thread cannot be stopped, and a
    Celery worker stops a body stuck in C code only at its hard time limit. Had such a late
    body committed, a task marked failed would have left imported data behind, or a re-queued
    one imported its file twice.

    The fence is a conditional UPDATE in that transaction: it finds the task still held by
    this execution (its claim token, still ``running``) and within its deadline, and takes the
    deadline off, so that the timeout no longer applies to work that is done (the lease still
    does, should the process die before the outcome is recorded). Otherwise it raises
    :class:`~stratoflow.errors.TaskTimedOut` (or :class:`~stratoflow.errors.TaskError` when
    the run gave the task up for another reason), which rolls the transaction back. Under
    PostgreSQL the UPDATE's row lock makes a driver's re-queue of the task wait for the
    transaction, which it then finds renewed; SQLite has one writer at a time anyway. Outside
    a task body (a file imported by a command) it does nothing.

    ``last=False`` fences a step that is not the task's last (an export records its file,
    then uploads it): the deadline stays, so the rest of the task is still timed.
    """
    held = _HELD.get()
    if held is None or held[0] != task.pk:
        return
    now = timezone.now()
    mine = Task.objects.filter(pk=task.pk, claim=held[1], state=TaskState.RUNNING.value)
    renewed: dict[str, Any] = {"lease_until": now + timedelta(seconds=lease_seconds())}
    if last:
        renewed["deadline_at"] = None
    if mine.filter(Q(deadline_at__isnull=True) | Q(deadline_at__gt=now)).update(**renewed):
        return
    # its deadline as claimed, or as its turn set it (a re-queue leaves it)
    deadlines = [
        task.deadline_at,
        Task.objects.filter(pk=task.pk).values_list("deadline_at", flat=True).first(),
    ]
    if any(d is not None and d <= now for d in deadlines):
        raise TaskTimedOut(_timed_out(task, "it finished too late"))
    raise TaskError(
        f"{task.subject}: given up by its run while it ran (its lease ran out, or the run was "
        "stopped or timed it out); nothing of it was recorded"
    )


def _takes_turns(kind: str) -> bool:
    """True for a kind whose tasks run one at a time per process (not ``thread_safe``)."""
    from stratoflow.server.workflow import managers

    try:
        return not getattr(managers.get(kind), "thread_safe", False)
    except ConfigError:
        return False  # an unknown kind fails its task at once, in its turn or not


@contextlib.contextmanager
def _serial_turn(task: Task, token: str, manager: TaskManager) -> Iterator[None]:
    """Wait for this process's one-at-a-time turn, then count the task's timeout from there.

    The claimed task's lease is renewed while it waits (it has no deadline yet), so waiting
    behind the others' turns never times it out. Behind a task that hangs past its own
    timeout (whose thread keeps the turn, since a thread cannot be stopped), the wait ends
    with :class:`~stratoflow.errors.TaskWaitTimeout`, retried like any transient failure.
    """
    global _serial_deadline
    while not _SERIAL.acquire(timeout=0.2):
        holder = _serial_deadline
        if holder is not None and time.monotonic() > holder + lease_seconds():
            raise TaskWaitTimeout(
                f"waited for its turn behind another task of this process (kind "
                f"{manager.kind!r}, one at a time) that is past its timeout: it hangs"
            )
    try:
        now = timezone.now()
        _serial_deadline = time.monotonic() + manager.timeout
        Task.objects.filter(pk=task.pk, claim=token, state=TaskState.RUNNING.value).update(
            started_at=now, deadline_at=now + timedelta(seconds=manager.timeout)
        )
        yield
    finally:
        _serial_deadline = None
        _SERIAL.release()


def connection_after_interrupt() -> None:
    """Make this thread's database connection usable again after a signal cut a query short.

    SIGTERM or Ctrl-C raise in the main thread wherever it is, often in the middle of a query
    (a driver polls the database all the time), and so does a Celery time limit in a task
    body. Django's ``close_if_unusable_or_obsolete`` does not see it: no database error was
    recorded, the query was only cut. On PostgreSQL the connection is then left in
    the middle of that statement: every later query on it, and the first ``atomic()``, fails
    with "connection in transaction status ACTIVE", so the interruption could not be recorded
    and the run stayed ``running`` until its lease ran out. Such a connection is closed; the
    next query opens a fresh one; the server is first asked to stop the statement, which
    may hold row locks until it ends. Inside an ``atomic()`` block the connection is left
    alone (closing it there would break the block's own clean-up), as is a usable one.
    """
    if connection.connection is None or connection.in_atomic_block:
        return
    if not connection.is_usable():
        log.info("closing the database connection a signal left in the middle of a query")
        cancel = getattr(connection.connection, "cancel_safe", None)  # psycopg's
        if cancel is not None:
            with contextlib.suppress(Exception):  # the server may be what went away
                cancel(timeout=2.0)
        connection.close()


def _release(task: Task, token: str) -> None:
    """Give a claimed task back (queued, the attempt not counted): its process is stopping."""
    Task.objects.filter(pk=task.pk, claim=token, state=TaskState.RUNNING.value).update(
        state=TaskState.QUEUED.value,
        claim="",
        lease_until=None,
        dispatched_at=None,
        attempts=Greatest(F("attempts") - 1, 0),
    )


def _failed(
    task: Task, token: str, manager: TaskManager, exc: Exception, rng: random.Random | None
) -> str:
    if is_transient(exc) and task.attempts < manager.max_attempts:
        delay = backoff(task.attempts, base=manager.retry_delay, rng=rng)
        log.info("task %s: transient failure, retry in %.1f s: %s", task.subject, delay, exc)
        _settle(
            task,
            token,
            TaskState.RETRYING,
            error=f"attempt {task.attempts}: {exc}",
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            dispatched_at=None,
        )
        return TaskState.RETRYING.value
    if isinstance(exc, StratoflowError):
        log.warning("task %s failed: %s", task.subject, exc)
        message = str(exc)
    else:  # a bug must fail its own task, never its siblings
        log.error("task %s crashed", task.subject, exc_info=exc)
        message = f"internal error: {exc!r}"
    if is_transient(exc):
        message = f"gave up after {task.attempts} attempt(s): {message}"
    _settle(task, token, TaskState.FAILED, error=message)
    return TaskState.FAILED.value


def tasks_requeue_expired(
    *, run: JobRun | None = None, manager: TaskManager | None = None, undriven: bool = False
) -> int:
    """Re-queue running tasks whose lease expired; return how many were re-queued.

    A lease expires when the worker died or when the task ran past its manager's ``timeout``
    (the heartbeat stops renewing it). Such a task is queued again until it has used its
    manager's ``max_attempts``; then it fails with the reason, so neither a hung task nor a
    file that kills every worker holds a slot forever. Only ``running`` rows with an expired
    lease match, so a finished task is never touched. ``undriven``: only the tasks of runs
    that are not ``running`` (see :func:`run_execute`).
    """
    now = timezone.now()
    query = Task.objects.filter(state=TaskState.RUNNING.value, lease_until__lt=now)
    if undriven:
        query = query.exclude(run__state=RunState.RUNNING.value)
    if run is not None:
        query = query.filter(run=run)
    if manager is not None:
        query = query.filter(manager=manager)
    spent = Q(attempts__gte=F("manager__max_attempts"))
    timed_out = Q(deadline_at__lt=now)
    closed = {"claim": "", "lease_until": None, "dispatched_at": None, "finished_at": now}
    if not query.exists():  # the usual case: one look instead of the UPDATEs below
        return 0
    gave_up = 0
    # one UPDATE per timeout value, named in the message
    for timeout in set(query.filter(spent & timed_out).values_list("manager__timeout", flat=True)):
        gave_up += query.filter(spent & timed_out, manager__timeout=timeout).update(
            state=TaskState.FAILED.value,
            error=f"timed out: still running past its manager's timeout ({timeout} s) on every "
            "attempt",
            **closed,
        )
    gave_up += query.filter(spent, Q(deadline_at__isnull=True) | Q(deadline_at__gte=now)).update(
        state=TaskState.FAILED.value,
        error="abandoned: its worker stopped (crashed or was killed) on every attempt",
        **closed,
    )
    count = query.update(
        state=TaskState.QUEUED.value, claim="", lease_until=None, dispatched_at=None
    )
    if gave_up:
        log.warning("failed %d task(s) that timed out or lost their worker too often", gave_up)
    if count:
        log.warning("re-queued %d task(s) whose lease expired (worker died or timed out)", count)
    return count


# --- the driver ----------------------------------------------------------------------------


def _queue(
    manager: TaskManager,
    run: JobRun,
    units: Iterable[tuple[str, str, dict[str, Any]]],
    *,
    per_run: bool,
) -> int:
    """Persist one queued task per new unit (key, subject, details); known keys are skipped.

    Known to the manager, or for a kind that declares ``transfer_wide`` (its units are its
    transfer handler's files, :mod:`~stratoflow.server.workflow.transfers`) to any manager on
    the same transfer handler: the database refuses the second row, so two managers
    collecting from one source at once queue each file once between them.
    """
    from stratoflow.server.workflow import managers

    prefix = f"{run.scheduled_for:%Y%m%dT%H%M%S.%fZ}/" if per_run else ""
    wide = getattr(managers.get(manager.kind), "transfer_wide", False)
    transfer = manager.transfer if wide else None
    queued = 0
    for key, subject, details in units:
        try:
            with transaction.atomic():
                Task.objects.create(
                    manager=manager,
                    run=run,
                    transfer=transfer,
                    key=fit_task_key(prefix + key),
                    subject=subject[:500],
                    details=details,
                )
        except IntegrityError:
            continue  # already queued or done by an earlier run
        queued += 1
    return queued


def _state_counts(run: JobRun, manager: TaskManager) -> dict[str, int]:
    rows = (
        Task.objects.filter(run=run, manager=manager)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {state: n for state, n in rows}


def _in_flight(query: Any, since: datetime, now: datetime) -> int:
    """Tasks running or handed to an executor recently (and not yet claimed).

    Not a running task whose lease ran out: no live worker holds it (or it is past its
    timeout), and its driver re-queues or fails it. Counted, one left in a run that nobody
    drives any more (its driver died twice, or was stopped) held a slot of its provider's
    ``concurrency`` for good, and the runs of every job on that provider waited for it forever.
    """
    return int(
        query.filter(
            Q(state=TaskState.RUNNING.value)
            & (Q(lease_until__gte=now) | Q(lease_until__isnull=True))
            | Q(
                state__in=[TaskState.QUEUED.value, TaskState.RETRYING.value],
                dispatched_at__gte=since,
            )
        ).count()
    )


def _room(manager: TaskManager, run: JobRun, since: datetime, now: datetime) -> int:
    """How many more tasks may start now under the manager's and the provider's limits."""
    room = manager.concurrency or 1_000_000
    room -= _in_flight(Task.objects.filter(run=run, manager=manager), since, now)
    provider = manager.transfer.provider if manager.transfer_id and manager.transfer else None
    if provider is not None and provider.concurrency:
        busy = _in_flight(Task.objects.filter(manager__transfer__provider=provider), since, now)
        room = min(room, provider.concurrency - busy)
    return max(room, 0)


def _drive(
    run: JobRun,
    manager: TaskManager,
    executor: Executor,
    progress: Progress | None,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Dispatch the run's tasks of ``manager`` until all settled; return the state counts.

    ``stop`` set (the scheduler driving it is stopping) raises :class:`Terminated` here, in
    the driver's thread, as SIGTERM does in ``job run``'s: the run is then interrupted.
    """
    started = time.monotonic()
    mine = Task.objects.filter(run=run, manager=manager)
    pause = 0.01
    while True:
        tasks_requeue_expired(run=run, manager=manager)
        counts = _state_counts(run, manager)
        if progress is not None:
            progress(manager.name, counts, time.monotonic() - started)
        if all(state in _SETTLED_OR_REVIEW for state in counts):
            return counts
        if stop is not None and stop.is_set():
            from stratoflow.jobs.interrupt import Terminated

            raise Terminated("the scheduler driving it stopped")
        now = timezone.now()
        # A message that was handed out but never claimed (lost with a dead worker) is handed
        # out again after a lease time; a duplicate is harmless (the claim is conditional).
        since = now - timedelta(seconds=lease_seconds())
        room = _room(manager, run, since, now)
        ready: list[int] = []
        if room:
            ready = list(
                mine.filter(
                    Q(state=TaskState.QUEUED.value)
                    | Q(state=TaskState.RETRYING.value, next_attempt_at__lte=now),
                    Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=since),
                )
                .order_by("id")
                .values_list("pk", flat=True)[:room]
            )
        if ready:
            Task.objects.filter(pk__in=ready).update(dispatched_at=now)
            executor.submit(ready)
            pause = 0.01
        else:
            wait = getattr(executor, "wait", time.sleep)
            pause = min(pause * 2, 0.05)
            if set(counts) - _SETTLED_OR_REVIEW == {TaskState.RETRYING.value}:
                # only backoffs to sit out (up to an hour): look again when the first ends,
                # at least every second (progress, a stop), not 20 times a second
                soonest = mine.filter(state=TaskState.RETRYING.value).aggregate(
                    at=Min("next_attempt_at")
                )["at"]
                left = (soonest - now).total_seconds() if soonest is not None else 0.0
                wait(min(max(left, pause), _BACKOFF_POLL))
            else:
                wait(pause)


def _take_run(run: JobRun, owner: str) -> bool:
    """Start ``run`` (pending) or resume it (running, but its driver went silent)."""
    now = timezone.now()
    taken = (
        JobRun.objects.filter(pk=run.pk)
        .filter(
            Q(state=RunState.PENDING.value)
            | Q(state=RunState.RUNNING.value, owner=owner)
            | (Q(state=RunState.RUNNING.value) & driver_silent(now))
        )
        .update(
            state=RunState.RUNNING.value,
            owner=owner,
            heartbeat_at=now,
            started_at=Coalesce(F("started_at"), now),
        )
    )
    run.refresh_from_db()
    return bool(taken)


def run_execute(
    run: JobRun,
    *,
    executor: Executor | None = None,
    owner: str | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> RunReport:
    """Execute (or resume) ``run``: every manager in order collects, then executes its tasks.

    ``stop``: when set, the run is interrupted (:func:`run_interrupt`) at the next point its
    driver waits, and :class:`~stratoflow.jobs.interrupt.Terminated` raised.
    """
    from stratoflow.server.workflow import executors, managers, notify

    owner = owner or identity()
    # The executor first: a bad STRATOFLOW_EXECUTOR must fail before the run is taken, not
    # leave it running under this process's name.
    own_executor = executor is None
    executor = executor or executors.default()
    try:
        taken = _take_run(run, owner)
    except BaseException:
        if own_executor:
            executor.close()
        raise
    if not taken:
        if own_executor:
            executor.close()
        raise TaskError(f"run {run} is {run.state} and held by {run.owner or 'nobody'}")
    job = run.job
    beat = heartbeat()
    beat.hold_run(run.pk, owner)
    driving = _DRIVING.set(run)
    report = RunReport(job=job.name, run_id=run.pk, state=run.state)
    failed = False
    # A re-processing run (see job_reprocess) was queued when it was made, for some managers.
    plan = run.summary.get("reprocess") if isinstance(run.summary, dict) else None
    try:
        # Tasks a Celery worker was running when their run's driver stopped, and whose worker
        # then died too, were reaped by no one: the run is failed (interrupted, or its driver
        # died twice) and only a person resumes it. They stayed 'running' until then.
        with contextlib.suppress(Exception):  # housekeeping: never the reason a run fails
            tasks_requeue_expired(undriven=True)
        for manager in job.managers.select_related("transfer__provider").order_by("order", "id"):
            if plan is not None and manager.name not in plan.get("managers", []):
                continue
            mreport = ManagerReport(manager=manager.name, kind=manager.kind)
            try:
                impl = managers.get(manager.kind)
                if plan is None:
                    units = impl.collect(manager)
                    mreport.collected = _queue(
                        manager, run, units, per_run=bool(getattr(impl, "per_run", False))
                    )
                else:
                    mreport.collected = Task.objects.filter(run=run, manager=manager).count()
            except StratoflowError as exc:
                mreport.errors.append(redact(f"collect failed: {exc}"))
                failed = True
                impl = None
            except Exception as exc:  # a bug fails this run cleanly instead of stranding it
                log.error(
                    "job %s, manager %s: collect crashed", job.name, manager.name, exc_info=exc
                )
                mreport.errors.append(redact(f"collect failed: internal error: {exc!r}"))
                failed = True
                impl = None
            mreport.states = _drive(run, manager, executor, progress, stop)
            tasks = list(Task.objects.filter(run=run, manager=manager))
            for task in tasks:
                if task.state == TaskState.FAILED:
                    failed = True
                    # errors usually name their file already; say it once
                    named = task.subject and task.subject in task.error.split(":", 1)[0]
                    mreport.errors.append(task.error if named else f"{task.subject}: {task.error}")
            if impl is not None:
                mreport.details = impl.summarize(manager, tasks)
            report.managers.append(mreport)
    except BaseException as exc:
        if isinstance(exc, Exception):
            raise
        # Ctrl-C or SIGTERM (Terminated): the run is not left "running" until its lease runs
        # out, and its tasks are given back for the next run of the job (see job_run).
        reason = str(exc) or type(exc).__name__
        executor.drop_pending()
        connection_after_interrupt()
        try:
            left = run_interrupt(run, owner, f"interrupted: {reason}", here=True)
        except Exception:  # e.g. the database is what went away: its lease still runs out
            log.exception("run %s: could not record the interruption", run)
        else:
            log.warning("run %s interrupted (%s); %d task(s) queued again", run, reason, left)
        own_executor = False  # do not wait for task threads: the process is stopping
        raise
    finally:
        _DRIVING.reset(driving)
        beat.drop_run(run.pk)
        if own_executor:
            executor.close()
    final = RunState.FAILED if failed else RunState.SUCCEEDED
    check_run_transition(RunState.RUNNING, final)
    summary: dict[str, Any] = {"managers": [m.__dict__ for m in report.managers]}
    if plan is not None:
        summary["reprocess"] = plan
    JobRun.objects.filter(pk=run.pk, state=RunState.RUNNING.value, owner=owner).update(
        state=final.value, finished_at=timezone.now(), summary=summary
    )
    run.refresh_from_db()
    report.state = run.state
    if run.state == RunState.FAILED:
        notify.run_failed(run, report)
    notify.review_awaiting(run)
    return report


def run_interrupt(run: JobRun, owner: str, reason: str, *, here: bool = False) -> int:
    """Mark ``run`` failed because its driver stopped before it finished; record ``reason``.

    For a driver that cannot go on (terminated by a signal, or an unexpected error in the
    scheduler): the run should not look ``running`` until its lease runs out, and its
    unfinished tasks must not be lost. With ``here`` (the driver of this process stops, and
    the process with it) the tasks this process was running (the claims its heartbeat
    holds) are queued again at once, their results discarded if they still arrive, and a
    task whose claim is taken after gives itself back (see :meth:`Heartbeat.stop_run`);
    queued ones stay queued. The run records ``summary["interrupted"]``, so the
    scheduler (once, see :mod:`~stratoflow.server.workflow.scheduler`) or the next
    :func:`job_run` of the job resumes it and imports what it left. Only a run still running
    under ``owner`` is changed. Returns how many tasks were queued again.
    """
    claims = list(heartbeat().stop_run(run.pk)) if here else []
    with transaction.atomic():
        locked = (
            JobRun.objects.select_for_update()
            .filter(pk=run.pk, state=RunState.RUNNING.value, owner=owner)
            .first()
        )
        if locked is None:
            return 0
        requeued = 0
        if claims:
            requeued = Task.objects.filter(
                run=locked, claim__in=claims, state=TaskState.RUNNING.value
            ).update(
                state=TaskState.QUEUED.value,
                claim="",
                lease_until=None,
                dispatched_at=None,
                attempts=Greatest(F("attempts") - 1, 0),
            )
        # handed to this process's executor but not started: they went with it, so the next
        # driver hands them out at once instead of waiting a lease time for them
        Task.objects.filter(
            run=locked, state__in=[TaskState.QUEUED.value, TaskState.RETRYING.value]
        ).update(dispatched_at=None)
        summary = dict(locked.summary) if isinstance(locked.summary, dict) else {}
        summary["interrupted"] = reason = redact(reason)  # often an exception's repr
        locked.summary = summary
        locked.heartbeat_at = None
        _run_transition(locked, RunState.FAILED)
    run.refresh_from_db()
    log.warning("run %s interrupted: %s", run, reason)
    return requeued


def _interrupted_runs(job: Job) -> list[JobRun]:
    """Failed runs of ``job`` that were interrupted (:func:`run_interrupt`).

    With tasks left or not: a run stopped while a manager was collecting, or after its last
    task ended but before it was finished, has none left and still needs its collecting
    (run again: known units are not queued twice) and its end.
    """
    return list(
        JobRun.objects.filter(
            job=job, state=RunState.FAILED.value, summary__has_key="interrupted"
        ).order_by("scheduled_for", "pk")
    )


def job_run(
    job: Job,
    *,
    scheduled_for: datetime | None = None,
    workers: int = 4,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Run ``job`` once for ``scheduled_for`` (default: now); a slot runs at most once.

    Runs of the same job that a dead process left ``running`` (heartbeat older than the lease,
    or none), and runs whose process was stopped (SIGTERM, Ctrl-C: :func:`run_interrupt`),
    are resumed first, in slot order, as the scheduler would: their tasks are keyed to
    them, so a new run would never pick up a file whose import was cut short. Without this a
    user who re-runs a job by hand after a crash would see "0 new tasks" and the file stay
    unimported.
    """
    from stratoflow.server.workflow import executors

    abandoned = list(
        JobRun.objects.filter(driver_silent(), job=job, state=RunState.RUNNING.value).order_by(
            "scheduled_for", "pk"
        )
    )
    check_run_transition(RunState.FAILED, RunState.PENDING)
    for old in _interrupted_runs(job):
        # conditional: another process resuming it at the same time gets nothing; a person
        # resumes it, so the scheduler may resume it once again should it be cut short again
        if JobRun.objects.filter(pk=old.pk, state=RunState.FAILED.value).update(
            state=RunState.PENDING.value, finished_at=None, summary=_without_resumed(old)
        ):
            abandoned.append(old)
    abandoned.sort(key=lambda r: (r.scheduled_for, r.pk))
    slot = scheduled_for or timezone.now()
    # The executor before the run: a bad STRATOFLOW_EXECUTOR must not leave a pending run
    # behind (the scheduler would pick it up later, as if someone had asked for it).
    own = executor is None
    executor = executor or executors.default(workers=workers)
    try:
        with transaction.atomic():
            run = JobRun.objects.create(job=job, scheduled_for=slot)
    except IntegrityError:
        if own:
            executor.close()
        raise TaskError(f"job {job.name!r} already has a run for {slot.isoformat()}") from None
    except BaseException:
        if own:
            executor.close()
        raise
    try:
        resumed = []
        try:
            for old in abandoned:
                try:
                    resumed.append(run_execute(old, executor=executor, progress=progress))
                except TaskError:  # another driver took it over meanwhile: in good hands
                    continue
        except BaseException:
            # stopped (SIGTERM, Ctrl-C) or failed before the run asked for began: it must not
            # stay pending for the scheduler to start later, as if it had been asked for again
            with contextlib.suppress(Exception):  # the database may be what failed
                JobRun.objects.filter(pk=run.pk, state=RunState.PENDING.value).delete()
            raise
        report = run_execute(run, executor=executor, progress=progress)
        report.resumed = resumed
        return report
    finally:
        if own:
            executor.close()


def job_enabled_at(job: Job, enabled: bool, *, now: datetime | None = None) -> datetime | None:
    """The ``enabled_at`` to save ``job`` with when it is saved with ``enabled``.

    ``now`` (default: the current time) when that switches a stored, disabled job on: the
    scheduler then catches up no slot from before, so a job switched off while its provider
    was down for maintenance resumes with its next slot instead of firing every slot it
    missed (``stratoflow backfill`` runs them on purpose). Otherwise the job's current value:
    a new job catches up from its start, an enabled job keeps its record. The admin and
    ``job load`` both ask this before they save a job.

    Example::

        job.enabled_at = job_enabled_at(job, True)
        job.enabled = True
        job.save()
    """
    if not enabled or job.pk is None:
        return job.enabled_at
    stored = Job.objects.filter(pk=job.pk).values_list("enabled", flat=True).first()
    if stored is False:
        return now or timezone.now()
    return job.enabled_at


def run_retry_failed(run: JobRun) -> int:
    """Queue the failed tasks of ``run`` again and hand the run back to the scheduler.

    Returns how many tasks were re-queued. The run goes back to ``pending``; the scheduler
    (or ``stratoflow job retry``) executes it again, which also re-collects.
    """
    with transaction.atomic():
        locked = JobRun.objects.select_for_update().get(pk=run.pk)
        if locked.state != RunState.FAILED:
            raise ConfigError(f"run {locked} is {locked.state}: only failed runs can be retried")
        count = Task.objects.filter(run=locked, state=TaskState.FAILED.value).update(
            state=check_task_transition(TaskState.FAILED, TaskState.QUEUED).value,
            claim="",
            dispatched_at=None,
            next_attempt_at=None,
            attempts=0,
        )
        locked.summary = _without_resumed(locked)  # asked for again: see job_run
        _run_transition(locked, RunState.PENDING)
    run.refresh_from_db()
    return count


def _without_resumed(run: JobRun) -> dict[str, Any]:
    """``run.summary`` without the scheduler's mark that it resumed the run once."""
    from stratoflow.server.workflow.scheduler import RESUMED

    summary = run.summary if isinstance(run.summary, dict) else {}
    return {key: value for key, value in summary.items() if key != RESUMED}


@dataclass
class ReprocessReport:
    """What :func:`job_reprocess` found, and the run that re-processed it (none if dry)."""

    job: str
    plans: list[ManagerPlan] = field(default_factory=list)
    run: RunReport | None = None

    @property
    def blocked(self) -> list[Blocked]:
        """Files that should be re-processed but cannot be, with the reason."""
        return [b for plan in self.plans for b in plan.blocked]


def job_reprocess(
    job: Job,
    *,
    manager: str | None = None,
    selection: Selection | None = None,
    dry_run: bool = False,
    execute: bool = True,
    workers: int = 4,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> ReprocessReport:
    """Re-process the files ``job`` imported whose configuration changed since, as a new run.

    For each import manager of the job (or only ``manager``), the files it imported whose
    current series were made under another configuration than the manager's options give now
    (see :mod:`stratoflow.server.workflow.reprocess`), within ``selection``. ``dry_run`` only
    plans. Otherwise the files become the tasks of a new run, queued in the same transaction
    that makes the run, and the run is executed as ``job run`` executes one (``execute=False``
    leaves it pending for the scheduler, as the admin action does): each file makes a
    new version of its series (the old one kept), QC runs with the PI's manual flags replayed,
    and the flight awaits review again; a file going back to a configuration it was made
    with before restores that earlier version instead (nothing copied, never pre-approved).
    Files that cannot be re-processed are in the report and in the run's summary. Repeating
    the call queues nothing: the task keys name the file and the new configuration.

    Example::

        report = job_reprocess(job, selection=Selection(flights=("F123",)), dry_run=True)
        for plan in report.plans:
            print(plan.manager, [i.identity for i in plan.items], plan.blocked)
    """
    from stratoflow.server.workflow import executors
    from stratoflow.server.workflow import managers as kinds
    from stratoflow.server.workflow.reprocess import Selection

    selection = selection or Selection()
    rows = list(job.managers.select_related("transfer__provider").order_by("order", "id"))
    if manager is not None:
        rows = [m for m in rows if m.name == manager]
        if not rows:
            names = ", ".join(m.name for m in job.managers.order_by("order", "id")) or "none"
            raise ConfigError(f"job {job.name!r} has no task manager {manager!r} (it has: {names})")
        kind = rows[0].kind
        if not hasattr(kinds.get(kind), "reprocess"):
            raise ConfigError(
                f"task manager {rows[0]} is of kind {kind!r}, which cannot re-process files "
                "(import managers can)"
            )
    else:
        rows = [m for m in rows if hasattr(kinds.get(m.kind), "reprocess")]
        if not rows:
            raise ConfigError(f"job {job.name!r} has no task manager that can re-process files")
    plans = [(row, kinds.get(row.kind).reprocess(row, selection)) for row in rows]  # type: ignore[attr-defined]
    report = ReprocessReport(job=job.name, plans=[plan for _, plan in plans])
    if dry_run or not any(plan.items for plan in report.plans):
        return report
    own = executor is None
    if execute and executor is None:
        # made before the run: a bad STRATOFLOW_EXECUTOR must leave no run behind
        executor = executors.default(workers=workers)
    try:
        return _reprocess_execute(job, plans, report, selection, execute, executor, progress)
    finally:
        if own and executor is not None:
            executor.close()


def _reprocess_execute(
    job: Job,
    plans: list[tuple[TaskManager, ManagerPlan]],
    report: ReprocessReport,
    selection: Selection,
    execute: bool,
    executor: Executor | None,
    progress: Progress | None,
) -> ReprocessReport:
    """The run of :func:`job_reprocess`, its tasks queued as it is made; executed if asked."""
    # Executed here, the run is made running and ours, so that no scheduler takes it first.
    owner = identity() if execute else ""
    state = RunState.RUNNING if execute else RunState.PENDING
    now = timezone.now()
    check_run_transition(RunState.PENDING, RunState.RUNNING)
    record = {
        "managers": [row.name for row, plan in plans if plan.items],
        "selection": selection.as_dict(),
        "blocked": [b.__dict__ for b in report.blocked][:200],
    }
    try:
        with transaction.atomic():
            run = JobRun.objects.create(
                job=job,
                scheduled_for=now,
                state=state.value,
                owner=owner,
                heartbeat_at=now if execute else None,
                started_at=now if execute else None,
                summary={"reprocess": record},
            )
            for row, plan in plans:
                _queue(row, run, (item.unit() for item in plan.items), per_run=False)
    except IntegrityError:
        raise TaskError(f"job {job.name!r} already has a run for {now.isoformat()}") from None
    if not execute:
        report.run = RunReport(job=job.name, run_id=run.pk, state=run.state)
        return report
    report.run = run_execute(run, executor=executor, owner=owner, progress=progress)
    return report
