"""The scheduler in-process, with a manual clock: catch-up, dependencies, leadership."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import LazySettings

from stratoflow.jobs import ManualClock

pytestmark = pytest.mark.django_db(transaction=True)

MakeJob = Callable[..., Any]
T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)


def _hourly(make_job: MakeJob, name: str, policy: str, cap: int = 24) -> Any:
    job = make_job(name, tasks=1)
    job.frequency, job.interval, job.start, job.timezone = "hourly", 1, T0, "Europe/Berlin"
    job.catch_up, job.catch_up_cap = policy, cap
    job.full_clean()
    job.save()
    return job


def _slots(job: Any) -> list[str]:
    return [
        r.scheduled_for.strftime("%H:%M")
        for r in job.runs.order_by("scheduled_for")
        if r.state == "succeeded"
    ]


@pytest.mark.parametrize(
    ("policy", "expected_after_downtime"),
    [
        ("skip", []),
        ("latest", ["10:00"]),
        ("all", ["08:00", "09:00", "10:00"]),
    ],
)
def test_scheduler_down_for_ten_hours_behaves_per_policy(
    make_job: MakeJob, policy: str, expected_after_downtime: list[str]
) -> None:
    from stratoflow.server.workflow.scheduler import Scheduler

    job = _hourly(make_job, f"hourly-{policy}", policy, cap=3)
    clock = ManualClock(T0 + timedelta(seconds=5))
    scheduler = Scheduler(clock=clock, holder="test")
    scheduler.tick()  # 22:00 is on time under every policy
    clock.advance(timedelta(hours=1))
    scheduler.tick()
    assert _slots(job) == ["22:00", "23:00"]
    clock.set(datetime(2026, 3, 29, 10, 20, tzinfo=UTC))  # down 23:00 -> 10:20 (10 slots)
    scheduler.tick()
    assert _slots(job) == ["22:00", "23:00", *expected_after_downtime]
    scheduler.tick()  # nothing new: dropped slots are not offered again
    assert len(_slots(job)) == 2 + len(expected_after_downtime)
    clock.set(datetime(2026, 3, 29, 11, 0, 10, tzinfo=UTC))
    scheduler.tick()
    assert _slots(job)[-1] == "11:00"  # back to normal


def test_a_scheduler_whose_clock_lags_does_not_move_the_watermark_back(
    make_job: MakeJob,
) -> None:
    """A standby on a host whose clock is hours behind set the job's watermark back to its
    "now"; a slot the leader had dropped (catch-up cap) was then created as it came round on
    that clock: a run nobody scheduled."""
    from stratoflow.server.workflow.scheduler import occurrences_create

    job = _hourly(make_job, "lagging", "all", cap=3)
    leader_now = datetime(2026, 3, 29, 10, 20, tzinfo=UTC)
    occurrences_create(job, leader_now)  # catch-up 'all' capped at 3: 08:00 to 10:00
    created = sorted(job.runs.values_list("scheduled_for", flat=True))
    assert [s.strftime("%H:%M") for s in created] == ["08:00", "09:00", "10:00"]
    lagging = datetime(2026, 3, 29, 6, 30, tzinfo=UTC)
    assert occurrences_create(job, lagging) == []
    job.refresh_from_db()
    assert job.scheduled_until == leader_now
    assert occurrences_create(job, lagging + timedelta(minutes=31)) == []  # 07:00 dropped
    assert sorted(job.runs.values_list("scheduled_for", flat=True)) == created


def test_dependencies_run_first_and_cycles_are_rejected(make_job: MakeJob) -> None:
    from stratoflow.errors import ConfigError
    from stratoflow.server.workflow.definitions import dependencies_set
    from stratoflow.server.workflow.scheduler import Scheduler

    export = _hourly(make_job, "export", "latest")
    imp = _hourly(make_job, "import", "latest")
    qc = _hourly(make_job, "qc", "latest")
    dependencies_set(export, [qc])
    dependencies_set(qc, [imp])
    with pytest.raises(ConfigError, match="import -> export -> qc -> import"):
        dependencies_set(imp, [export])
    assert list(imp.depends_on.all()) == []
    executed = Scheduler(clock=ManualClock(T0 + timedelta(seconds=1)), holder="t").tick()
    assert [r.job.name for r in executed] == ["import", "qc", "export"]


def test_a_dependent_waits_for_an_unfinished_dependency(make_job: MakeJob) -> None:
    from django.utils import timezone

    from stratoflow.server.workflow.definitions import dependencies_set
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.scheduler import Scheduler

    first = make_job("first", tasks=1)  # no schedule: runs only when asked
    second = _hourly(make_job, "second", "latest")
    dependencies_set(second, [first])
    busy = JobRun.objects.create(
        job=first,
        scheduled_for=T0 - timedelta(hours=1),
        state="running",
        owner="another-process",
        heartbeat_at=timezone.now(),  # its driver is alive
    )
    scheduler = Scheduler(clock=ManualClock(T0 + timedelta(seconds=1)), holder="t")
    assert scheduler.tick() == []
    assert second.runs.get().state == "pending"
    JobRun.objects.filter(pk=busy.pk).update(state="succeeded")
    assert [r.job.name for r in scheduler.tick()] == ["second"]


def test_only_one_scheduler_is_active_and_a_standby_takes_over(
    settings: LazySettings, make_job: MakeJob
) -> None:
    from stratoflow.server.workflow.models import SchedulerLease
    from stratoflow.server.workflow.scheduler import Scheduler

    settings.STRATOFLOW_LEASE_SECONDS = 30
    a = Scheduler(clock=ManualClock(T0), holder="a")
    b = Scheduler(clock=ManualClock(T0), holder="b")
    assert a.is_leader() and not b.is_leader()
    assert a.is_leader()  # renewal
    # a dies: its lease runs out, b takes over; a cannot come back while b holds it
    SchedulerLease.objects.update(expires_at=T0)
    assert b.is_leader() and not a.is_leader()
    assert SchedulerLease.objects.get().holder == "b"


def test_a_stopping_scheduler_gives_its_lease_up_even_when_its_heartbeat_beats_meanwhile(
    settings: LazySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat renews the lease of a scheduler that believes it leads. A stopping one
    released the lease and only then cleared that belief: a beat in between took the lease
    back, and the standby waited a whole lease time for a scheduler that had stopped."""
    from django.utils import timezone

    from stratoflow.server.workflow import scheduler as scheduler_module
    from stratoflow.server.workflow.models import SchedulerLease
    from stratoflow.server.workflow.scheduler import Scheduler

    settings.STRATOFLOW_LEASE_SECONDS = 600
    stopping = Scheduler(clock=ManualClock(T0), holder="stopping")
    assert stopping.is_leader()
    release = scheduler_module.lease_release

    def release_then_beat(name: str, holder: str) -> None:
        release(name, holder)
        stopping._renew()  # the heartbeat's beat, right after the release

    monkeypatch.setattr(scheduler_module, "lease_release", release_then_beat)
    stopping.stop_event.set()
    stopping.run(max_seconds=5)
    assert SchedulerLease.objects.get().expires_at <= timezone.now()
    assert Scheduler(clock=ManualClock(T0), holder="standby").is_leader()


def test_next_occurrences_and_one_off_jobs(make_job: MakeJob) -> None:
    from stratoflow.server.workflow.scheduler import Scheduler

    job = make_job("once", tasks=1)
    job.frequency, job.start, job.timezone = "once", T0 + timedelta(hours=2), "UTC"
    job.save()
    assert job.next_occurrences(3, after=T0) == [T0 + timedelta(hours=2)]
    clock = ManualClock(T0)
    scheduler = Scheduler(clock=clock, holder="t")
    assert scheduler.tick() == []
    clock.advance(timedelta(hours=2, seconds=1))
    assert len(scheduler.tick()) == 1
    clock.advance(timedelta(days=3))
    assert scheduler.tick() == []
    assert job.runs.count() == 1


def test_job_clean_validates_the_schedule(make_job: MakeJob) -> None:
    from django.core.exceptions import ValidationError

    job = make_job("checked", tasks=1)
    job.start, job.frequency, job.timezone = T0, "daily", "Mars/Olympus"
    with pytest.raises(ValidationError) as info:
        job.full_clean()
    assert "unknown timezone 'Mars/Olympus'" in info.value.message_dict["timezone"][0]
    job.timezone, job.end = "UTC", T0 - timedelta(days=1)
    with pytest.raises(ValidationError) as info:
        job.full_clean()
    assert "is before start" in info.value.message_dict["end"][0]
    job.end = None
    job.start = datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    job.timezone = "Europe/Berlin"
    with pytest.raises(ValidationError) as info:
        job.full_clean()
    assert "does not exist in Europe/Berlin" in info.value.message_dict["start"][0]


def test_a_disabled_job_starts_no_pending_run(make_job: MakeJob) -> None:
    from stratoflow.server.workflow.models import Job, JobRun
    from stratoflow.server.workflow.scheduler import runs_due

    job = make_job("paused", tasks=1)
    JobRun.objects.create(job=job, scheduled_for=T0 - timedelta(hours=1))
    Job.objects.filter(pk=job.pk).update(enabled=False)
    assert runs_due(T0) == []
    Job.objects.filter(pk=job.pk).update(enabled=True)
    assert [r.job.name for r in runs_due(T0)] == ["paused"]


@pytest.mark.parametrize("interval", [10**7, 10**12])
def test_a_huge_interval_is_refused_when_the_job_is_loaded(
    interval: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.cli import main
    from stratoflow.server.workflow.models import Job

    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "jobs:\n  - name: forever\n    schedule: {frequency: daily, interval: "
        f"{interval}, start: '2026-03-27T02:30'}}\n    managers: [{{name: a, kind: noop}}]\n"
    )
    assert main(["job", "load", str(jobs)]) == 1
    err = capsys.readouterr().err
    assert f"interval {interval} is too large" in err and "36525 days" in err
    assert "Traceback" not in err and not Job.objects.exists()


def test_one_unschedulable_job_is_logged_once_and_the_others_still_run(
    make_job: MakeJob, caplog: pytest.LogCaptureFixture
) -> None:
    """A row saved before intervals were checked (or by hand in the database) used to raise
    OverflowError from the scheduler's tick and end the scheduler loop for every job."""
    from stratoflow.server.workflow.models import Job, JobRun
    from stratoflow.server.workflow.scheduler import Scheduler

    good = _hourly(make_job, "good", "latest")
    bad = _hourly(make_job, "bad", "latest")
    Job.objects.filter(pk=bad.pk).update(frequency="daily", interval=10**7)
    clock = ManualClock(T0 + timedelta(seconds=5))
    scheduler = Scheduler(clock=clock, holder="test", tick_seconds=0.01)
    for _ in range(3):
        scheduler.run(max_seconds=0.05)  # returns: the loop survived the bad job
        clock.advance(timedelta(hours=1))
    assert _slots(good) == ["22:00", "23:00", "00:00"]
    assert not JobRun.objects.filter(job=bad).exists()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors  # said once while it lasts, not every tick
    assert "job bad: cannot schedule" in errors[0] and "interval 10000000" in errors[0]


def test_a_run_whose_driver_fails_unexpectedly_is_failed_and_the_loop_goes_on(
    make_job: MakeJob, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable broker (a real Celery app on a loopback port nobody listens on) used to
    escape the tick as a kombu error and stop the scheduler, leaving the run 'running'."""
    from celery import Celery

    from stratoflow.server.workflow.executors import CeleryExecutor
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.scheduler import Scheduler

    first = _hourly(make_job, "first", "latest")
    second = _hourly(make_job, "second", "latest")
    broker = Celery("unreachable", broker="redis://127.0.0.1:9/0", fixups=[])
    broker.conf.update(broker_connection_timeout=1, broker_connection_max_retries=1)
    executor = CeleryExecutor(queue="nowhere", app=broker)
    clock = ManualClock(T0 + timedelta(seconds=5))
    scheduler = Scheduler(clock=clock, holder="test", executor=executor, tick_seconds=0.01)
    scheduler.run(max_seconds=0.5)
    runs = {r.job.name: r for r in JobRun.objects.select_related("job")}
    assert set(runs) == {first.name, second.name}  # the first failure did not stop the second
    for run in runs.values():
        assert run.state == "failed"
        assert "the scheduler's driver failed" in run.summary["interrupted"]
    assert any("its driver failed" in r.getMessage() for r in caplog.records)
