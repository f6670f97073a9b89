"""No zombie tasks: a task past its timeout, or one whose worker keeps dying, ends failed.

A task's lease is renewed by its process's heartbeat only until the task's deadline (claim
time + the manager's ``timeout``); once the lease has expired, the task is queued again until
it has used ``max_attempts``, then it fails with the reason — it never holds a slot forever.
For a kind whose tasks take turns in a process, the deadline counts from its turn.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from _jobs import join_abandoned, timed_out

from ._kinds import HangsOnFirst

MakeJob = Callable[..., Any]

pytestmark = pytest.mark.django_db(transaction=True)


def _running_task(make_job: MakeJob, *, max_attempts: int, timeout: int = 3600) -> Any:
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.services import _claim

    job = make_job(tasks=1, max_attempts=max_attempts)
    manager = job.managers.get()
    manager.timeout = timeout
    manager.save()
    run = JobRun.objects.create(job=job, scheduled_for=timezone.now(), state="running")
    task = Task.objects.create(manager=manager, run=run, key="t", details={"number": 0})
    claimed = _claim(task.pk, "worker-1")
    assert claimed is not None
    return claimed


def test_claim_sets_a_deadline_from_the_manager_timeout(make_job: MakeJob) -> None:
    task = _running_task(make_job, max_attempts=3, timeout=120)
    assert task.deadline_at is not None
    assert timedelta(seconds=119) < task.deadline_at - task.started_at <= timedelta(seconds=121)


def test_heartbeat_stops_renewing_a_task_past_its_deadline(make_job: MakeJob) -> None:
    from stratoflow.server.workflow.leases import Heartbeat
    from stratoflow.server.workflow.models import Task

    task = _running_task(make_job, max_attempts=3)
    beat = Heartbeat(interval=3600)  # beats only when called
    old = timezone.now() - timedelta(seconds=5)
    Task.objects.filter(pk=task.pk).update(lease_until=old)
    beat.hold_task("worker-1")
    beat.beat()
    task.refresh_from_db()
    assert task.lease_until > timezone.now()  # renewed while within its deadline
    Task.objects.filter(pk=task.pk).update(lease_until=old, deadline_at=old)
    beat.beat()
    task.refresh_from_db()
    assert task.lease_until == old  # past the deadline: abandoned, not renewed
    beat.drop_task("worker-1")


def test_heartbeat_renews_only_a_run_this_process_still_owns(make_job: MakeJob) -> None:
    """A driver that went silent, and whose run another scheduler took over, kept beating for
    it: the run looked alive even after its new driver died, and nobody resumed it."""
    from stratoflow.server.workflow.leases import Heartbeat
    from stratoflow.server.workflow.models import JobRun

    job = make_job("beats", tasks=1)
    old = timezone.now() - timedelta(hours=1)
    run = JobRun.objects.create(
        job=job,
        state="running",
        owner="first",
        heartbeat_at=old,
        started_at=old,
        scheduled_for=old,
    )
    beat = Heartbeat(interval=3600)  # beats only when called
    beat.hold_run(run.pk, "first")
    beat.beat()
    run.refresh_from_db()
    assert run.heartbeat_at > old  # its own run: renewed
    JobRun.objects.filter(pk=run.pk).update(owner="second", heartbeat_at=old)  # taken over
    beat.beat()
    run.refresh_from_db()
    assert run.heartbeat_at == old  # no longer its run: left to the new owner
    JobRun.objects.filter(pk=run.pk).update(owner="first", state="failed")
    beat.beat()
    run.refresh_from_db()
    assert run.heartbeat_at == old  # ended: nothing to keep alive
    beat.drop_run(run.pk)


def test_timed_out_task_is_retried_then_failed_with_the_reason(make_job: MakeJob) -> None:
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import _claim, _settle, tasks_requeue_expired

    task = _running_task(make_job, max_attempts=2)
    past = timezone.now() - timedelta(seconds=1)
    Task.objects.filter(pk=task.pk).update(lease_until=past, deadline_at=past)
    assert tasks_requeue_expired() == 1  # attempt 1 of 2: queued again
    task.refresh_from_db()
    assert task.state == "queued"
    again = _claim(task.pk, "worker-2")
    assert again is not None
    Task.objects.filter(pk=task.pk).update(lease_until=past, deadline_at=past)
    assert tasks_requeue_expired() == 0  # attempts used up: failed, not queued
    task.refresh_from_db()
    assert task.state == "failed"
    assert "timed out" in task.error
    assert task.finished_at is not None
    # the hung thread's late result is discarded
    from stratoflow.jobs.states import TaskState

    assert _settle(again, "worker-2", TaskState.DONE) is False
    task.refresh_from_db()
    assert task.state == "failed"


def test_task_that_kills_every_worker_fails_instead_of_looping(make_job: MakeJob) -> None:
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import _claim, tasks_requeue_expired

    task = _running_task(make_job, max_attempts=1)
    Task.objects.filter(pk=task.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert tasks_requeue_expired() == 0
    task.refresh_from_db()
    assert task.state == "failed"
    assert "worker stopped" in task.error
    assert _claim(task.pk, "worker-2") is None  # nobody runs it again by accident


@pytest.fixture
def hangs(settings: Any) -> Any:
    """The task kind ``hangs`` (:class:`HangsOnFirst`), a 1 s timeout and a 0.6 s lease; the
    hung threads are released and joined before the test database goes away."""
    import threading

    from stratoflow.server.workflow import leases, managers

    settings.STRATOFLOW_LEASE_SECONDS = 0.6  # heartbeat every 0.2 s
    leases.heartbeat().stop()  # a fresh heartbeat beats at that pace from the start
    leases._heartbeat = None
    kinds: list[HangsOnFirst] = []

    def make(count: int) -> Any:
        from stratoflow.server.workflow.models import Job, TaskManager

        kinds.append(HangsOnFirst(count))
        managers.register("hangs", kinds[-1])
        job = Job.objects.create(name="hangs")
        TaskManager.objects.create(job=job, name="work", kind="hangs", max_attempts=1, timeout=1)
        return job

    before = set(threading.enumerate())
    yield make
    for kind in kinds:
        kind.release.set()
    managers._KINDS.pop("hangs", None)
    join_abandoned(before, within=20)


def test_the_in_process_executor_times_a_hung_task_out_and_goes_on_with_the_others(
    hangs: Any,
) -> None:
    """The embedded default (SQLite, or one worker) ran each task in the driver's own thread:
    a task that hung held its run, and ``job run`` or the scheduler with it, for as long as
    it hung, whatever its manager's timeout. Now it is failed as timed out, the thread it
    hangs in is left to it and another one runs the other tasks."""
    import time

    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    job = hangs(3)
    started = time.monotonic()
    report = job_run(job, workers=1)  # one thread: the hung task used to hold it all
    took = time.monotonic() - started
    tasks = Task.objects.filter(manager__job=job).order_by("key")
    assert list(tasks.values_list("subject", "state")) == [
        ("unit #0", "failed"),
        ("unit #1", "done"),
        ("unit #2", "done"),
    ]
    assert report.state == "failed" and took < 5, took  # it hangs 10 s
    assert timed_out(tasks.get(subject="unit #0"))


def test_job_run_does_not_wait_for_the_thread_of_a_task_it_abandoned(
    hangs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A run whose last task hung ended as soon as the task was failed as timed out, but
    closing the executor then waited its 5 s for the thread the task hangs in."""
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    job = hangs(1)
    assert job_run(job, workers=1).state == "failed"
    assert timed_out(Task.objects.get(manager__job=job))
    messages = [r.getMessage() for r in caplog.records]
    assert any("abandoned past its timeout" in m for m in messages), messages
    assert not any("not waiting for" in m for m in messages), messages


@pytest.mark.postgres
def test_a_hung_task_does_not_hold_its_run_forever(
    make_job: MakeJob, settings: Any, tmp_path: Any
) -> None:
    from django.db import connection

    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    if connection.vendor != "postgresql":
        # seconds of hanging: once is enough (SQLite has the quick test above)
        pytest.skip("slow: the PostgreSQL pass runs it")

    settings.STRATOFLOW_LEASE_SECONDS = 0.6  # heartbeat every 0.2 s
    job = make_job(tasks=2, max_attempts=1, sleep=4.0)
    manager = job.managers.get()
    manager.timeout = 1
    manager.save()
    report = job_run(job)
    assert report.state == "failed"
    states = set(Task.objects.filter(manager=manager).values_list("state", "error"))
    assert {s for s, _ in states} == {"failed"}
    # usually "timed out"; on a loaded machine a missed heartbeat can expire the lease first,
    # which ends the task the same way ("worker stopped") - what matters is that it ends
    assert all("timed out" in e or "worker stopped" in e for _, e in states)


@pytest.mark.postgres
def test_a_hung_task_does_not_hold_the_process_after_its_run_ended(
    make_job: MakeJob, settings: Any, tmp_path: Any
) -> None:
    """The run failed the task after its timeout, but closing the executor joined the task's
    thread without a bound: ``job run`` (and a stopping scheduler) waited for as long as the
    task hung, possibly forever."""
    import threading
    import time

    from django.db import connection

    from stratoflow.server.workflow.services import job_run

    if connection.vendor != "postgresql":
        pytest.skip("slow: the PostgreSQL pass runs it")

    settings.STRATOFLOW_LEASE_SECONDS = 0.6
    # hangs 12 s unless released: released once job_run has returned (or failed to)
    release = tmp_path / "release"
    job = make_job(tasks=1, max_attempts=1, sleep=12.0, release=str(release))
    job.managers.update(timeout=1)
    before = set(threading.enumerate())
    started = time.monotonic()
    try:
        report = job_run(job)
        took = time.monotonic() - started
    finally:
        release.touch()
        join_abandoned(before, within=20)  # before the test database goes away
    assert report.state == "failed"
    assert took < 9, f"job_run returned after {took:.1f} s, held by the hung task's thread"


class _OneAtATime:
    """A kind that is not thread-safe (the default), like the netCDF imports: its tasks take
    turns in a process. Each takes 0.5 s, but the first to run ``first`` seconds (or until
    :attr:`release` is set)."""

    per_run = True

    def __init__(self, count: int = 4, first: float = 0.5) -> None:
        import threading

        self.count, self.first, self.started = count, first, 0
        self.release = threading.Event()

    def collect(self, manager: Any) -> Any:
        return ((f"{i}", f"unit #{i}", {"number": i}) for i in range(self.count))

    def execute(self, manager: Any, task: Any) -> dict[str, Any]:
        import time

        self.started += 1  # one at a time: no lock needed
        if self.started == 1:
            self.release.wait(self.first)
        else:
            time.sleep(0.5)
        return {}

    def summarize(self, manager: Any, tasks: list[Any]) -> dict[str, Any]:
        return {}


def test_waiting_for_its_turn_does_not_count_against_a_tasks_timeout(settings: Any) -> None:
    """Four tasks of 0.5 s that take turns, with a timeout of 1.2 s each: the third and
    fourth were claimed at once with the others and timed out while still waiting."""
    from stratoflow.server.workflow import leases, managers
    from stratoflow.server.workflow.models import Job, Task, TaskManager
    from stratoflow.server.workflow.services import job_run

    settings.STRATOFLOW_LEASE_SECONDS = 0.6
    # the process's heartbeat thread may be in a wait timed by an earlier test's lease: a
    # fresh one beats every 0.2 s from the start
    leases.heartbeat().stop()
    leases._heartbeat = None
    managers.register("one-at-a-time", _OneAtATime())
    try:
        job = Job.objects.create(name="turns")
        TaskManager.objects.create(
            job=job, name="work", kind="one-at-a-time", concurrency=4, max_attempts=1, timeout=1
        )
        report = job_run(job, workers=4)
    finally:
        managers._KINDS.pop("one-at-a-time", None)
    errors = list(Task.objects.exclude(state="done").values_list("subject", "error"))
    assert report.state == "succeeded", errors


@pytest.mark.postgres
def test_a_task_waiting_behind_a_hung_one_gives_up(settings: Any) -> None:
    """The turn a hung task holds is never given back (its thread cannot be stopped): the
    tasks waiting for it end with a retryable timeout instead of waiting with it forever."""
    import threading
    import time

    from django.db import connection

    from stratoflow.server.workflow import leases, managers
    from stratoflow.server.workflow.models import Job, Task, TaskManager
    from stratoflow.server.workflow.services import job_run

    if connection.vendor != "postgresql":
        pytest.skip("slow: the PostgreSQL pass runs it")
    settings.STRATOFLOW_LEASE_SECONDS = 0.6
    leases.heartbeat().stop()
    leases._heartbeat = None
    kind = _OneAtATime(count=2, first=12.0)  # the first hangs 12 s unless released
    managers.register("one-at-a-time", kind)
    before = set(threading.enumerate())
    try:
        job = Job.objects.create(name="hung-turn")
        TaskManager.objects.create(
            job=job, name="work", kind="one-at-a-time", concurrency=2, max_attempts=1, timeout=1
        )
        started = time.monotonic()
        report = job_run(job, workers=2)
        took = time.monotonic() - started
        errors = sorted(Task.objects.values_list("error", flat=True))
        # failed within 2 s, then 5 s for the executor's threads; not after the hung 12 s
        assert report.state == "failed" and took < 9.5, (took, errors)
        hung, waiter = sorted(errors, key=lambda e: "waited for its turn" in e)
        assert "timed out" in hung or "worker stopped" in hung
        assert "waited for its turn behind another task of this process" in waiter
        assert "internal error" not in waiter  # a known condition, not a crash
    finally:
        managers._KINDS.pop("one-at-a-time", None)
        kind.release.set()
        join_abandoned(before, within=20)  # the hung one, before the test database goes away


def test_a_task_whose_worker_died_waiting_for_its_turn_fails_when_its_attempts_are_spent(
    make_job: MakeJob,
) -> None:
    """A task waiting for its turn has no deadline yet (NULL): NOT (deadline < now) is not
    true for it in SQL, so a spent one was queued again instead of failed, forever."""
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import tasks_requeue_expired

    task = _running_task(make_job, max_attempts=1)
    Task.objects.filter(pk=task.pk).update(
        deadline_at=None, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert tasks_requeue_expired() == 0
    task.refresh_from_db()
    assert task.state == "failed" and "worker stopped" in task.error


class _WrapsItsTimeLimit:
    """A kind whose body is stopped at its time limit (Celery raises ``SoftTimeLimitExceeded``
    into it) inside a library that wraps whatever goes wrong in its own error, as readers do;
    ``wrap=False``: the limit comes out as it is."""

    per_run = True
    thread_safe = True

    def __init__(self, *, wrap: bool) -> None:
        self.wrap = wrap

    def collect(self, manager: Any) -> Any:
        return [("0", "flight.nc", {})]

    def execute(self, manager: Any, task: Any) -> dict[str, Any]:
        from celery.exceptions import SoftTimeLimitExceeded

        from stratoflow.errors import ImportFailed

        try:
            raise SoftTimeLimitExceeded()
        except SoftTimeLimitExceeded as exc:
            if not self.wrap:
                raise
            raise ImportFailed("flight.nc: cannot read: interrupted") from exc

    def summarize(self, manager: Any, tasks: list[Any]) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize("wrap", [False, True], ids=["as-raised", "wrapped-by-a-reader"])
@pytest.mark.parametrize("max_attempts", [1, 2])
def test_a_body_stopped_at_its_time_limit_fails_or_retries_as_timed_out(
    wrap: bool, max_attempts: int
) -> None:
    """Celery's soft time limit came out of a task as an internal error
    ('SoftTimeLimitExceeded()', a traceback in the log), or as whatever a reader made of it:
    never named as the manager's timeout, and never retried."""
    from celery.exceptions import SoftTimeLimitExceeded

    from stratoflow.server.workflow import managers
    from stratoflow.server.workflow.models import Job, JobRun, Task, TaskManager
    from stratoflow.server.workflow.services import _queue, task_execute

    managers.register("wraps", _WrapsItsTimeLimit(wrap=wrap))
    try:
        job = Job.objects.create(name="limited")
        manager = TaskManager.objects.create(
            job=job, name="read", kind="wraps", max_attempts=max_attempts, timeout=7
        )
        run = JobRun.objects.create(job=job, scheduled_for=timezone.now(), state="running")
        _queue(manager, run, managers.get("wraps").collect(manager), per_run=True)
        task = Task.objects.get(run=run)
        state = task_execute(task.pk, time_limits=(SoftTimeLimitExceeded,))
    finally:
        managers._KINDS.pop("wraps", None)
    task.refresh_from_db()
    assert state == task.state == ("failed" if max_attempts == 1 else "retrying")
    expected = (
        "flight.nc: timed out after 7 s (the timeout of task manager 'read' of job 'limited'): "
        "stopped at its time limit; nothing of it was recorded"
    )
    assert expected in task.error, task.error
    assert "internal error" not in task.error and "cannot read" not in task.error
