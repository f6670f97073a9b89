"""``stratoflow scheduler``: the long-running process that starts due job runs.

Start as many as you like against one database: exactly one is active (it holds the lease
row, renewed by heartbeat); the others wait and take over within about one lease time
(``STRATOFLOW_LEASE_SECONDS``, default 60) when it dies. SIGTERM/SIGINT stop it cleanly and
hand the lease over at once: the runs under way are interrupted (their tasks given back, see
``stratoflow job run``) and the next active scheduler resumes them. Each run executes in a
driver thread of its own, so a long run does not hold up the others' start times.
"""

from __future__ import annotations

import argparse
import logging
import signal
from types import FrameType

from stratoflow.commands.arguments import positive_int, positive_seconds
from stratoflow.server import setup


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser("scheduler", help="run the scheduler (one active per database)")
    p.add_argument(
        "--tick", type=positive_seconds, default=5.0, help="seconds between checks (default 5)"
    )
    p.add_argument(
        "--workers", type=positive_int, default=4, help="in-process task threads (default 4)"
    )
    p.add_argument(
        "--drivers",
        type=positive_int,
        default=4,
        help="runs executed at once, each in its own thread, beside the ticking (default 4)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``stratoflow scheduler`` until stopped."""
    setup(migrate=True)
    from stratoflow.server.workflow.executors import default
    from stratoflow.server.workflow.scheduler import Scheduler

    if args.verbose:  # the settings' LOGGING keeps stratoflow at WARNING otherwise
        logging.getLogger("stratoflow").setLevel(logging.INFO)
    scheduler = Scheduler(
        executor=default(workers=args.workers), tick_seconds=args.tick, drivers=args.drivers
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        scheduler.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"scheduler {scheduler.holder} started", flush=True)
    scheduler.run()
    return 0
