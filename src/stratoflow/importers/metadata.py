"""The metadata task manager kind: a job's first manager fills the instrument catalog.

"A job could have two task managers — the first manager imports the metadata (e.g.,
instruments data), and the second the series." This kind collects new metadata files through
the manager's transfer handler, exactly like the import kind collects data files, and upserts
each into the catalog (see :mod:`stratoflow.server.catalog.metadata`), so the series imported
by the next manager find their instruments, deployments and calibrations. A file may be YAML or
an ``.xlsx`` workbook (see :mod:`stratoflow.server.catalog.spreadsheet`); the format is told by
the file's content, and both go through the same validation, upsert and audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratoflow.errors import ConfigError

if TYPE_CHECKING:
    from stratoflow.server.workflow.models import Task, TaskManager

__all__ = ["MetadataManager"]


class MetadataManager:
    """Fetch new metadata files and import them into the catalog (kind ``metadata``)."""

    def collect(self, manager: TaskManager) -> Iterable[tuple[str, str, dict[str, Any]]]:
        from stratoflow.server.workflow.transfers import collect_files

        if manager.transfer is None:
            raise ConfigError(f"metadata manager {manager}: no transfer handler configured")
        return collect_files(
            manager,
            lambda staged: {"identity": staged.identity, "staged_path": str(staged.path)},
        )

    def execute(self, manager: TaskManager, task: Task) -> dict[str, Any]:
        from stratoflow.jobs.states import TaskState
        from stratoflow.server.catalog.metadata import metadata_import_file
        from stratoflow.server.workflow.transfers import execute_file

        def work(path: Path) -> dict[str, Any]:
            report = metadata_import_file(
                path,
                who=f"job {manager.job.name}/{manager.name}",
                identity=task.details["identity"],
            )
            return {
                "state": TaskState.DONE,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
            }

        return execute_file(manager, task, work)

    def summarize(self, manager: TaskManager, tasks: list[Task]) -> dict[str, Any]:
        totals: dict[str, int] = {"created": 0, "updated": 0, "unchanged": 0}
        for task in tasks:
            for what in totals:
                totals[what] += sum(int(n) for n in task.details.get(what, {}).values())
        return {"files": len(tasks), **totals}
