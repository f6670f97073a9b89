"""Task kinds for tests of interrupted runs."""

from __future__ import annotations

from typing import Any


class StopsOnce:
    """A task kind whose second unit is where the process is told to stop, once: SIGTERM
    raises :class:`~stratoflow.jobs.interrupt.Terminated` in the thread running it (the
    driver's own, with one worker); run again, every unit succeeds."""

    per_run = True
    thread_safe = True

    def __init__(self) -> None:
        self.stopped = False

    def collect(self, manager: Any) -> Any:
        return ((f"{i}", f"unit #{i}", {"number": i}) for i in range(3))

    def execute(self, manager: Any, task: Any) -> dict[str, Any]:
        from stratoflow.jobs.interrupt import Terminated

        if task.details["number"] == 1 and not self.stopped:
            self.stopped = True
            raise Terminated("terminated by SIGTERM")
        return {}

    def summarize(self, manager: Any, tasks: list[Any]) -> dict[str, Any]:
        return {}


class StopsCollectingOnce:
    """A task kind whose collect is where the process is told to stop, once (SIGTERM during
    a long listing): :class:`~stratoflow.jobs.interrupt.Terminated` before any of its tasks
    exists; collected again, it finds one unit, which succeeds."""

    per_run = True
    thread_safe = True

    def __init__(self) -> None:
        self.stopped = False

    def collect(self, manager: Any) -> Any:
        from stratoflow.jobs.interrupt import Terminated

        if not self.stopped:
            self.stopped = True
            raise Terminated("terminated by SIGTERM")
        return [("listed", "listed unit", {})]

    def execute(self, manager: Any, task: Any) -> dict[str, Any]:
        return {}

    def summarize(self, manager: Any, tasks: list[Any]) -> dict[str, Any]:
        return {}
