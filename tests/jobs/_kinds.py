"""Task kinds for tests of interrupted runs."""

from __future__ import annotations

from typing import Any


class StopsOnce:
    """A task kind whose second unit is where the process is told to stop, once: SIGTERM
    raises :class:`~stratoflow.jobs.interrupt.Terminated` in the thread running it (the
    executor raises it again in the run's driver); run again, every unit succeeds."""

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


class HangsOnFirst:
    """A task kind whose first unit hangs until :attr:`release` is set (at most ``hang``
    seconds), like a read stuck on a dead network mount; the others succeed at once."""

    per_run = True
    thread_safe = True

    def __init__(self, count: int = 3, hang: float = 10.0) -> None:
        import threading

        self.count, self.hang = count, hang
        self.release = threading.Event()

    def collect(self, manager: Any) -> Any:
        return ((f"{i}", f"unit #{i}", {"number": i}) for i in range(self.count))

    def execute(self, manager: Any, task: Any) -> dict[str, Any]:
        if task.details["number"] == 0:
            self.release.wait(self.hang)
        return {}

    def summarize(self, manager: Any, tasks: list[Any]) -> dict[str, Any]:
        return {}
