"""Executing runs on a real database: claims, retries, leases, limits, notifications."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.core import mail
from django.db import OperationalError, connection
from django.utils import timezone

from stratoflow.errors import ConfigError, TaskError

MakeJob = Callable[..., Any]
Executions = Callable[[Path], dict[str, int]]

pytestmark = pytest.mark.django_db(transaction=True)


def _states(job: object) -> dict[str, str]:
    from stratoflow.server.workflow.models import Task

    return dict(Task.objects.filter(manager__job=job).values_list("subject", "state"))


def test_run_executes_every_task_once_and_a_slot_only_once(
    make_job: MakeJob, tmp_path: Path, executions: Executions
) -> None:
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.services import job_run

    job = make_job(tasks=5)
    slot = timezone.now().replace(microsecond=0)
    report = job_run(job, scheduled_for=slot)
    assert report.state == "succeeded"
    assert report.managers[0].collected == 5 and report.managers[0].states == {"done": 5}
    assert set(executions(tmp_path / "noop-job.log").values()) == {1}
    with pytest.raises(TaskError, match="already has a run"):
        job_run(job, scheduled_for=slot)
    # noop tasks are per run: another slot gets its own five tasks
    job_run(job, scheduled_for=slot + timedelta(hours=1))
    assert Task.objects.filter(state="done").count() == 10
    assert JobRun.objects.filter(job=job).count() == 2


def test_transient_failures_are_retried_permanent_ones_are_not(
    make_job: MakeJob, tmp_path: Path, executions: Executions
) -> None:
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    # task 1: two transient failures then success; task 2: permanent; task 3: always transient
    job = make_job(tasks=4, max_attempts=3, fail=[2], transient={"1": 2, "3": 99})
    report = job_run(job)
    assert report.state == "failed"
    tasks = {t.details["number"]: t for t in Task.objects.filter(manager__job=job)}
    assert (tasks[0].state, tasks[0].attempts) == ("done", 1)
    assert (tasks[1].state, tasks[1].attempts) == ("done", 3)
    assert (tasks[2].state, tasks[2].attempts) == ("failed", 1)  # not retried
    assert "fails permanently" in tasks[2].error
    assert (tasks[3].state, tasks[3].attempts) == ("failed", 3)
    assert tasks[3].error.startswith("gave up after 3 attempt(s)")
    counts = executions(tmp_path / "noop-job.log")
    assert sorted(counts.values()) == [1, 1, 3, 3]


def test_retrying_waits_for_the_backoff(make_job: MakeJob) -> None:
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import task_execute

    job = make_job(tasks=1, retry_delay=3600.0, transient={"0": 1})
    from stratoflow.server.workflow.models import JobRun

    run = JobRun.objects.create(job=job, scheduled_for=timezone.now(), state="running")
    task = Task.objects.create(manager=job.managers.get(), run=run, key="k", details={"number": 0})
    assert task_execute(task.pk) == "retrying"
    task.refresh_from_db()
    assert task.next_attempt_at is not None
    delay = (task.next_attempt_at - timezone.now()).total_seconds()
    assert 1700 < delay <= 3600  # first retry: within [base/2, base]
    assert task_execute(task.pk) == "not-ready"  # not due yet: nobody may run it
    Task.objects.filter(pk=task.pk).update(next_attempt_at=timezone.now())
    assert task_execute(task.pk) == "done"


def test_redelivered_task_does_no_double_work_and_finished_is_never_requeued(
    make_job: MakeJob, tmp_path: Path, executions: Executions
) -> None:
    from stratoflow.jobs.states import TaskState
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.services import (
        _claim,
        _settle,
        task_execute,
        tasks_requeue_expired,
    )

    job = make_job(tasks=2)
    run = JobRun.objects.create(job=job, scheduled_for=timezone.now(), state="running")
    manager = job.managers.get()
    done = Task.objects.create(manager=manager, run=run, key="a", details={"number": 0})
    lost = Task.objects.create(manager=manager, run=run, key="b", details={"number": 1})

    assert task_execute(done.pk) == "done"
    assert task_execute(done.pk) == "not-ready"  # redelivered message: nothing happens
    assert executions(tmp_path / "noop-job.log") == {"a": 1}

    # A worker claims 'b' and dies: its lease expires, the task is queued again...
    claimed = _claim(lost.pk, "dead-worker")
    assert claimed is not None and _claim(lost.pk, "other") is None  # claim is exclusive
    Task.objects.filter(pk__in=[lost.pk, done.pk]).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert tasks_requeue_expired() == 1
    done.refresh_from_db()
    assert done.state == "done"  # a finished task is never touched
    # ... and the dead worker's late result is discarded, the new attempt wins.
    assert _settle(claimed, "dead-worker", TaskState.DONE) is False
    assert task_execute(lost.pk) == "done"
    lost.refresh_from_db()
    assert (lost.state, lost.attempts) == ("done", 2)


class _ThreadExecutor:
    """A real executor: one background thread; records in-flight counts at each submit."""

    def __init__(self, manager_id: int, provider_id: int | None) -> None:
        self.manager_id, self.provider_id = manager_id, provider_id
        self.seen: list[tuple[int, int]] = []
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop)
        self._thread.start()

    def _loop(self) -> None:
        from stratoflow.server.workflow.services import task_execute

        try:
            while (task_id := self._queue.get()) is not None:
                for _ in range(100):
                    try:
                        task_execute(task_id)
                        break
                    except OperationalError:  # SQLite's shared-cache test DB: table locked
                        time.sleep(0.01)  # a half-done attempt is re-queued by its lease
        finally:
            connection.close()

    def submit(self, task_ids: Sequence[int]) -> None:
        from django.db.models import Q

        from stratoflow.server.workflow.models import Task

        busy = Task.objects.filter(
            Q(state="running") | Q(state__in=["queued", "retrying"], dispatched_at__isnull=False)
        )
        self.seen.append(
            (
                busy.filter(manager_id=self.manager_id).count(),
                busy.filter(manager__transfer__provider_id=self.provider_id).count(),
            )
        )
        for task_id in task_ids:
            self._queue.put(task_id)

    def drop_pending(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


@pytest.mark.parametrize(("manager_limit", "provider_limit"), [(2, 0), (8, 3)])
def test_concurrency_limits_per_manager_and_provider(
    make_job: MakeJob, manager_limit: int, provider_limit: int, settings: LazySettings
) -> None:
    from stratoflow.server.workflow.services import job_run

    settings.STRATOFLOW_LEASE_SECONDS = 3

    job = make_job(
        tasks=12, concurrency=manager_limit, provider_concurrency=provider_limit, sleep=0.01
    )
    manager = job.managers.get()
    executor = _ThreadExecutor(manager.pk, manager.transfer.provider_id)
    try:
        report = job_run(job, executor=executor)
    finally:
        executor.close()
    assert report.state == "succeeded"
    limit = min(manager_limit, provider_limit or manager_limit)
    assert max(m for m, _ in executor.seen) == limit  # reached, never exceeded
    assert max(p for _, p in executor.seen) <= limit


def test_failed_run_mails_the_responsible_user_and_retry_requeues(
    make_job: MakeJob, django_user_model: type
) -> None:
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run, run_execute, run_retry_failed

    pi = django_user_model.objects.create(username="pi", email="pi@example.org")
    job = make_job(tasks=3, fail=[1])
    job.responsible = pi
    job.save()
    report = job_run(job)
    assert report.state == "failed"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["pi@example.org"] and "noop-job" in message.subject
    assert "noop #1: noop task #1 fails permanently" in message.body
    assert f"/runs/{report.run_id}/" in message.body

    from stratoflow.server.workflow.models import JobRun

    run = JobRun.objects.get(pk=report.run_id)
    manager = job.managers.get()
    manager.options = {**manager.options, "fail": []}  # the cause was fixed
    manager.save()
    assert run_retry_failed(run) == 1
    assert run.state == "pending"
    with pytest.raises(ConfigError, match="only failed runs"):
        run_retry_failed(run)
    assert run_execute(run).state == "succeeded"
    assert set(_states(job).values()) == {"done"}
    assert Task.objects.get(subject="noop #1").attempts == 1
    assert len(mail.outbox) == 1  # no mail for a successful run


def test_a_run_held_by_a_live_driver_is_not_taken(make_job: MakeJob) -> None:
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.services import run_execute

    job = make_job(tasks=1)
    run = JobRun.objects.create(
        job=job,
        scheduled_for=timezone.now(),
        state="running",
        owner="another-process",
        heartbeat_at=timezone.now(),
    )
    with pytest.raises(TaskError, match="held by another-process"):
        run_execute(run)
    JobRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert run_execute(run).state == "succeeded"  # its driver went silent: resumed


@pytest.mark.parametrize("how", ["cli", "retry", "api"])
def test_a_bad_executor_name_leaves_no_run_behind(
    how: str, make_job: MakeJob, settings: LazySettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """`job run` with a mistyped STRATOFLOW_EXECUTOR used to leave a pending run (which the
    scheduler would later execute) and a retried run stuck in running under this process."""
    from stratoflow.cli import main
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.services import job_run, run_execute, run_retry_failed

    job = make_job(tasks=2, fail=[1])
    if how == "cli":
        settings.STRATOFLOW_EXECUTOR = "thredas"
        assert main(["job", "run", job.name]) == 1
        err = capsys.readouterr().err
        assert "unknown STRATOFLOW_EXECUTOR 'thredas'" in err and "Traceback" not in err
        assert not JobRun.objects.exists()
    elif how == "retry":
        run = JobRun.objects.get(pk=job_run(job).run_id)
        assert run.state == "failed"
        run_retry_failed(run)
        settings.STRATOFLOW_EXECUTOR = "thredas"
        with pytest.raises(ConfigError, match="thredas"):
            run_execute(run)
        run.refresh_from_db()
        assert run.state == "pending"  # not taken: the scheduler or a retry can run it
    else:
        settings.STRATOFLOW_EXECUTOR = "thredas"
        with pytest.raises(ConfigError, match="thredas"):
            job_run(job)
        assert not JobRun.objects.exists()


def test_a_driver_sitting_out_a_backoff_does_not_poll_the_database_all_the_time(
    make_job: MakeJob,
) -> None:
    """While its only unfinished task waited seconds (up to an hour) for its retry, the
    driver looked at the database about 20 times a second (an UPDATE and three queries each
    time: on SQLite each UPDATE takes the write lock every other writer needs)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    job = make_job(tasks=1, retry_delay=3.0, transient={"0": 1})  # waits 1.5 to 3 s
    with CaptureQueriesContext(connection) as queries:
        started = time.monotonic()
        report = job_run(job, workers=1)
        waited = time.monotonic() - started
    assert report.state == "succeeded"
    task = Task.objects.get(manager__job=job)
    assert (task.state, task.attempts) == ("done", 2)
    assert waited >= 1.5
    # one look a second while waiting (a handful of queries each), not twenty
    assert len(queries) < 60 + 15 * waited, len(queries)


def test_a_stopped_driver_leaves_what_it_handed_over_and_not_started_queued(
    make_job: MakeJob, tmp_path: Path
) -> None:
    """A driver stopped (SIGTERM) while its one thread ran a task: the thread, once free,
    took up the next task the driver had handed over and ran it in a process that was
    ending (in the SIGTERM test, even tasks the stop had just given back); such a task
    stays queued for the next run instead."""
    from stratoflow.server.workflow.executors import InProcessExecutor
    from stratoflow.server.workflow.models import JobRun, Task

    release = tmp_path / "release"
    job = make_job(tasks=2, sleep=60.0, release=str(release))
    run = JobRun.objects.create(job=job, scheduled_for=timezone.now(), state="running")
    first, second = (
        Task.objects.create(manager=job.managers.get(), run=run, key=k, details={"number": i})
        for i, k in enumerate("ab")
    )
    executor = InProcessExecutor(workers=1)
    try:
        executor.submit([first.pk, second.pk])
        deadline = time.monotonic() + 30
        while Task.objects.get(pk=first.pk).state != "running":
            assert time.monotonic() < deadline, "the first task never started"
            time.sleep(0.02)
        executor.drop_pending()  # what job_run does when its driver is stopped
        release.touch()
        while Task.objects.get(pk=first.pk).state == "running":
            assert time.monotonic() < deadline, "the first task never ended"
            time.sleep(0.02)
        time.sleep(0.3)  # time enough for the thread to take up the second, if it would
        assert Task.objects.get(pk=second.pk).state == "queued"
    finally:
        executor.close()
