"""``stratoflow worker``: a Celery worker executing tasks for the scale-out executor.

The driver (scheduler or ``stratoflow job run`` with ``STRATOFLOW_EXECUTOR=celery``) sends
task ids through the broker (``STRATOFLOW_BROKER_URL``); workers claim and execute them. Kill
one at any moment: its unfinished tasks are re-queued when their leases expire, and nothing
finished is ever redone.

The default pool, ``prefork``, runs each task in a process of its own (``--concurrency`` of
them): a task past its manager's ``timeout`` is stopped there, and a process it hangs in
killed and replaced (see :mod:`stratoflow.server.celery`). Import tasks, whose libraries are
not thread-safe, also run side by side only in separate processes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from stratoflow.commands.arguments import positive_int

log = logging.getLogger("stratoflow.worker")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser("worker", help="run a Celery worker for job tasks")
    p.add_argument("--concurrency", type=positive_int, default=4, help="tasks at once (default 4)")
    p.add_argument(
        "--pool",
        choices=["prefork", "threads", "solo"],
        default="prefork",
        help="Celery pool (default prefork: a process per task slot, the only pool that stops "
        "a task at its manager's timeout and replaces a process it hangs in)",
    )
    p.add_argument("--queue", help="queue to consume (default STRATOFLOW_QUEUE or stratoflow)")
    p.add_argument("--loglevel", default="WARNING")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``stratoflow worker`` until stopped."""
    from stratoflow.server import setup
    from stratoflow.server.celery import app, queue_name

    setup()  # workers never migrate: several start at once (the scheduler/serve do)
    if args.pool != "prefork":
        log.warning(
            "--pool %s does not enforce task timeouts: a task past its manager's timeout is "
            "failed by its run, but its %s stays taken until the task returns (use prefork)",
            args.pool,
            "thread" if args.pool == "threads" else "worker",
        )
    # A worker only ever gets tasks a celery driver sends: said once, so an idle worker next
    # to a scheduler left on the in-process executor is not a mystery (broker password masked)
    from django.conf import settings
    from kombu.utils.url import maybe_sanitize_url

    queue = args.queue or queue_name()
    print(
        f"stratoflow worker: taking tasks from queue {queue!r} at "
        f"{maybe_sanitize_url(settings.CELERY_BROKER_URL)}; they are sent by a scheduler or "
        "'stratoflow job run' started with STRATOFLOW_EXECUTOR=celery (the in-process "
        "executor, the default, runs its tasks itself)",
        file=sys.stderr,
        flush=True,
    )
    code = _celery_main(
        app(),
        [
            "worker",
            f"--concurrency={args.concurrency}",
            f"--pool={args.pool}",
            f"--queues={queue}",
            f"--loglevel={args.loglevel}",
            # A node name of its own: Celery names a worker celery@<host>, and on RabbitMQ a
            # second worker of that name on the same machine (scaling out with processes)
            # died at start with RESOURCE_LOCKED on the first one's control queue.
            f"--hostname=stratoflow-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
    )
    return code


def _celery_main(celery_app: Any, argv: list[str]) -> int:
    """Run Celery's command line on ``argv`` and return its exit code.

    What ``celery_app.worker_main`` does, but it drops the code: a worker that died of an
    unrecoverable error (say, the broker refused a queue) exited 0, so a supervisor that
    restarts on failure would not restart it, and a script could not tell.
    """
    from celery.bin.celery import celery as command

    command.params[0].default = celery_app  # the --app option, as Celery.start sets it
    try:
        code = command.main(args=argv, standalone_mode=False)
    finally:
        command.params[0].default = None
    return code if isinstance(code, int) else 0
