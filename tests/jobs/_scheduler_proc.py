"""A scheduler process on a simulated clock, for tests: ``python _scheduler_proc.py ORIGIN
EPOCH SPEED HOLDER``. SIGTERM stops it cleanly; SIGKILL is what the test uses to "crash" it."""

from __future__ import annotations

import signal
import sys
from datetime import datetime
from types import FrameType

from stratoflow.server import setup


def main() -> None:
    setup()
    from stratoflow.jobs.clock import ScaledClock
    from stratoflow.server.workflow.executors import InProcessExecutor
    from stratoflow.server.workflow.scheduler import Scheduler

    origin, epoch, speed, holder = sys.argv[1:5]
    clock = ScaledClock(datetime.fromisoformat(origin), float(epoch), float(speed))
    scheduler = Scheduler(
        clock=clock, executor=InProcessExecutor(workers=2), holder=holder, tick_seconds=0.1
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        scheduler.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    scheduler.run()


if __name__ == "__main__":
    main()
