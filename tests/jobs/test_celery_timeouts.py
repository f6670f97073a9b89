"""A task manager's ``timeout`` on Celery workers: real ``stratoflow worker`` processes (the
default prefork pool), the real broker (Redis, and RabbitMQ once) and PostgreSQL.

The worker has one slot, so the sibling task of the hung one runs only once the hung one has
been stopped (soft time limit) or its process killed and replaced (hard time limit); before,
a worker ran a hung task forever and its slot with it.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
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
# longer than the tests' other children's (tests/conftest.py: CHILD_LEASE), so that on a
# loaded machine a few missed heartbeats do not end a task as lost before its 2 s timeout
LEASE = "3"
HANG = 60.0  # how long the hung task sleeps: far past every bound the tests wait


def _worker(env: dict[str, str], queue: str) -> subprocess.Popen[bytes]:
    """One ``stratoflow worker`` with one slot, its pool the default one."""
    return subprocess.Popen(
        [sys.executable, "-m", "stratoflow.cli", "worker", "--concurrency", "1", "--queue", queue],
        env={**env, "STRATOFLOW_QUEUE": queue, "STRATOFLOW_LEASE_SECONDS": LEASE},
    )


def _run(job: Any, queue: str) -> tuple[Any, float]:
    from stratoflow.server.workflow.executors import CeleryExecutor
    from stratoflow.server.workflow.services import job_run

    started = time.monotonic()
    try:
        report = job_run(job, executor=CeleryExecutor(queue=queue))
    finally:
        _purge(queue)
    return report, time.monotonic() - started


def _purge(queue: str) -> None:
    from stratoflow.server.celery import app

    with app().connection_for_write() as conn:
        try:
            conn.default_channel.queue_purge(queue)
            conn.default_channel.queue_delete(queue)
        except Exception:  # best effort clean-up
            pass


def _hung_job(make_job: MakeJob, name: str, *, stubborn: bool) -> Any:
    """Two tasks: #0 hangs (:data:`HANG` s), #1 succeeds at once; a 2 s timeout, one attempt."""
    job = make_job(name, tasks=2, max_attempts=1, hang={"0": HANG}, stubborn=stubborn)
    job.managers.update(timeout=2)
    return job


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_hung_task_is_stopped_at_its_timeout_and_its_sibling_runs(
    make_job: MakeJob,
    tmp_path: Path,
    child_env: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    executions: Executions,
    settings: Any,
    broker: str,
) -> None:
    """The soft time limit: the hung body is interrupted, its task fails as timed out with
    the timeout and the job named, and the worker's slot runs the other task."""
    from stratoflow.server import celery as celery_module
    from stratoflow.server.workflow.models import Task

    settings.STRATOFLOW_LEASE_SECONDS = float(LEASE)
    env = child_env
    saved = celery_module._app
    if broker == "rabbitmq":
        amqp = "amqp://guest:guest@127.0.0.1:5672//"
        settings.CELERY_BROKER_URL = amqp
        env = {**child_env, "STRATOFLOW_BROKER_URL": amqp}
        celery_module._app = None  # built again with the amqp broker
    try:
        queue = f"stratoflow-test-{uuid.uuid4().hex[:8]}"
        processes.append(_worker(env, queue))
        job = _hung_job(make_job, f"soft-{broker}", stubborn=False)
        report, took = _run(job, queue)
    finally:
        celery_module._app = saved
    tasks = {t.subject: t for t in Task.objects.filter(manager__job=job)}
    hung, sibling = tasks["noop #0"], tasks["noop #1"]
    assert sibling.state == "done", (sibling.state, sibling.error, took)
    assert report.state == "failed" and took < HANG / 2, took  # not held by the hung task
    assert hung.state == "failed", hung.state
    timed_out = "noop #0: timed out after 2 s (the timeout of task manager 'work' of job 'soft-"
    assert timed_out in hung.error, hung.error
    assert "stopped at its time limit" in hung.error, hung.error
    assert executions(tmp_path / f"soft-{broker}.log") == {sibling.key: 1}  # #0 never ended
    assert processes[0].poll() is None  # the worker is still there


def test_a_task_that_ignores_its_soft_limit_is_killed_with_its_process(
    make_job: MakeJob,
    tmp_path: Path,
    child_env: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    executions: Executions,
    settings: Any,
) -> None:
    """The hard time limit: the process the stubborn body hangs in is killed and replaced
    (the sibling runs in the new one), and the task, whose lease is no longer renewed, is
    failed as timed out by its run instead of staying 'running'."""
    from stratoflow.server.workflow.models import Task

    settings.STRATOFLOW_LEASE_SECONDS = float(LEASE)
    queue = f"stratoflow-test-{uuid.uuid4().hex[:8]}"
    processes.append(_worker(child_env, queue))
    job = _hung_job(make_job, "hard", stubborn=True)
    report, took = _run(job, queue)
    tasks = {t.subject: t for t in Task.objects.filter(manager__job=job)}
    hung, sibling = tasks["noop #0"], tasks["noop #1"]
    assert sibling.state == "done", (sibling.state, sibling.error, took)
    assert report.state == "failed" and took < HANG / 2, took  # not held by the hung task
    assert hung.state == "failed" and "timed out" in hung.error, hung.error
    assert "timeout (2 s)" in hung.error, hung.error
    assert executions(tmp_path / "hard.log") == {sibling.key: 1}
    assert processes[0].poll() is None


def test_a_worker_whose_pool_cannot_stop_tasks_says_so(
    child_env: dict[str, str], processes: list[subprocess.Popen[bytes]]
) -> None:
    """``--pool threads`` (the default before) enforces no time limit: said at start."""
    queue = f"stratoflow-test-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "stratoflow.cli", "worker", "--pool", "threads", "--queue", queue],
        env={**child_env, "STRATOFLOW_QUEUE": queue},
        stderr=subprocess.PIPE,
    )
    processes.append(worker)
    assert worker.stderr is not None
    first = worker.stderr.readline().decode()
    second = worker.stderr.readline().decode()
    worker.terminate()
    worker.communicate(timeout=30)  # reads and closes its stderr
    assert "--pool threads does not enforce task timeouts" in first, first
    assert "use prefork" in first
    # where its tasks come from: an idle worker beside an in-process scheduler is explained
    assert f"taking tasks from queue {queue!r} at " in second, second
    assert "STRATOFLOW_EXECUTOR=celery" in second
    _purge(queue)
