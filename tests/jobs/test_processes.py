"""Real processes on the real PostgreSQL (and Redis): schedulers handing over, Celery workers.

- Two scheduler processes on one simulated day (a scaled clock: 1 simulated hour = 0.5 s)
  create and run every hourly occurrence exactly once; SIGKILL of the active one mid-run
  hands over to the other without losing or duplicating anything.
- 300 cheap tasks on 2 Celery worker processes end done exactly once, also when one
  worker is SIGKILLed mid-run (after 100: the other does the rest, and what the dead one
  held is redelivered).

Executions are counted from the noop task kind's append-only log: a task body may run a
second time only if its first worker died while running it (then the task shows 2 attempts);
its completion is recorded once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.services,
    pytest.mark.slow,
]

MakeJob = Callable[..., Any]
Executions = Callable[[Path], dict[str, int]]
HERE = Path(__file__).resolve().parent
LEASE = "1.5"  # the children's lease time (tests/conftest.py: CHILD_LEASE)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_two_schedulers_run_each_occurrence_once_and_hand_over_on_sigkill(
    make_job: MakeJob,
    tmp_path: Path,
    child_env: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    executions: Executions,
) -> None:
    from stratoflow.server.workflow.models import JobRun, SchedulerLease, Task

    start = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # the day spans Berlin's spring forward
    job = make_job("hourly", tasks=4, concurrency=2, sleep=0.15)
    job.frequency, job.interval, job.timezone = "hourly", 1, "Europe/Berlin"
    job.start, job.end = start, start + timedelta(hours=23)
    job.catch_up, job.catch_up_cap = "all", 48
    job.save()
    speed = 3600 / 0.5
    epoch = time.time() + 2.0  # simulated 19:59:59... until the processes are up
    origin = start - timedelta(seconds=1)
    holders = {f"A-{uuid.uuid4().hex[:6]}": 0, f"B-{uuid.uuid4().hex[:6]}": 1}
    for holder in holders:
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "_scheduler_proc.py"),
                    origin.isoformat(),
                    str(epoch),
                    str(speed),
                    holder,
                ],
                env=child_env,
            )
        )
    succeeded = JobRun.objects.filter(job=job, state="succeeded")
    _wait(lambda: succeeded.count() >= 6, 40, "6 runs")
    leader = SchedulerLease.objects.get().holder
    _wait(lambda: JobRun.objects.filter(state="running", owner=leader).exists(), 10, "a run")
    interrupted = JobRun.objects.get(state="running", owner=leader)
    before_kill = set(JobRun.objects.filter(state="succeeded").values_list("owner", flat=True))
    processes[holders[leader]].send_signal(signal.SIGKILL)
    survivor = next(h for h in holders if h != leader)

    _wait(lambda: succeeded.count() == 24, 60, "all 24 runs")
    time.sleep(1.0)  # a duplicate would show up now
    processes[holders[survivor]].send_signal(signal.SIGTERM)
    assert processes[holders[survivor]].wait(timeout=20) == 0

    expected = [start + timedelta(hours=h) for h in range(24)]
    runs = list(JobRun.objects.filter(job=job).order_by("scheduled_for"))
    assert [r.scheduled_for for r in runs] == expected
    assert {r.state for r in runs} == {"succeeded"}
    assert before_kill == {leader}  # only the active scheduler ran anything
    interrupted.refresh_from_db()
    assert interrupted.owner == survivor  # resumed by the standby
    assert SchedulerLease.objects.get().holder == survivor

    tasks = {t.key: t for t in Task.objects.filter(manager__job=job)}
    assert len(tasks) == 96 and {t.state for t in tasks.values()} == {"done"}
    counts = executions(tmp_path / "hourly.log")
    assert set(counts) == set(tasks)
    twice = [key for key, n in counts.items() if n > 1]
    assert all(counts[k] == 2 and tasks[k].attempts == 2 for k in twice)
    assert len(twice) <= 2  # at most the tasks the killed process was running


def _worker(env: dict[str, str], queue: str, name: str) -> subprocess.Popen[bytes]:
    del name
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stratoflow.cli",
            "worker",
            "--concurrency",
            "4",
            "--pool",
            "threads",
            "--queue",
            queue,
            "--loglevel",
            "ERROR",
        ],
        env={**env, "STRATOFLOW_QUEUE": queue},
    )


@pytest.mark.parametrize("kill", [False, True], ids=["steady", "sigkill-one-worker"])
def test_hundreds_of_tasks_on_two_celery_workers_done_exactly_once(
    make_job: MakeJob,
    tmp_path: Path,
    child_env: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    executions: Executions,
    settings: Any,
    kill: bool,
) -> None:
    from stratoflow.server.workflow.executors import CeleryExecutor
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    settings.STRATOFLOW_LEASE_SECONDS = float(LEASE)
    queue = f"stratoflow-test-{uuid.uuid4().hex[:8]}"
    processes.append(_worker(child_env, queue, "w1"))
    processes.append(_worker(child_env, queue, "w2"))
    job = make_job("celery", tasks=300, concurrency=16, sleep=0.002 if kill else 0)
    done = Task.objects.filter(manager__job=job, state="done")
    killed: list[int] = []

    def progress(manager: str, counts: dict[str, int], elapsed: float) -> None:
        if kill and not killed and counts.get("done", 0) >= 100:
            processes[0].send_signal(signal.SIGKILL)
            killed.append(counts["done"])

    try:
        report = job_run(job, executor=CeleryExecutor(queue=queue), progress=progress)
    finally:
        _purge(queue)
    assert report.state == "succeeded"
    assert done.count() == 300
    assert kill == bool(killed)
    assert all(n < 300 for n in killed)  # killed mid-run: the other worker did the rest
    tasks = {t.key: t for t in Task.objects.filter(manager__job=job)}
    counts = executions(tmp_path / "celery.log")
    assert set(counts) == set(tasks)
    twice = [key for key, n in counts.items() if n > 1]
    if not kill:
        assert twice == []
    assert all(counts[k] == 2 and tasks[k].attempts == 2 for k in twice)
    assert len(twice) <= 4  # at most what the killed worker's 4 threads were running
    assert not Task.objects.filter(manager__job=job).exclude(error="").exists()


def test_rabbitmq_broker_works_too(
    make_job: MakeJob,
    tmp_path: Path,
    child_env: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    settings: Any,
) -> None:
    """The same executor on RabbitMQ (``amqp://``), a smaller run, by two workers on this
    machine (scaling out with processes): the second of the same Celery node name died at
    start with RESOURCE_LOCKED on the first one's control queue."""
    from stratoflow.server import celery as celery_module
    from stratoflow.server.workflow.executors import CeleryExecutor
    from stratoflow.server.workflow.services import job_run

    amqp = "amqp://guest:guest@127.0.0.1:5672//"
    settings.CELERY_BROKER_URL = amqp
    env = {**child_env, "STRATOFLOW_BROKER_URL": amqp}
    queue = f"stratoflow-test-{uuid.uuid4().hex[:8]}"
    workers = [_worker(env, queue, "rabbit-1"), _worker(env, queue, "rabbit-2")]
    processes.extend(workers)
    saved = celery_module._app
    celery_module._app = None  # build the app again with the amqp broker
    try:
        executor = CeleryExecutor(queue=queue)
        assert executor._app.conf.broker_url == amqp
        _consumed_by(queue, 2, workers)
        report = job_run(make_job("rabbit", tasks=50, concurrency=8), executor=executor)
        _purge(queue)
    finally:
        celery_module._app = saved
    assert report.state == "succeeded" and report.managers[0].states == {"done": 50}


def test_a_worker_that_cannot_start_exits_with_failure(
    child_env: dict[str, str], tmp_path: Path
) -> None:
    """A worker that dies of an unrecoverable error (here RabbitMQ refuses its control queue,
    held by another connection) exits 1, not 0: a supervisor that restarts on failure must
    see it (worker_main dropped Celery's exit code)."""
    import socket

    from kombu import Connection

    amqp = "amqp://guest:guest@127.0.0.1:5672//"
    queue = f"stratoflow-test-{uuid.uuid4().hex[:8]}"
    worker = f"exec {sys.executable} -m stratoflow.cli worker --pool solo --queue {queue}"
    # the shell prints its pid, which the worker keeps (exec), and starts the worker once
    # the test has taken the queue
    taken = tmp_path / "taken"
    wait = f"while [ ! -e {taken} ]; do sleep 0.05; done"
    child = subprocess.Popen(
        ["bash", "-c", f"echo $$; {wait}; {worker}"],
        env={**child_env, "STRATOFLOW_BROKER_URL": amqp},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pid = int(child.stdout.readline())  # type: ignore[union-attr]
        with Connection(amqp) as conn:
            pidbox = f"stratoflow-{pid}@{socket.gethostname()}.celery.pidbox"
            conn.default_channel.queue_declare(pidbox, exclusive=True, auto_delete=True)
            taken.touch()
            _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert "RESOURCE_LOCKED" in err, err
    assert child.returncode == 1, err


def _consumed_by(queue: str, count: int, workers: list[subprocess.Popen[bytes]]) -> None:
    """Wait until ``count`` consumers take from ``queue``, every worker still running."""
    from stratoflow.server.celery import app

    deadline = time.monotonic() + 60
    while True:
        assert all(w.poll() is None for w in workers), [w.returncode for w in workers]
        with app().connection_for_write() as conn:
            try:
                consumers = conn.default_channel.queue_declare(queue, passive=True).consumer_count
            except conn.channel_errors:  # not declared by a worker yet
                consumers = 0
        if consumers >= count:
            return
        assert time.monotonic() < deadline, f"{consumers} of {count} consumers"
        time.sleep(0.2)


def _purge(queue: str) -> None:
    """Remove the test queue's leftovers (redelivered duplicates) from the broker."""
    from stratoflow.server.celery import app

    with app().connection_for_write() as conn:
        try:
            conn.default_channel.queue_purge(queue)
            conn.default_channel.queue_delete(queue)
        except Exception:  # best effort clean-up
            pass
