"""``stratoflow job run`` stopped by SIGTERM (a supervisor, ``kill``): a real process on the
real PostgreSQL. The run must say at once that it was interrupted, not stay ``running`` until
its lease runs out, and a re-run must finish the tasks it left instead of reporting nothing
new."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings

from ._kinds import StopsOnce

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]

MakeJob = Callable[..., Any]
Executions = Callable[[Path], dict[str, int]]


def test_sigterm_marks_the_run_interrupted_and_a_rerun_finishes_its_tasks(
    make_job: MakeJob,
    tmp_path: Path,
    child_env: dict[str, str],
    processes: list[subprocess.Popen[Any]],
    executions: Executions,
    settings: LazySettings,
) -> None:
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.services import job_run

    # a long lease, as in production: nothing may depend on it running out
    settings.STRATOFLOW_LEASE_SECONDS = 60.0
    env = {**child_env, "STRATOFLOW_LEASE_SECONDS": "60"}
    # tasks that run until the test releases them (at most 60 s): the signal must come
    # while they run (released, the re-run's tasks need no time)
    release = tmp_path / "release"
    job = make_job("stoppable", tasks=4, concurrency=2, sleep=60.0, release=str(release))
    child = subprocess.Popen(
        [sys.executable, "-m", "stratoflow.cli", "job", "run", job.name, "--progress", "plain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(child)
    running = Task.objects.filter(manager__job=job, state="running")
    deadline = time.monotonic() + 60
    while running.count() < 2:
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the run never started its tasks"
        time.sleep(0.05)
    stopped = set(running.values_list("pk", flat=True))
    child.send_signal(signal.SIGTERM)
    # once the run is marked interrupted (its tasks given back), the tasks' threads are let
    # go: as with tasks that end by themselves, the process need not wait for them
    interrupted = JobRun.objects.filter(job=job, state="failed")
    while not interrupted.exists() and child.poll() is None:
        assert time.monotonic() < deadline, "the run was never marked interrupted"
        time.sleep(0.05)
    release.touch()
    out, err = child.communicate(timeout=20)
    assert child.returncode == 143, out + err
    assert "terminated by SIGTERM" in err and "Traceback" not in err

    run = JobRun.objects.get(job=job)
    assert run.state == "failed"  # at once, not after the 60 s lease
    assert run.summary["interrupted"] == "interrupted: terminated by SIGTERM"
    tasks = Task.objects.filter(run=run)
    # the tasks running when the signal came are given back (normally the first two; on a
    # loaded machine this test may only have seen the second pair running, the first done)
    given_back = tasks.filter(pk__in=stopped)
    assert set(given_back.values_list("state", flat=True)) == {"queued"}
    assert set(given_back.values_list("attempts", flat=True)) == {0}  # a stop is no attempt
    assert set(tasks.exclude(pk__in=stopped).values_list("state", flat=True)) <= {"queued", "done"}
    assert set(tasks.values_list("claim", flat=True)) == {""}

    report = job_run(job)
    assert [r.run_id for r in report.resumed] == [run.pk]
    assert report.resumed[0].state == "succeeded"
    run.refresh_from_db()
    assert run.state == "succeeded" and "interrupted" not in run.summary
    assert set(tasks.values_list("state", flat=True)) == {"done"}
    counts = executions(tmp_path / "stoppable.log")
    assert len(counts) == 8  # the resumed run's 4 tasks and the new run's own 4


@pytest.mark.django_db(transaction=True)
def test_a_stop_inside_a_task_run_by_the_driver_gives_the_task_back() -> None:
    from stratoflow.jobs.interrupt import Terminated
    from stratoflow.server.workflow import managers
    from stratoflow.server.workflow.models import Job, JobRun, Task, TaskManager
    from stratoflow.server.workflow.services import job_run

    managers.register("stops", StopsOnce())
    try:
        job = Job.objects.create(name="stops")
        TaskManager.objects.create(job=job, name="work", kind="stops")
        with pytest.raises(Terminated):
            job_run(job, workers=1)  # raised in the task's thread, again in the driver's
        run = JobRun.objects.get(job=job)
        assert run.state == "failed" and "terminated by SIGTERM" in run.summary["interrupted"]
        states = dict(Task.objects.filter(run=run).values_list("subject", "state"))
        assert states == {"unit #0": "done", "unit #1": "queued", "unit #2": "queued"}
        # the next run finishes what the stopped one left (and runs its own units)
        report = job_run(job, workers=1)
        assert [r.state for r in report.resumed] == ["succeeded"]
        assert set(Task.objects.filter(run=run).values_list("state", flat=True)) == {"done"}
    finally:
        managers._KINDS.pop("stops", None)


@pytest.mark.django_db(transaction=True)
def test_a_task_is_held_by_the_heartbeat_before_its_claim_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The claims a stopped driver gives back are those its heartbeat holds: a task must be
    held from before it is seen 'running' (held only after its claim, a SIGTERM in between
    missed it; it ran on and ended 'done' in a run recorded as interrupted)."""
    from stratoflow.server.workflow import managers, services
    from stratoflow.server.workflow.leases import heartbeat
    from stratoflow.server.workflow.models import Job, Task, TaskManager
    from stratoflow.server.workflow.services import job_run

    held_when_claimed: list[bool] = []
    claim = services._claim

    def observed(task_id: int, token: str) -> Any:
        held_when_claimed.append(token in heartbeat().claims())
        return claim(task_id, token)

    monkeypatch.setattr(services, "_claim", observed)
    managers.register("stops", StopsOnce())
    try:
        job = Job.objects.create(name="held")
        TaskManager.objects.create(job=job, name="work", kind="stops")
        managers.get("stops").stopped = True  # type: ignore[attr-defined]
        report = job_run(job, workers=2)
        assert report.state == "succeeded"
        assert held_when_claimed == [True, True, True]
        assert set(Task.objects.values_list("state", flat=True)) == {"done"}
        assert not heartbeat().claims()  # each let go once its task ended
    finally:
        managers._KINDS.pop("stops", None)


@pytest.mark.services
def test_a_worker_stopped_by_sigterm_finishes_its_tasks_and_leaves_none_running(
    make_job: MakeJob,
    tmp_path: Path,
    child_env: dict[str, str],
    processes: list[subprocess.Popen[Any]],
    executions: Executions,
    settings: LazySettings,
) -> None:
    """Celery's warm shutdown: SIGTERM stops a worker taking new messages, lets the tasks it
    runs finish (they are recorded) and puts the unstarted ones back (late acks); a second
    worker does those. No task waits for a lease to run out."""
    import threading
    import uuid

    from stratoflow.server.celery import app
    from stratoflow.server.workflow.executors import CeleryExecutor
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    settings.STRATOFLOW_LEASE_SECONDS = 60.0
    queue = f"stratoflow-test-{uuid.uuid4().hex[:8]}"
    env = {**child_env, "STRATOFLOW_LEASE_SECONDS": "60", "STRATOFLOW_QUEUE": queue}
    worker_args = [sys.executable, "-m", "stratoflow.cli", "worker", "--concurrency", "2"]
    worker_args += ["--queue", queue, "--loglevel", "ERROR"]
    first = subprocess.Popen(worker_args, env=env)
    processes.append(first)
    # tasks that run until the test releases them (at most 60 s), after the signal
    release = tmp_path / "release"
    job = make_job("celery-stop", tasks=6, concurrency=2, sleep=60.0, release=str(release))
    reports: list[Any] = []

    def drive() -> None:
        from django.db import connection

        try:
            reports.append(job_run(job, executor=CeleryExecutor(queue=queue)))
        finally:
            connection.close()  # this thread's own connection

    driver = threading.Thread(target=drive)
    driver.start()
    try:
        running = Task.objects.filter(manager__job=job, state="running")
        deadline = time.monotonic() + 60
        while running.count() < 2:
            assert time.monotonic() < deadline, "the worker never started its tasks"
            time.sleep(0.05)
        first.send_signal(signal.SIGTERM)
        # the worker has the signal while its two tasks still run: it must wait for them
        with pytest.raises(subprocess.TimeoutExpired):
            first.wait(timeout=0.5)
        release.touch()
        assert first.wait(timeout=30) == 0
        assert not running.exists()  # finished before the worker left, not abandoned
        processes.append(subprocess.Popen(worker_args, env=env))
        driver.join(timeout=90)
        assert not driver.is_alive()
    finally:
        with app().connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
    assert reports[0].state == "succeeded"
    tasks = Task.objects.filter(manager__job=job)
    assert set(tasks.values_list("state", flat=True)) == {"done"}
    assert set(tasks.values_list("attempts", flat=True)) == {1}  # nothing ran twice


def test_a_query_cut_short_by_sigterm_leaves_a_connection_the_interruption_can_use() -> None:
    """SIGTERM raises wherever the main thread is, often inside a query (a driver polls the
    database all the time). psycopg then cancels the query and waits for it; the connection
    stays usable and is kept."""
    from django.db import connection, transaction

    from stratoflow.jobs.interrupt import Terminated, sigterm_raises
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.services import connection_after_interrupt

    if connection.vendor != "postgresql":
        pytest.skip("a query is cut short on PostgreSQL; the PostgreSQL pass runs it")
    signal_soon = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    with sigterm_raises(), connection.cursor() as cursor:
        signal_soon.start()
        try:
            with pytest.raises(Terminated):
                cursor.execute("SELECT pg_sleep(20)")
        finally:  # never a SIGTERM outside sigterm_raises: it would end the test process
            signal_soon.cancel()
            signal_soon.join()
    kept = connection.connection
    connection_after_interrupt()
    assert connection.connection is kept
    with transaction.atomic():
        assert not JobRun.objects.select_for_update().exists()


def test_a_connection_left_in_the_middle_of_a_statement_is_replaced() -> None:
    """Seen on a loaded machine: the signal left the connection in the middle of a statement
    (psycopg's cancel did not get through), so recording the interruption failed with
    "connection in transaction status ACTIVE", and the run stayed 'running' until its lease
    ran out. Such a connection is closed and the next query opens a fresh one."""
    from django.db import connection, transaction

    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.services import connection_after_interrupt

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's connection state; the PostgreSQL pass runs it")
    connection.ensure_connection()
    left = connection.connection
    left.pgconn.send_query(b"SELECT pg_sleep(20)")  # sent, its answer never read
    with pytest.raises(Exception, match="ACTIVE"), transaction.atomic():
        pass
    connection_after_interrupt()
    with transaction.atomic():
        assert not JobRun.objects.select_for_update().exists()
    assert connection.connection is not left


class _Counts:
    """One unit per run; notes the key of every task it executes."""

    per_run = True
    thread_safe = True

    def __init__(self) -> None:
        self.executed: list[str] = []

    def collect(self, manager: Any) -> Any:
        return [("0", "unit #0", {})]

    def execute(self, manager: Any, task: Any) -> dict[str, Any]:
        self.executed.append(task.key)
        return {}

    def summarize(self, manager: Any, tasks: list[Any]) -> dict[str, Any]:
        return {}


@pytest.mark.django_db(transaction=True)
def test_a_task_claimed_after_its_driver_stopped_gives_itself_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A task thread still taking its claim when the driver stops (SIGTERM): the claims the
    driver gives back were read before this one was taken, so the task sat 'running' until
    its lease ran out (a minute by default) while the process went away, and the next run
    waited for it. It now gives itself back: queued, the attempt not counted, not executed;
    and the run, driven again by the same process, runs it."""
    from django.db import connection
    from django.utils import timezone

    from stratoflow.server.workflow import managers, services
    from stratoflow.server.workflow.leases import heartbeat
    from stratoflow.server.workflow.models import Job, JobRun, Task, TaskManager

    kind = _Counts()
    managers.register("counts", kind)
    try:
        job = Job.objects.create(name="late-claim")
        manager = TaskManager.objects.create(job=job, name="work", kind="counts")
        run = JobRun.objects.create(
            job=job, scheduled_for=timezone.now(), state="running", owner="driver-here"
        )
        task = Task.objects.create(manager=manager, run=run, key="0", subject="unit #0")
        claim, taking = services._claim, threading.Event()

        def slow_claim(task_id: int, token: str) -> Any:
            taking.wait(30)  # the driver stops while this thread is about to claim
            return claim(task_id, token)

        monkeypatch.setattr(services, "_claim", slow_claim)
        outcome: list[str] = []

        def execute() -> None:
            try:
                outcome.append(services.task_execute(task.pk))
            finally:
                connection.close()

        others = heartbeat().claims()  # of task threads other tests left, if any
        thread = threading.Thread(target=execute)
        thread.start()
        deadline = time.monotonic() + 30
        while not heartbeat().claims() - others:
            assert time.monotonic() < deadline, "the task thread never held its claim"
            time.sleep(0.01)
        assert services.run_interrupt(run, "driver-here", "interrupted: SIGTERM", here=True) == 0
        taking.set()
        thread.join(30)
        assert outcome == ["not-ready"]
        task.refresh_from_db()
        assert (task.state, task.claim, task.attempts, kind.executed) == ("queued", "", 0, [])
        assert heartbeat().claims() <= others

        monkeypatch.setattr(services, "_claim", claim)
        report = services.job_run(job, workers=1)
        assert report.state == "succeeded"
        task.refresh_from_db()
        run.refresh_from_db()
        assert (run.state, task.state, kind.executed.count("0")) == ("succeeded", "done", 1)
    finally:
        managers._KINDS.pop("counts", None)
