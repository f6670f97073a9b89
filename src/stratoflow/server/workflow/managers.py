"""Task manager kinds: what "collect" and "execute" mean for import and export.

ImportManager = TransferHandler.get -> Reader -> Importer (+ basic/advanced QC), leaving each
flight awaiting the PI's review. ExportManager = Exporter -> Writer -> TransferHandler.put for
every flight the PI approved and that has not been delivered in its current version.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from stratoflow.errors import ConfigError
from stratoflow.jobs.states import TaskState
from stratoflow.server.workflow.models import Task, TaskManager

__all__ = ["ExportManager", "ImportManager", "ManagerKind", "get"]

Unit = tuple[str, str, dict[str, Any]]


class ManagerKind(Protocol):
    """What a task manager kind must provide."""

    def collect(self, manager: TaskManager) -> Iterable[Unit]:
        """Find the new units of work: (idempotency key, subject, details)."""

    def execute(self, manager: TaskManager, task: Task) -> dict[str, Any]:
        """Do one task; return details to record, with ``state`` for the final state."""

    def summarize(self, manager: TaskManager, tasks: list[Task]) -> dict[str, Any]:
        """Totals of a run for reports."""


class ImportManager:
    """Fetch new files, read them, import them, run QC; leave them awaiting review."""

    def collect(self, manager: TaskManager) -> Iterable[Unit]:
        from stratoflow.server.workflow.transfers import fetch_new

        if manager.transfer is None:
            raise ConfigError(f"import manager {manager}: no transfer handler configured")
        for staged in fetch_new(manager.transfer):
            key = f"{staged.identity}@{staged.sha256}"
            yield (
                key,
                staged.identity,
                {
                    "identity": staged.identity,
                    "staged_path": str(staged.path),
                    "sha256": staged.sha256,
                    "size": staged.size,
                },
            )

    def execute(self, manager: TaskManager, task: Task) -> dict[str, Any]:
        from stratoflow.importers.series import import_file

        options = dict(manager.options)
        provider = manager.transfer.provider.name if manager.transfer else ""
        result = import_file(
            Path(task.details["staged_path"]),
            identity=task.details["identity"],
            provider=provider,
            reader=options.get("reader"),
            reader_options=options.get("reader_options") or {},
            qc=options.get("qc", {}),
            level=options.get("level", "L0"),
        )
        review = options.get("review", True) and result.created
        return {
            "state": TaskState.AWAITING_REVIEW if review else TaskState.DONE,
            "flight": result.flight,
            "created": result.created,
            "series": result.series_ids,
            "points": result.points,
            "flags": result.flag_counts,
        }

    def summarize(self, manager: TaskManager, tasks: list[Task]) -> dict[str, Any]:
        points = sum(int(t.details.get("points", 0)) for t in tasks)
        flags: dict[str, int] = {}
        for task in tasks:
            for name, count in task.details.get("flags", {}).items():
                flags[name] = flags.get(name, 0) + int(count)
        return {"files": len(tasks), "points": points, "flags": flags}


class ExportManager:
    """Export every released flight not yet delivered in its current version.

    Exporter + Writer + TransferHandler.put; see :mod:`stratoflow.exporters.delivery` for the
    options, the export records and how failed uploads are retried.
    """

    def collect(self, manager: TaskManager) -> Iterable[Unit]:
        from stratoflow.exporters.delivery import collect

        return collect(manager)

    def execute(self, manager: TaskManager, task: Task) -> dict[str, Any]:
        from stratoflow.exporters.delivery import execute

        return execute(manager, task)

    def summarize(self, manager: TaskManager, tasks: list[Task]) -> dict[str, Any]:
        files = [t.details.get("file") for t in tasks if t.state == TaskState.DONE]
        return {"files": len(files), "exported": files}


_KINDS: dict[str, ManagerKind] = {"import": ImportManager(), "export": ExportManager()}


def get(kind: str) -> ManagerKind:
    """The implementation of a task manager kind."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise ConfigError(f"unknown task manager kind {kind!r}; known: {sorted(_KINDS)}") from None
