"""Workflow services: run a job — each task manager collects its tasks, then executes them.

The seed's order of work is kept literally: "the task manager will first collect all tasks
and store them in a queue. After it, the tasks will be executed". Collecting persists one
:class:`Task` per unit with an idempotency key (so a unit already handled is never queued
again); executing moves each task through the state machine of :mod:`stratoflow.jobs.states`.
A failing task records its error and never stops its siblings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from stratoflow.errors import StratoflowError, TaskError
from stratoflow.jobs.states import RunState, TaskState, check_run_transition, check_task_transition
from stratoflow.server.workflow.models import Job, JobRun, Task, TaskManager

if TYPE_CHECKING:
    from stratoflow.server.workflow.managers import ManagerKind

__all__ = [
    "ManagerReport",
    "RunReport",
    "job_run",
    "task_transition",
]

log = logging.getLogger("stratoflow.workflow")


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


def _queue(
    manager: TaskManager, run: JobRun, units: Iterable[tuple[str, str, dict[str, Any]]]
) -> list[Task]:
    """Persist one queued task per new unit (key, subject, details); known keys are skipped."""
    queued = []
    for key, subject, details in units:
        try:
            with transaction.atomic():
                task = Task.objects.create(
                    manager=manager, run=run, key=key[:300], subject=subject[:500], details=details
                )
        except IntegrityError:
            continue  # already queued or done by an earlier run
        queued.append(task)
    return queued


def _execute(tasks: list[Task], work: Callable[[Task], None], workers: int) -> None:
    """Run ``work`` on every task; each in its own thread-local DB connection."""

    def one(task: Task) -> None:
        close_old_connections()
        try:
            work(task)
        finally:
            if workers > 1:
                connection.close()

    if workers <= 1 or connection.vendor == "sqlite":
        # SQLite serialises writers anyway; one thread avoids 'database is locked' storms.
        for task in tasks:
            one(task)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stratoflow-task") as pool:
        list(pool.map(one, tasks))


def _guarded(execute: Callable[[Task], dict[str, Any]]) -> Callable[[Task], None]:
    """Wrap a task body: running -> its result state, or failed with a clear error."""

    def work(task: Task) -> None:
        task_transition(task, TaskState.RUNNING)
        try:
            outcome = execute(task)
        except StratoflowError as exc:
            log.warning("task %s failed: %s", task.subject, exc)
            task_transition(task, TaskState.FAILED, error=str(exc))
            return
        except Exception as exc:  # a bug must fail its own task, never its siblings
            log.exception("task %s crashed", task.subject)
            task_transition(task, TaskState.FAILED, error=f"internal error: {exc!r}")
            return
        new_state = TaskState(outcome.pop("state", TaskState.DONE))
        task.details = {**task.details, **outcome}
        task_transition(task, new_state)

    return work


def _execute_one(impl: ManagerKind, manager: TaskManager, task: Task) -> dict[str, Any]:
    return impl.execute(manager, task)


def job_run(job: Job, *, scheduled_for: datetime | None = None, workers: int = 4) -> RunReport:
    """Run ``job`` once for ``scheduled_for`` (default: now); a slot runs at most once."""
    from stratoflow.server.workflow import managers  # import side needs readers, QC...

    slot = scheduled_for or timezone.now()
    try:
        with transaction.atomic():
            run = JobRun.objects.create(job=job, scheduled_for=slot)
    except IntegrityError:
        raise TaskError(f"job {job.name!r} already has a run for {slot.isoformat()}") from None
    _run_transition(run, RunState.RUNNING)
    report = RunReport(job=job.name, run_id=run.pk, state=run.state)
    failed = False
    for manager in job.managers.order_by("order", "id"):
        impl = managers.get(manager.kind)
        mreport = ManagerReport(manager=manager.name, kind=manager.kind)
        try:
            units = impl.collect(manager)
        except StratoflowError as exc:
            mreport.errors.append(f"collect failed: {exc}")
            report.managers.append(mreport)
            failed = True
            continue
        queued = _queue(manager, run, units)
        mreport.collected = len(queued)
        _execute(queued, _guarded(partial(_execute_one, impl, manager)), workers)
        for task in queued:
            task.refresh_from_db()
            mreport.states[task.state] = mreport.states.get(task.state, 0) + 1
            if task.state == TaskState.FAILED:
                failed = True
                mreport.errors.append(f"{task.subject}: {task.error}")
        mreport.details = impl.summarize(manager, queued)
        report.managers.append(mreport)
    _run_transition(run, RunState.FAILED if failed else RunState.SUCCEEDED)
    run.summary = {"managers": [m.__dict__ for m in report.managers]}
    run.save(update_fields=["summary"])
    report.state = run.state
    return report
