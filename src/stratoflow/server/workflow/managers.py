"""Task manager kinds: what "collect" and "execute" mean for import and export.

ImportManager = TransferHandler.get -> Reader -> Importer (+ basic/advanced QC), leaving each
flight awaiting the PI's review; it can also re-process the files it imported with its current
configuration (``reprocess``, see :mod:`stratoflow.server.workflow.reprocess`); a kind
without that method cannot. ExportManager = Exporter -> Writer -> TransferHandler.put for
every flight the PI approved and that has not been delivered in its current version.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stratoflow.errors import ConfigError, ImportFailed, TaskError, TransientTransferError
from stratoflow.jobs.states import TaskState
from stratoflow.server.workflow.models import Task, TaskManager

if TYPE_CHECKING:
    from stratoflow.server.workflow.reprocess import ManagerPlan, Selection

__all__ = [
    "ExportManager",
    "ImportManager",
    "ManagerKind",
    "NoopManager",
    "get",
    "known",
    "register",
]

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

    #: a staged file is the transfer handler's: one task for it among all managers on it
    transfer_wide = True

    def collect(self, manager: TaskManager) -> Iterable[Unit]:
        from stratoflow.server.workflow.transfers import collect_files

        if manager.transfer is None:
            raise ConfigError(f"import manager {manager}: no transfer handler configured")
        return collect_files(
            manager,
            lambda staged: {
                "identity": staged.identity,
                "staged_path": str(staged.path),
                "sha256": staged.sha256,
                "size": staged.size,
            },
        )

    def execute(self, manager: TaskManager, task: Task) -> dict[str, Any]:
        from stratoflow.server.workflow.transfers import execute_file

        return execute_file(manager, task, lambda path: self._import(manager, task, path))

    def _import(self, manager: TaskManager, task: Task, path: Path) -> dict[str, Any]:
        from stratoflow.importers.series import import_file
        from stratoflow.server.workflow.services import task_fence

        options = dict(manager.options)
        provider = manager.transfer.provider.name if manager.transfer else ""
        processing = options.get("processing") or ()
        result = import_file(
            path,
            # a renamed copy is re-processed as the file the catalog knows its bytes by
            identity=task.details.get("catalog_identity") or task.details["identity"],
            provider=provider,
            reader=options.get("reader"),
            reader_options=options.get("reader_options") or {},
            qc=options.get("qc", {}),
            level=options.get("level", "L0"),
            processing=processing,
            references=self._references(
                manager, task.details.get("identity", task.subject), options.get("references") or {}
            )
            if processing
            else None,
            instrument=options.get("instrument"),
            requalify="reprocess" in task.details,
            # nothing is stored should the run have given the task up meanwhile
            fence=lambda: task_fence(task),
        )
        # a restored earlier version is not approved by an earlier decision, nor are the
        # flags of a new QC run: review them again
        review = options.get("review", True) and (
            result.created or result.restored or result.requalified
        )
        return {
            "state": TaskState.AWAITING_REVIEW if review else TaskState.DONE,
            "flight": result.flight,
            "created": result.created,
            "restored": result.restored,
            "requalified": result.requalified,
            "series": result.series_ids,
            "points": result.points,
            "flags": result.flag_counts,
            "config_key": result.result.series[0].provenance.get("config_key", "")
            if result.result is not None and result.result.series
            else "",
        }

    def reprocess(self, manager: TaskManager, selection: Selection) -> ManagerPlan:
        """The files this manager imported that its current configuration would change.

        The plan (see :mod:`stratoflow.server.workflow.reprocess`) lists them with the
        settings that changed, and the files that cannot be re-processed with the reason;
        its items' tasks are executed by :meth:`execute` like any import, so new versions
        await the PI's review as after a first import. Reference files are resolved once for
        the whole plan, fetched as a task would fetch them.
        """
        from stratoflow.server.workflow.reprocess import reprocess_plan

        options = dict(manager.options)
        references = None
        if options.get("processing"):
            references = self._references(manager, manager.name, options.get("references") or {})
        return reprocess_plan(manager, selection, references)

    def _references(
        self, manager: TaskManager, subject: str, specs: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Resolve the job's reference specs into files for the importer.

        A job names a reference by a file-name ``pattern`` at a provider, fetched through this
        manager's transfer handler or the one named by ``transfer``; the importer picks, of
        the matching files, the one whose time span overlaps the data most (``tolerance_s``
        widens the data's span). An absolute ``path`` names one file on the worker's disk.
        Example option::

            references:
              aircraft: {pattern: "*.HAL", reader: delimited,
                         reader_options: {preset: fairo_hal}}
        """
        from stratoflow.server.workflow.models import TransferHandler as TransferHandlerRow
        from stratoflow.server.workflow.transfers import fetch_matching

        resolved: dict[str, Any] = {}
        for name, given in specs.items():
            spec = {"path": given} if isinstance(given, str) else dict(given)
            what = f"{subject}: reference {name!r}"
            unknown = set(spec) - _REFERENCE_KEYS
            if unknown:
                raise ConfigError(
                    f"{what}: unknown keys {sorted(unknown)}; known {_REFERENCE_KEYS}"
                )
            if "path" in spec:
                if not Path(str(spec["path"])).is_absolute():
                    raise ConfigError(
                        f"{what}: path {spec['path']!r} is relative; in a job name the file "
                        "by 'pattern' (fetched through a transfer handler) or by absolute path"
                    )
                resolved[name] = spec
                continue
            if not spec.get("pattern"):
                raise ConfigError(f"{what}: needs 'pattern' (with optional 'transfer') or 'path'")
            row = manager.transfer
            if spec.get("transfer"):
                row = TransferHandlerRow.objects.filter(name=spec["transfer"]).first()
                if row is None:
                    raise ConfigError(f"{what}: no transfer handler named {spec['transfer']!r}")
            if row is None:
                raise ConfigError(f"{what}: no transfer handler to fetch {spec['pattern']!r}")
            origin = f"{spec['pattern']} via transfer handler {row.name!r}"
            staged = fetch_matching(row, str(spec["pattern"]))
            if not staged:
                raise ImportFailed(
                    f"{what}: missing, no file matching {spec['pattern']!r} at "
                    f"{row.provider.name!r} (transfer handler {row.name!r})"
                )
            resolved[name] = {
                **{k: v for k, v in spec.items() if k not in ("pattern", "transfer")},
                "origin": origin,
                "candidates": [{"path": str(f.path), "identity": f.identity} for f in staged],
            }
        return resolved

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


class NoopManager:
    """Cheap synthetic tasks for drills, tests and benchmarks; no data is touched.

    Options: ``tasks`` (how many per run, default 1), ``sleep`` (seconds per task),
    ``release`` (a file whose existence ends the ``sleep`` early: a test holds its tasks
    running for exactly as long as it needs, not for a guessed number of seconds), ``log``
    (a file each execution appends its key to, so tests can count executions), ``fail``
    (task numbers that fail permanently), ``transient`` (``{number: times}``: fail with a
    transient error that many times first) and ``hang`` (``{number: seconds}``: sleep that
    long, a read stuck on a dead mount; with ``stubborn`` through whatever is raised into the
    sleep, such as a Celery soft time limit, like a call stuck in C code). Keys are per run
    (``per_run``), so every occurrence gets its own tasks.
    """

    per_run = True
    thread_safe = True

    def collect(self, manager: TaskManager) -> Iterable[Unit]:
        count = int(manager.options.get("tasks", 1))
        return ((f"{i:06d}", f"noop #{i}", {"number": i}) for i in range(count))

    def execute(self, manager: TaskManager, task: Task) -> dict[str, Any]:
        options = manager.options
        number = int(task.details.get("number", 0))
        if options.get("sleep"):
            _sleep(float(options["sleep"]), options.get("release"))
        hang = {int(k): float(v) for k, v in options.get("hang", {}).items()}
        if number in hang:
            _hang(hang[number], options.get("release"), stubborn=bool(options.get("stubborn")))
        if options.get("log"):
            fd = os.open(str(options["log"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{task.key}\n".encode())
            finally:
                os.close(fd)
        if number in options.get("fail", []):
            raise TaskError(f"noop task #{number} fails permanently (as configured)")
        transient = {int(k): int(v) for k, v in options.get("transient", {}).items()}
        if task.attempts <= transient.get(number, 0):
            raise TransientTransferError(f"noop task #{number}: transient failure {task.attempts}")
        return {"state": TaskState.DONE}

    def summarize(self, manager: TaskManager, tasks: list[Task]) -> dict[str, Any]:
        return {"tasks": len(tasks)}


def _sleep(seconds: float, release: str | None) -> None:
    """Sleep ``seconds``, or until the file ``release`` exists if that comes first."""
    if not release:
        time.sleep(seconds)
        return
    deadline = time.monotonic() + seconds
    while not os.path.exists(release) and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(0.02, left))


def _hang(seconds: float, release: str | None, *, stubborn: bool) -> None:
    """:func:`_sleep`; ``stubborn``: on through exceptions raised into it, to the end."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            _sleep(left, release)
            return
        except Exception:
            if not stubborn:
                raise


_REFERENCE_KEYS = {"path", "pattern", "transfer", "reader", "reader_options", "tolerance_s"}

_KINDS: dict[str, ManagerKind] = {
    "import": ImportManager(),
    "export": ExportManager(),
    "noop": NoopManager(),
}


def register(kind: str, impl: ManagerKind) -> None:
    """Add (or replace) a task manager kind, e.g. from a site's own module."""
    _KINDS[kind] = impl


def known() -> list[str]:
    """The names of the registered kinds."""
    return sorted(_KINDS)


def get(kind: str) -> ManagerKind:
    """The implementation of a task manager kind."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise ConfigError(f"unknown task manager kind {kind!r}; known: {sorted(_KINDS)}") from None
