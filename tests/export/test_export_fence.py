"""An export task its run gave up on records nothing, and its file is never delivered twice.

Like an import (``tests/jobs/test_task_fence.py``), an export task past its manager's
timeout is failed or re-queued by its run while its thread may still run. Its export is
recorded only while it still holds its claim; its upload, which cannot be taken back, is
begun only while it holds it, and the next attempt recognises an upload that was begun and
never confirmed, so it does not deliver the file a second time. A real export of a real
flight, delivered to a real HTTP server on 127.0.0.1 that can hold an upload.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from _jobs import join_abandoned, one_manager_job, timed_out, transfer_handler

from ._flights import Imported, approve
from ._http import upload_target

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Target:
    """A REST upload target storing what it is sent; while ``hold`` is set, the first upload
    is held (at most 60 s) until ``release`` is set, after ``held`` says it arrived."""

    hold: bool = False
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    requests: int = 0
    received: list[str] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def target() -> Iterator[Target]:
    state = Target()

    def on_put(name: str, body: bytes) -> int:
        state.requests += 1
        assert body
        if state.hold and state.requests == 1:
            state.held.set()
            state.release.wait(60)
        state.received.append(name)
        return 201

    with upload_target(on_put) as state.url:
        try:
            yield state
        finally:
            state.release.set()  # a held request ends before the server is closed


def _job(target: Target, *, timeout: int, max_attempts: int) -> Any:
    handler = transfer_handler(
        "data-centre",
        provider="data centre",
        transfer_type="http",
        transfer_options={"base_url": target.url, "upload_path": "upload/{name}"},
        auth="none",
    )
    return one_manager_job(
        "export-fenced",
        manager="export",
        kind="export",
        transfer=handler,
        timeout=timeout,
        max_attempts=max_attempts,
        retry_delay=0.01,
        options={"format": "icartt", "retry": {"attempts": 1}},
    )


def test_an_export_written_past_its_timeout_records_nothing(
    imported: Imported, home: Path, target: Target, leases: None, monkeypatch: Any
) -> None:
    """The first attempt's writer is held past the task's timeout (1 s, one attempt): the
    run fails the task as timed out; then the writer, released, finishes the file. Its export
    is not recorded (no record, no version claimed, no file left) and nothing is delivered;
    the next run exports and delivers the flight once, as version 1."""
    from stratoflow.exporters import export as export_module
    from stratoflow.server.exports.models import ExportRecord, ExportVersion
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    approve(imported.identifier)
    job = _job(target, timeout=1, max_attempts=1)
    write = export_module._write_hidden
    release, wrote = threading.Event(), threading.Event()

    def slow_write(*args: Any) -> None:
        if not wrote.is_set():
            release.wait(60)  # a writer stuck on a slow disk
        write(*args)
        wrote.set()

    monkeypatch.setattr(export_module, "_write_hidden", slow_write)
    before = set(threading.enumerate())
    report = job_run(job, workers=1)
    assert report.state == "failed"
    task = Task.objects.get(manager__job=job)
    assert timed_out(task), task.error
    release.set()
    join_abandoned(before)
    assert wrote.is_set()  # the late attempt did write its file, then was refused
    assert not ExportRecord.objects.exists()
    assert not ExportVersion.objects.exists()
    assert target.requests == 0
    outbox = home / "exports" / f"manager-{task.manager_id}"
    assert list(outbox.iterdir()) == []
    task.refresh_from_db()
    assert timed_out(task), task.error

    job.managers.update(timeout=600)
    report = job_run(job, workers=1)
    assert report.state == "succeeded", report
    record = ExportRecord.objects.get()
    assert record.state == "delivered" and record.version == 1
    assert target.received == [record.file_name]


@pytest.mark.parametrize("arrived", [True, False])
def test_an_upload_past_the_timeout_is_not_delivered_again(
    imported: Imported,
    home: Path,
    target: Target,
    leases: None,
    django_user_model: Any,
    arrived: bool,
) -> None:
    """The first attempt's upload is held by the target past the task's timeout: the run
    fails the task as timed out. The held upload then arrives, and its attempt, given up,
    cannot record it as delivered: the record stays 'uploading'. The next run offers the
    content again; its task sees that an upload was begun and never confirmed and does not
    upload it a second time, failing with what to check. Whoever checked the target says in
    the admin whether it arrived: then it is delivered (and not offered again), or the next
    run delivers it again."""
    from django.test import Client

    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    approve(imported.identifier)
    # long enough to write the file within it; the held upload runs past it
    job = _job(target, timeout=_WRITES_WITHIN, max_attempts=1)
    target.hold = True
    before = set(threading.enumerate())
    report = job_run(job, workers=1)
    assert report.state == "failed"
    assert target.held.is_set()  # the upload had begun (the file was written in time)
    task = Task.objects.get(manager__job=job)
    assert timed_out(task), task.error
    target.release.set()
    join_abandoned(before)
    record = ExportRecord.objects.get()
    assert target.requests == 1 and target.received == [record.file_name]  # it arrived
    assert record.state == "uploading" and record.remote == ""
    task.refresh_from_db()
    assert timed_out(task), task.error

    report = job_run(job, workers=1)
    assert report.state == "failed"
    assert target.requests == 1  # not delivered again
    retry = Task.objects.filter(manager__job=job).latest("id")
    assert retry.pk != task.pk and retry.state == "failed"
    assert "never confirmed" in retry.error and "check the target" in retry.error, retry.error
    assert record.file_name in retry.error and "'data-centre'" in retry.error
    assert "admin" in retry.error
    assert ExportRecord.objects.get().state == "uploading"

    client = Client()
    client.force_login(django_user_model.objects.create_superuser("pi", "pi@example.org", "pw"))
    action = "confirm_arrived" if arrived else "confirm_not_arrived"
    response = client.post(
        "/admin/exports/exportrecord/",
        {"action": action, "_selected_action": [str(record.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 unconfirmed upload(s) marked" in response.content.decode()
    record.refresh_from_db()
    assert record.state == ("delivered" if arrived else "failed"), record.state
    assert "pi" in record.error

    report = job_run(job, workers=1)
    assert report.state == "succeeded", report
    if arrived:
        assert report.managers[0].collected == 0 and target.requests == 1
    else:
        assert target.requests == 2 and target.received == [record.file_name] * 2
        assert ExportRecord.objects.filter(state="delivered").count() == 1


#: a timeout the export of the test flight is written within even on a busy machine
_WRITES_WITHIN = 10


def test_an_export_within_its_timeout_is_recorded_and_delivered(
    imported: Imported, home: Path, target: Target, leases: None
) -> None:
    """The fence lets an attempt that holds its claim record and deliver its export."""
    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.models import Task
    from stratoflow.server.workflow.services import job_run

    approve(imported.identifier)
    job = _job(target, timeout=600, max_attempts=1)
    report = job_run(job, workers=1)
    assert report.state == "succeeded", report
    record = ExportRecord.objects.get()
    assert record.state == "delivered" and record.remote and record.delivered_at is not None
    assert target.received == [record.file_name]
    task = Task.objects.get(manager__job=job)
    assert task.state == "done" and task.details["export"] == record.pk
    assert task.deadline_at is None  # delivered and recorded: no longer timed
