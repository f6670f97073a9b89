"""A task its run gave up on records nothing: no imported data, no late 'done'.

A task past its manager's timeout is failed (or re-queued) by its run while its body may
still run (a thread cannot be stopped). When that body finally imports its file, the import's
transaction checks that the task is still its to record (:func:`task_fence`) and is rolled
back otherwise. A real import of a real IAGOS file, on the real database.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings

from _jobs import join_abandoned, one_manager_job, timed_out, transfer_handler
from stratoflow.server.workflow.managers import ImportManager

pytestmark = pytest.mark.django_db(transaction=True)

IAGOS = "iagos/IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4"


class LateImport(ImportManager):
    """An import whose first execution waits for :attr:`release` (at most 60 s) before it
    imports, like one stuck on a slow mount; what each import raised is kept."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.waited = False
        self.raised: list[BaseException | None] = []

    def execute(self, manager: Any, task: Any) -> dict[str, Any]:
        if not self.waited:
            self.waited = True
            self.release.wait(60)
        try:
            outcome = super().execute(manager, task)
        except BaseException as exc:
            self.raised.append(exc)
            raise
        self.raised.append(None)
        return outcome


@pytest.fixture
def late(settings: LazySettings, tmp_path: Path, shared_data: Path) -> Any:
    """A job importing the IAGOS file through :class:`LateImport` (timeout 1 s, one attempt,
    0.6 s leases); the abandoned thread is released and joined before the database goes."""
    from stratoflow.server.workflow import leases, managers

    settings.STAGING_DIR = tmp_path / "staging"
    settings.STRATOFLOW_LEASE_SECONDS = 0.6
    leases.heartbeat().stop()  # a fresh heartbeat beats at that pace from the start
    leases._heartbeat = None
    kind = LateImport()
    managers.register("late-import", kind)
    transfer = transfer_handler(
        "iagos-dir",
        provider="iagos",
        transfer_type="local",
        transfer_options={"root": str((shared_data / IAGOS).parent), "pattern": "*.nc4"},
    )
    job = one_manager_job(
        "late",
        manager="import",
        kind="late-import",
        transfer=transfer,
        max_attempts=1,
        timeout=1,
        options={"review": False},
    )
    before = set(threading.enumerate())
    yield job, kind
    kind.release.set()
    managers._KINDS.pop("late-import", None)
    join_abandoned(before)


def _rows() -> tuple[int, int]:
    from stratoflow.server.catalog.models import Series, SourceFile

    return SourceFile.objects.count(), Series.objects.count()


def test_an_abandoned_import_that_ends_late_records_nothing(late: Any) -> None:
    """The run failed the task as timed out and ended; then the task's thread, released,
    imported the file: its series were committed behind a failed task (and would have been
    imported a second time by a retry)."""
    from stratoflow.errors import TaskTimedOut
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    job, kind = late
    before = set(threading.enumerate())
    report = job_run(job, workers=1)
    assert report.state == "failed"
    task = Task.objects.get(manager__job=job)
    assert timed_out(task), task.error
    kind.release.set()
    join_abandoned(before)  # the abandoned one
    assert len(kind.raised) == 1  # the late body did import (then was refused)
    assert _rows() == (0, 0)
    refused = kind.raised[0]
    assert isinstance(refused, TaskTimedOut), refused
    assert "timed out after 1 s" in str(refused) and "job 'late'" in str(refused)
    task.refresh_from_db()
    assert timed_out(task), task.error


def test_an_import_within_its_timeout_is_recorded(late: Any) -> None:
    """The fence lets a task that still holds its claim record its import."""
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    job, kind = late
    kind.waited = True  # no waiting: the import runs at once
    job.managers.update(timeout=600)
    report = job_run(job, workers=1)
    assert report.state == "succeeded", report
    task = Task.objects.get(manager__job=job)
    assert task.state == "done" and task.details["points"] > 0
    assert kind.raised == [None]
    sources, series = _rows()
    assert sources == 1 and series > 0
    assert task.deadline_at is None  # its work recorded: no longer subject to the timeout
