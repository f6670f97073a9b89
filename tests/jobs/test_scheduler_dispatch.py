"""The scheduler loop starts runs beside a long one: a slow job neither delays other jobs'
start times nor makes the scheduler miss or repeat fire times. A real scheduler loop in a
thread, real driver threads, on the real database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.db import connection

from stratoflow.jobs import ManualClock

pytestmark = pytest.mark.django_db(transaction=True)

MakeJob = Callable[..., Any]
Executions = Callable[[Path], dict[str, int]]
T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)


def _scheduled(make_job: MakeJob, name: str, frequency: str, **options: Any) -> Any:
    job = make_job(name, tasks=1, **options)
    job.frequency, job.interval, job.start, job.timezone = frequency, 1, T0, "UTC"
    job.catch_up = "latest"  # a slot seen late is dropped: what a blocked tick used to cause
    job.save()
    return job


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.02)


def test_a_long_run_does_not_hold_up_other_jobs_or_their_fire_times(
    make_job: MakeJob, tmp_path: Path, executions: Executions
) -> None:
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.scheduler import Scheduler

    slow = _scheduled(make_job, "slow", "once", sleep=4.0)
    quick = _scheduled(make_job, "quick", "hourly")
    clock = ManualClock(T0 + timedelta(seconds=5))
    scheduler = Scheduler(clock=clock, holder="loop", tick_seconds=0.02)

    def loop() -> None:
        try:
            scheduler.run(max_seconds=30)
        finally:
            connection.close()

    thread = threading.Thread(target=loop)
    thread.start()
    slow_run = JobRun.objects.filter(job=slow)
    done = JobRun.objects.filter(job=quick, state="succeeded")
    try:
        _wait(lambda: slow_run.filter(state="running").exists(), 10, "the slow run to start")
        _wait(lambda: done.count() == 1, 2, "the quick job's 22:00 run beside the slow one")
        for hour in (1, 2):  # two more fire times of the quick job while the slow run runs
            clock.set(T0 + timedelta(hours=hour, seconds=5))
            _wait(lambda h=hour: done.count() == 1 + h, 2, f"the quick job's slot +{hour} h")
        assert slow_run.get().state == "running"  # all of it happened beside the slow run
        _wait(lambda: slow_run.get().state == "succeeded", 10, "the slow run to finish")
    finally:
        scheduler.stop_event.set()
        thread.join(30)
    assert not thread.is_alive()
    slots = sorted(done.values_list("scheduled_for", flat=True))
    assert slots == [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    # every run's task ran once: no fire time started twice
    assert set(executions(tmp_path / "quick.log").values()) == {1}
    assert len(executions(tmp_path / "quick.log")) == 3
    assert len(executions(tmp_path / "slow.log")) == 1


def test_a_stopped_scheduler_interrupts_its_runs_and_the_next_one_resumes_them(
    make_job: MakeJob, settings: LazySettings
) -> None:
    """SIGTERM (the stop event) used to leave a long run going until the supervisor killed
    the process; its run then waited a lease time as 'running' and its resumption counted
    as the one automatic resumption. Now it is interrupted at once, its tasks given back,
    and the next scheduler resumes it even when it had been resumed before."""
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.scheduler import RESUMED, Scheduler

    settings.STRATOFLOW_LEASE_SECONDS = 60  # nothing may wait for a lease to run out
    job = _scheduled(make_job, "long", "once", sleep=1.0)
    job.managers.update(options={**job.managers.get().options, "tasks": 4}, concurrency=1)
    scheduler = Scheduler(clock=ManualClock(T0 + timedelta(seconds=5)), holder="first")

    def loop() -> None:
        try:
            scheduler.run(max_seconds=60)
        finally:
            connection.close()

    thread = threading.Thread(target=loop)
    thread.start()
    tasks = Task.objects.filter(manager__job=job)
    try:
        _wait(lambda: tasks.filter(state="running").exists(), 10, "the run's first task")
        # as if it had been resumed once already (by this scheduler, after another died)
        run = JobRun.objects.get(job=job)
        JobRun.objects.filter(pk=run.pk).update(summary={RESUMED: {"after": "test"}})
    finally:
        scheduler.stop_event.set()
        thread.join(30)
    assert not thread.is_alive()
    run.refresh_from_db()
    assert run.state == "failed"
    assert run.summary["interrupted"] == "interrupted: the scheduler driving it stopped"
    assert RESUMED not in run.summary
    assert tasks.filter(state="queued").exists() and not tasks.filter(state="running").exists()

    following = Scheduler(clock=ManualClock(T0 + timedelta(seconds=6)), holder="second")
    assert [r.pk for r in following.tick()] == [run.pk]
    following.close()
    run.refresh_from_db()
    assert run.state == "succeeded"
    assert set(tasks.values_list("state", flat=True)) == {"done"}
