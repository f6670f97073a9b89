"""Per-task overhead of stratoflow's executors for no-op tasks, with bare references.

Measured in one run, on the same machine and broker/database:

- ``in-process``: ``job_run`` of a job with one ``noop`` manager on the default in-process
  executor (threads) — every task is a persisted row claimed and settled with conditional
  UPDATEs, under a lease.
- ``celery``: the same job on the Celery executor with 2 ``stratoflow worker`` processes
  (4 threads each) on Redis.
- references: a bare ``ThreadPoolExecutor`` calling a no-op function, and bare Celery (2
  worker processes of a one-task app, the task increments a Redis counter; no database).

"execute" is the rate after the queue was collected (the driver's dispatch loop up to the
last task settled); "total" includes collecting 10,000 Task rows. Uses PostgreSQL at
``STRATOFLOW_BENCH_POSTGRES`` (default ``postgres://postgres@127.0.0.1:5432/postgres``; a
scratch database ``bench_executor`` is created and dropped) and Redis at 127.0.0.1:6379.

    python benchmarks/bench_executor.py [--tasks 10000] [--skip-celery]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import machine

ADMIN_URL = os.environ.get(
    "STRATOFLOW_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = "redis://127.0.0.1:6379/0"
DB_NAME = "bench_executor"


def _scratch_database() -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DB_NAME}")
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"


def _drop_database() -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def _job(name: str, tasks: int, concurrency: int) -> Any:
    from stratoflow.server.workflow.models import Job, TaskManager

    job = Job.objects.create(name=name, frequency="hourly")
    TaskManager.objects.create(
        job=job, name="noop", kind="noop", concurrency=concurrency, options={"tasks": tasks}
    )
    return job


def _run(job: Any, executor: Any) -> tuple[float, float, int]:
    from stratoflow.server.workflow.services import job_run

    last = [0.0]

    def progress(manager: str, counts: dict[str, int], elapsed: float) -> None:
        last[0] = elapsed

    started = time.perf_counter()
    report = job_run(job, executor=executor, progress=progress)
    total = time.perf_counter() - started
    done = report.managers[0].states.get("done", 0)
    return total, last[0], done


def _bare_threads(tasks: int, workers: int) -> float:
    def noop(i: int) -> int:
        return i

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(noop, range(tasks)))
    return time.perf_counter() - started


def _bare_celery(tasks: int) -> float:
    import redis

    counter = f"bench-bare-{uuid.uuid4().hex[:8]}"
    queue = f"{counter}-q"
    env = {**os.environ, "BENCH_COUNTER": counter}
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--bare-worker", queue],
            env=env,
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        app = _bare_app(counter)
        time.sleep(3.0)  # workers up
        started = time.perf_counter()
        for _ in range(tasks):
            app.send_task("bench.incr", queue=queue)
        while int(client.get(counter) or 0) < tasks:
            time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
        client.delete(counter, queue)


def _bare_app(counter: str) -> Any:
    import redis
    from celery import Celery

    app = Celery("bench", broker=REDIS_URL)
    app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_ignore_result=True)
    client = redis.Redis.from_url(REDIS_URL)

    @app.task(name="bench.incr")  # type: ignore[untyped-decorator]
    def incr() -> None:
        client.incr(counter)

    return app


def _celery_workers(queue: str, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
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
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--window", type=int, default=64, help="manager concurrency (64)")
    parser.add_argument("--bare-worker", metavar="QUEUE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:
        app = _bare_app(os.environ["BENCH_COUNTER"])
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                "--concurrency=4",
                "-Q",
                args.bare_worker,
                "--without-gossip",
                "--without-mingle",
                "--loglevel=ERROR",
            ]
        )
        return 0

    print(machine("django", "celery", "kombu", "redis", "psycopg"))
    os.environ["STRATOFLOW_DATABASE_URL"] = _scratch_database()
    os.environ.setdefault("STRATOFLOW_HOME", tempfile.mkdtemp(prefix="bench-executor-"))
    from stratoflow.server import setup

    setup(migrate=True)
    from django.db import connections

    from stratoflow.server.workflow.executors import CeleryExecutor, InProcessExecutor

    n = args.tasks
    rows: list[tuple[str, float, float | None]] = []
    try:
        total, execute, done = _run(_job("inprocess", n, args.window), InProcessExecutor(workers=8))
        assert done == n, f"in-process: {done} of {n} done"
        rows.append(("stratoflow in-process (8 threads)", execute, total))
        rows.append(("bare ThreadPoolExecutor (8 threads)", _bare_threads(n, 8), None))
        if not args.skip_celery:
            queue = f"bench-{uuid.uuid4().hex[:8]}"
            workers = _celery_workers(queue, dict(os.environ))
            try:
                time.sleep(3.0)
                total, execute, done = _run(
                    _job("celery", n, args.window), CeleryExecutor(queue=queue)
                )
                assert done == n, f"celery: {done} of {n} done"
            finally:
                for worker in workers:
                    worker.kill()
                    worker.wait()
            rows.append(("stratoflow Celery (2 workers x 4 threads)", execute, total))
            rows.append(("bare Celery (2 workers x 4 threads, no DB)", _bare_celery(n), None))
    finally:
        connections.close_all()
        _drop_database()

    print(f"\n{n} no-op tasks, PostgreSQL + Redis on 127.0.0.1")
    print(f"{'executor':45s} {'execute tasks/s':>16s} {'us/task':>9s} {'total tasks/s':>14s}")
    for name, execute, total in rows:
        tot = f"{n / total:14.0f}" if total else f"{'-':>14s}"
        print(f"{name:45s} {n / execute:16.0f} {1e6 * execute / n:9.0f} {tot}")
    ref = {r[0]: r[1] for r in rows}
    ours = ref["stratoflow in-process (8 threads)"]
    bare = ref["bare ThreadPoolExecutor (8 threads)"]
    print(f"\nratio in-process / bare threads (time per task): {ours / bare:.0f}x")
    if not args.skip_celery:
        ours = ref["stratoflow Celery (2 workers x 4 threads)"]
        bare = ref["bare Celery (2 workers x 4 threads, no DB)"]
        print(f"ratio stratoflow Celery / bare Celery (time per task): {ours / bare:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
