"""The scheduler resumes runs a stopped or dead driver left, once, on the real database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import LazySettings
from django.utils import timezone

from ._kinds import StopsCollectingOnce, StopsOnce

MakeJob = Callable[..., Any]

pytestmark = pytest.mark.django_db(transaction=True)


def _abandoned(job: Any, slot: Any) -> Any:
    """A run left ``running`` five minutes ago by a driver that died (no heartbeat since)."""
    from stratoflow.server.workflow.models import JobRun

    long_ago = timezone.now() - timedelta(minutes=5)
    return JobRun.objects.create(
        job=job,
        scheduled_for=slot,
        state="running",
        owner="dead-host:1:x",
        heartbeat_at=long_ago,
        started_at=long_ago,
    )


@pytest.fixture
def stops_once() -> Any:
    from stratoflow.server.workflow import managers

    kind = StopsOnce()
    managers.register("stops-once", kind)
    yield kind
    managers._KINDS.pop("stops-once", None)


@pytest.fixture
def stops_collecting() -> Any:
    from stratoflow.server.workflow import managers

    managers.register("stops-collecting", StopsCollectingOnce())
    yield
    managers._KINDS.pop("stops-collecting", None)


def test_the_scheduler_resumes_a_run_interrupted_before_it_had_any_task(
    stops_collecting: None,
) -> None:
    """Stopped while its manager was still collecting, a run had no task left: it was never
    resumed (the scheduler and ``job run`` looked only for runs with tasks left), so it stayed
    failed as interrupted and what it should have collected was never done."""
    from stratoflow.jobs import ManualClock
    from stratoflow.jobs.interrupt import Terminated
    from stratoflow.server.workflow.models import Job, JobRun, Task, TaskManager
    from stratoflow.server.workflow.scheduler import Scheduler
    from stratoflow.server.workflow.services import job_run

    job = Job.objects.create(name="listing")
    TaskManager.objects.create(job=job, name="list", kind="stops-collecting")
    with pytest.raises(Terminated):
        job_run(job, workers=1)
    run = JobRun.objects.get(job=job)
    assert run.state == "failed" and "interrupted" in run.summary
    assert not Task.objects.filter(run=run).exists()
    scheduler = Scheduler(clock=ManualClock(timezone.now()), holder="sched")
    assert [r.pk for r in scheduler.tick()] == [run.pk]
    scheduler.close()
    run.refresh_from_db()
    assert run.state == "succeeded" and "interrupted" not in run.summary
    assert list(Task.objects.filter(run=run).values_list("subject", "state")) == [
        ("listed unit", "done")
    ]


def test_job_run_finishes_an_interrupted_run_whose_tasks_had_all_ended(
    stops_collecting: None, make_job: MakeJob
) -> None:
    """Stopped after its first manager's tasks had all ended, while the second one was
    collecting: nothing was left queued, so ``job run`` (which the run's message names to
    resume it) passed it by, and the run stayed failed as interrupted."""
    from stratoflow.jobs.interrupt import Terminated
    from stratoflow.server.workflow.models import JobRun, Task, TaskManager
    from stratoflow.server.workflow.services import job_run

    job = make_job("two-steps", tasks=2)
    TaskManager.objects.create(job=job, name="list", kind="stops-collecting", order=1)
    with pytest.raises(Terminated):
        job_run(job, workers=1)
    run = JobRun.objects.get(job=job)
    assert run.state == "failed" and "interrupted" in run.summary
    assert set(Task.objects.filter(run=run).values_list("state", flat=True)) == {"done"}
    report = job_run(job, workers=1)
    assert [(r.run_id, r.state) for r in report.resumed] == [(run.pk, "succeeded")]
    run.refresh_from_db()
    assert run.state == "succeeded" and "interrupted" not in run.summary
    tasks = Task.objects.filter(run=run)
    assert sorted(tasks.values_list("manager__name", flat=True)) == ["list", "work", "work"]
    assert set(tasks.values_list("state", flat=True)) == {"done"}


def test_a_run_left_running_without_a_heartbeat_is_resumed(make_job: MakeJob) -> None:
    """A run marked running with no heartbeat at all (one left by a version before
    heartbeats, or set by hand) never looked dead: its driver's heartbeat was compared with
    the lease time, and NULL is not older than anything, so it stayed running forever."""
    from stratoflow.jobs import ManualClock
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.scheduler import Scheduler
    from stratoflow.server.workflow.services import job_run

    job = make_job("silent", tasks=1)
    long_ago = timezone.now() - timedelta(minutes=5)
    run = JobRun.objects.create(
        job=job, scheduled_for=long_ago, state="running", owner="old-version", started_at=long_ago
    )
    scheduler = Scheduler(clock=ManualClock(timezone.now()), holder="sched")
    assert [r.pk for r in scheduler.tick()] == [run.pk]
    scheduler.close()
    run.refresh_from_db()
    assert run.state == "succeeded"

    other = JobRun.objects.create(
        job=job, scheduled_for=long_ago - timedelta(hours=1), state="running", owner="old"
    )
    report = job_run(job, workers=1)
    assert [(r.run_id, r.state) for r in report.resumed] == [(other.pk, "succeeded")]


def test_the_scheduler_resumes_a_run_interrupted_by_sigterm(stops_once: Any) -> None:
    """``job run`` stopped by SIGTERM marks its run failed as interrupted; only the next manual
    ``job run``/``job retry`` used to finish its tasks: the scheduler left them queued."""
    from stratoflow.jobs import ManualClock
    from stratoflow.jobs.interrupt import Terminated
    from stratoflow.server.workflow.models import Job, JobRun, Task, TaskManager
    from stratoflow.server.workflow.scheduler import Scheduler
    from stratoflow.server.workflow.services import job_run

    job = Job.objects.create(name="stopped")
    TaskManager.objects.create(job=job, name="work", kind="stops-once")
    with pytest.raises(Terminated):
        job_run(job, workers=1)
    run = JobRun.objects.get(job=job)
    assert run.state == "failed" and "interrupted" in run.summary
    scheduler = Scheduler(clock=ManualClock(timezone.now()), holder="sched")
    executed = scheduler.tick()
    scheduler.close()
    assert [r.pk for r in executed] == [run.pk]
    run.refresh_from_db()
    assert run.state == "succeeded" and "interrupted" not in run.summary
    assert set(Task.objects.filter(run=run).values_list("state", flat=True)) == {"done"}


def test_a_disabled_jobs_interrupted_run_waits(stops_once: Any) -> None:
    from stratoflow.jobs import ManualClock
    from stratoflow.jobs.interrupt import Terminated
    from stratoflow.server.workflow.models import Job, JobRun, TaskManager
    from stratoflow.server.workflow.scheduler import Scheduler
    from stratoflow.server.workflow.services import job_run

    job = Job.objects.create(name="paused")
    TaskManager.objects.create(job=job, name="work", kind="stops-once")
    with pytest.raises(Terminated):
        job_run(job, workers=1)
    Job.objects.filter(pk=job.pk).update(enabled=False)
    scheduler = Scheduler(clock=ManualClock(timezone.now()), holder="sched")
    assert scheduler.tick() == []
    assert JobRun.objects.get(job=job).state == "failed"
    Job.objects.filter(pk=job.pk).update(enabled=True)
    assert len(scheduler.tick()) == 1
    scheduler.close()
    assert JobRun.objects.get(job=job).state == "succeeded"


def test_a_run_whose_driver_keeps_failing_is_resumed_once_not_in_a_loop(
    make_job: MakeJob, caplog: pytest.LogCaptureFixture
) -> None:
    """A driver that fails (a real Celery app on a loopback port nobody listens on) interrupts
    its run; the scheduler resumes it once, then leaves it for ``job run``/``job retry``."""
    from celery import Celery

    from stratoflow.jobs import ManualClock
    from stratoflow.server.workflow.executors import CeleryExecutor
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.scheduler import Scheduler
    from stratoflow.server.workflow.services import job_run

    job = make_job("unlucky", tasks=1)
    broker = Celery("unreachable", broker="redis://127.0.0.1:9/0", fixups=[])
    broker.conf.update(broker_connection_timeout=1, broker_connection_max_retries=1)
    executor = CeleryExecutor(queue="nowhere", app=broker)
    run = JobRun.objects.create(job=job, scheduled_for=timezone.now() - timedelta(minutes=1))
    clock = ManualClock(timezone.now())
    scheduler = Scheduler(clock=clock, holder="sched", executor=executor)
    for _ in range(5):
        assert scheduler.tick() == []
    run.refresh_from_db()
    assert run.state == "failed" and "the scheduler's driver failed" in run.summary["interrupted"]
    failures = [r for r in caplog.records if "its driver failed" in r.getMessage()]
    assert len(failures) == 2  # its own start, and one resumption: no loop
    # a person can still finish it
    report = job_run(job, workers=1)
    assert [r.state for r in report.resumed] == ["succeeded"]


def test_a_run_abandoned_twice_by_dead_drivers_is_failed_not_resumed_again(
    make_job: MakeJob, settings: LazySettings, tmp_path: Any
) -> None:
    """A run left ``running`` by a dead process is taken over once (marked so); left again by
    the scheduler that took it over, it is failed as interrupted for a person to look at,
    instead of every standby scheduler in turn resuming (and perhaps dying of) it."""
    from stratoflow.jobs import ManualClock
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.scheduler import Scheduler

    settings.STRATOFLOW_LEASE_SECONDS = 30
    job = make_job("orphan", tasks=2)
    long_ago = timezone.now() - timedelta(minutes=5)
    run = _abandoned(job, long_ago)
    scheduler = Scheduler(clock=ManualClock(timezone.now()), holder="sched")
    assert [r.pk for r in scheduler.tick()] == [run.pk]
    run.refresh_from_db()
    assert run.state == "succeeded"

    # the same again, but the scheduler that took it over died too (its marker is there)
    other = _abandoned(job, long_ago + timedelta(seconds=1))
    taken = scheduler.take_over(other)
    assert taken
    JobRun.objects.filter(pk=other.pk).update(owner="dead-host:2:y", heartbeat_at=long_ago)
    assert scheduler.tick() == []
    scheduler.close()
    other.refresh_from_db()
    assert other.state == "failed"
    assert "resumed the run once already" in other.summary["interrupted"]
    assert "stratoflow job run orphan" in other.summary["interrupted"]
    assert (tmp_path / "orphan.log").read_text().count("\n") == 2  # only the first run's tasks


def test_a_bad_executor_setting_takes_no_run_over(
    make_job: MakeJob, settings: LazySettings
) -> None:
    """The executor used to be made after the run was taken over (marked resumed, owned by
    the scheduler): a bad STRATOFLOW_EXECUTOR left it so, and once the setting was fixed the
    run counted as resumed already and was failed instead of finished."""
    from stratoflow.errors import ConfigError
    from stratoflow.jobs import ManualClock
    from stratoflow.server.workflow.scheduler import RESUMED, Scheduler

    settings.STRATOFLOW_LEASE_SECONDS = 30
    job = make_job("orphan", tasks=2)
    long_ago = timezone.now() - timedelta(minutes=5)
    run = _abandoned(job, long_ago)
    settings.STRATOFLOW_EXECUTOR = "bogus"
    scheduler = Scheduler(clock=ManualClock(timezone.now()), holder="sched")
    with pytest.raises(ConfigError, match="unknown STRATOFLOW_EXECUTOR 'bogus'"):
        scheduler.tick()
    run.refresh_from_db()
    assert (run.state, run.owner, RESUMED in run.summary) == ("running", "dead-host:1:x", False)
    settings.STRATOFLOW_EXECUTOR = "inprocess"
    assert [r.pk for r in scheduler.tick()] == [run.pk]
    run.refresh_from_db()
    assert run.state == "succeeded"
    scheduler.close()


def test_a_job_run_stopped_while_resuming_leaves_no_pending_run_behind(stops_once: Any) -> None:
    """``job run`` makes its own run, then resumes the interrupted ones first: stopped during
    that, its own run stayed pending, and the scheduler started it later as if asked to."""
    from stratoflow.jobs.interrupt import Terminated
    from stratoflow.server.workflow.models import Job, JobRun, TaskManager
    from stratoflow.server.workflow.services import job_run

    job = Job.objects.create(name="stopped-twice")
    TaskManager.objects.create(job=job, name="work", kind="stops-once")
    with pytest.raises(Terminated):
        job_run(job, workers=1)
    first = JobRun.objects.get(job=job)
    stops_once.stopped = False  # the resumption is stopped too
    with pytest.raises(Terminated):
        job_run(job, workers=1)
    assert list(JobRun.objects.filter(job=job).values_list("pk", "state")) == [(first.pk, "failed")]


def test_a_person_resuming_a_run_gives_the_scheduler_its_one_resumption_back(
    stops_once: Any, make_job: MakeJob
) -> None:
    """The scheduler's mark that it resumed a run once stayed through ``job run``, ``job
    retry`` and the dashboard's retry: cut short again after a person asked for it, the run
    was left for a person again instead of being resumed."""
    from stratoflow.jobs import ManualClock
    from stratoflow.jobs.interrupt import Terminated
    from stratoflow.server.workflow.models import Job, JobRun, TaskManager
    from stratoflow.server.workflow.scheduler import RESUMED, Scheduler
    from stratoflow.server.workflow.services import job_run, run_retry_failed

    job = Job.objects.create(name="again")
    TaskManager.objects.create(job=job, name="work", kind="stops-once")
    with pytest.raises(Terminated):
        job_run(job, workers=1)
    run = JobRun.objects.get(job=job)
    marked = {**run.summary, RESUMED: {"after": "an earlier stop"}}
    JobRun.objects.filter(pk=run.pk).update(summary=marked)  # the scheduler's resumption spent
    stops_once.stopped = False
    with pytest.raises(Terminated):
        job_run(job, workers=1)  # a person resumes it, and it is cut short again
    run.refresh_from_db()
    assert run.state == "failed" and RESUMED not in run.summary
    scheduler = Scheduler(clock=ManualClock(timezone.now()), holder="s")
    assert [r.pk for r in scheduler.tick()] == [run.pk]
    scheduler.close()
    run.refresh_from_db()
    assert run.state == "succeeded"

    other = JobRun.objects.create(
        job=make_job("retried", tasks=1),
        scheduled_for=timezone.now(),
        state="failed",
        summary={"interrupted": "x", RESUMED: {"after": "y"}},
    )
    run_retry_failed(other)
    other.refresh_from_db()
    assert other.state == "pending" and RESUMED not in other.summary
