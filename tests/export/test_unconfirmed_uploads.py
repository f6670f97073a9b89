"""An upload its attempt never confirmed is settled by looking at the target, where it can.

A real export of a real flight, delivered by a job to a real SFTP server on 127.0.0.1. The
first attempt's upload is held by the server (at its first listing, before any byte is sent,
or at the listing after the file was renamed into place) past the task's timeout: its run
gives the task up, so the record stays ``uploading``. What the held upload then does decides
what the target shows, and the next run settles it by that: the whole file there is
delivered (not uploaded twice), nothing there is uploaded again, a temporary ``.part`` left
by a cut connection is left to a person with a message saying so. While the given-up upload
still runs, the target is not looked at. (``test_unconfirmed_upload_kill.py``: the same with
the uploading process killed outright.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _jobs import join_abandoned
from transfer.conftest import SFTP_PASSWORD

from ._flights import Imported, approve
from ._sftp import WRITES_WITHIN, Target, make_job, sftp_target

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    monkeypatch.setenv("SF_TEST_SFTP_PW", SFTP_PASSWORD)
    with sftp_target(tmp_path) as served:
        yield served


def _given_up_while_uploading(
    imported: Imported, target: Target, at: int, **export: Any
) -> tuple[Any, Any, set[threading.Thread]]:
    """Approve the flight and run a job exporting it to ``target`` (with the ``export``
    options); its upload is held at listing ``at`` past the task's timeout. Returns the job,
    the record (``uploading``) and the threads before the run (the held one is not among
    them)."""
    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.services import job_run

    approve(imported.identifier)
    job = make_job(target, timeout=WRITES_WITHIN, **export)
    target.hold.at = at
    before = set(threading.enumerate())
    report = job_run(job, workers=1)
    assert report.state == "failed"
    assert target.hold.held.is_set()  # the upload had begun (the file was written in time)
    record = ExportRecord.objects.get()
    assert record.state == "uploading"
    return job, record, before


@pytest.fixture
def once_is_enough() -> None:
    """Seconds of a held upload each: these run in the PostgreSQL pass only (the SQLite
    pass runs the first test of this module, the same path to the target)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("slow: the PostgreSQL pass runs it")


def _latest_task(job: Any) -> Any:
    from stratoflow.server.workflow.models import Task

    return Task.objects.filter(manager__job=job).latest("id")


def test_a_file_that_arrived_is_marked_delivered_once_its_upload_has_stopped(
    imported: Imported, home: Path, target: Target, leases: None
) -> None:
    """Held after the rename: the whole file is at the target, unconfirmed. While the
    given-up upload still runs, the target is not looked at; once it has stopped, the next
    run finds the file with the export's size and marks the record delivered, uploading
    nothing (the file at the target is the very one the first upload renamed in)."""
    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.services import job_run

    job, record, before = _given_up_while_uploading(imported, target, at=2)
    delivered = target.root / record.file_name
    assert delivered.stat().st_size == record.size
    inode = delivered.stat().st_ino

    # the first upload is still held (and, export tasks taking turns in a process, would
    # hold a task of another run here behind it): asked directly, the target is not looked at
    from stratoflow.exporters.unconfirmed import Verdict, look, upload_running
    from stratoflow.server.workflow.transfers import build

    listings = target.hold.listings
    assert upload_running(record) is not None
    finding = look(record, build(record.transfer))
    assert finding is not None and finding.verdict is Verdict.UNCLEAR
    assert "its upload still runs" in finding.found
    assert target.hold.listings == listings

    target.hold.release.set()
    join_abandoned(before)
    assert ExportRecord.objects.get().state == "uploading"  # its attempt could not confirm

    report = job_run(job, workers=1)
    assert report.state == "succeeded", report
    record = ExportRecord.objects.get()
    assert record.state == "delivered" and record.remote == record.file_name
    assert "confirmed by looking at the target" in record.error
    assert f"{record.file_name} is there with the export's size ({record.size} bytes)" in (
        record.error
    )
    task = _latest_task(job)
    assert task.state == "done" and task.details["export"] == record.pk
    assert delivered.stat().st_ino == inode  # not uploaded a second time
    assert sorted(p.name for p in target.root.iterdir()) == [record.file_name]
    outbox = home / "exports" / f"manager-{task.manager_id}"
    assert list(outbox.iterdir()) == []

    report = job_run(job, workers=1)
    assert report.state == "succeeded" and report.managers[0].collected == 0


def test_a_file_that_never_arrived_is_uploaded_again(
    once_is_enough: None, imported: Imported, home: Path, target: Target, leases: None
) -> None:
    """Held before any byte was sent; released, its rename is refused and the client removes
    its temporary file: nothing is at the target. The next run finds neither the file nor an
    unfinished upload of it, and delivers the file written by the first attempt."""
    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.services import job_run

    job, record, before = _given_up_while_uploading(imported, target, at=1)
    target.server.faults.refused_renames.append(f".{record.file_name}.*.part")
    target.hold.release.set()
    join_abandoned(before)
    assert list(target.root.iterdir()) == []
    assert ExportRecord.objects.get().state == "uploading"

    target.server.faults.refused_renames.clear()
    report = job_run(job, workers=1)
    assert report.state == "succeeded", report
    record = ExportRecord.objects.get()  # the same record, its file sent again
    assert record.state == "delivered" and record.remote == record.file_name
    delivered = target.root / record.file_name
    assert delivered.stat().st_size == record.size
    assert sorted(p.name for p in target.root.iterdir()) == [record.file_name]
    from stratoflow.readers.base import file_checksum

    assert file_checksum(delivered) == record.sha256


def test_an_upload_cut_off_is_left_to_a_person_saying_what_was_found(
    once_is_enough: None,
    imported: Imported,
    home: Path,
    target: Target,
    leases: None,
    django_user_model: Any,
) -> None:
    """Held before any byte was sent; released, the connection is lost at the rename: the
    whole temporary file stays at the target and no file of the final name. Whether another
    upload still works on it cannot be told: the next run does not upload, and says what it
    found (the temporary file's name), on the task and on the record. A person who checked
    settles it in the admin, as before."""
    from django.test import Client

    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.services import job_run

    job, record, before = _given_up_while_uploading(imported, target, at=1)
    target.server.faults.drop_on_rename.append(f".{record.file_name}.*.part")
    target.hold.release.set()
    join_abandoned(before)
    (part,) = [p.name for p in target.root.iterdir()]
    assert part.startswith(f".{record.file_name}.") and part.endswith(".part")

    report = job_run(job, workers=1)
    assert report.state == "failed"
    task = _latest_task(job)
    assert task.state == "failed"
    assert f"no {record.file_name}, but an unfinished upload of it left {part}" in task.error
    assert "never confirmed" in task.error and "check the target" in task.error
    assert "admin" in task.error and "'data-centre'" in task.error
    record = ExportRecord.objects.get()
    assert record.state == "uploading" and part in record.error
    assert [p.name for p in target.root.iterdir()] == [part]  # nothing uploaded again

    client = Client()
    client.force_login(django_user_model.objects.create_superuser("pi", "pi@example.org", "pw"))
    client.post(
        "/admin/exports/exportrecord/",
        {"action": "confirm_not_arrived", "_selected_action": [str(record.pk)]},
    )
    report = job_run(job, workers=1)
    assert report.state == "succeeded", report
    assert (target.root / record.file_name).stat().st_size == record.size


def test_without_check_target_every_unconfirmed_upload_is_left_to_a_person(
    once_is_enough: None, imported: Imported, home: Path, target: Target, leases: None
) -> None:
    """A partner that takes delivered files away shows an upload that arrived as absent:
    ``check_target: false`` keeps the target from being taken at its word."""
    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.services import job_run

    job, record, before = _given_up_while_uploading(imported, target, at=2, check_target=False)
    target.hold.release.set()
    join_abandoned(before)
    os.unlink(target.root / record.file_name)  # the partner took it

    report = job_run(job, workers=1)
    assert report.state == "failed"
    task = _latest_task(job)
    assert "not looked at (check_target: false)" in task.error, task.error
    assert ExportRecord.objects.get().state == "uploading"
    assert list(target.root.iterdir()) == []
