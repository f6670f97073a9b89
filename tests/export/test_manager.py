"""The export manager in a job: local delivery, re-export on new versions, failing uploads.

The REST target is a real ``http.server`` on 127.0.0.1 that answers 503 until told otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from _jobs import transfer_handler
from stratoflow import open_dataset, write_dataset

from ._flights import Imported, approve
from ._http import upload_target

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Target:
    """A REST upload target: 503 for every request while ``failing``; else stores uploads."""

    failing: bool = True
    requests: int = 0
    received: dict[str, bytes] = field(default_factory=dict)
    url: str = ""


@pytest.fixture
def target() -> Iterator[Target]:
    state = Target()

    def on_put(name: str, body: bytes) -> int:
        state.requests += 1
        if state.failing:
            return 503
        state.received[name] = body
        return 201

    with upload_target(on_put) as state.url:
        yield state


def _job(name: str, transfer_type: str, options: dict[str, Any], export: dict[str, Any]) -> Any:
    from stratoflow.server.workflow.models import Job, TaskManager

    handler = transfer_handler(
        f"{name}-target",
        provider="data centre",
        transfer_type=transfer_type,
        transfer_options=options,
        auth="none",
    )
    job = Job.objects.create(name=name)
    manager = TaskManager(
        job=job, name="export", kind="export", order=1, transfer=handler, options=export
    )
    if hasattr(manager, "max_attempts"):  # task-level retries of transient failures, if any
        manager.max_attempts = 2
        manager.retry_delay = 0.01
    manager.save()
    return job


def _run(job: Any) -> Any:
    from stratoflow.server.workflow.services import job_run

    return job_run(job, workers=1)


def test_local_delivery_and_reexport_only_on_new_versions(
    imported: Imported, home: Path, tmp_path: Path
) -> None:
    from stratoflow.importers.series import import_file
    from stratoflow.server.exports.models import ExportRecord

    outside = tmp_path / "external"
    outside.mkdir()
    job = _job(
        "export-local",
        "local",
        {"root": str(outside)},
        {"format": "netcdf", "level": "L1", "resample": "10s"},
    )

    report = _run(job)
    assert report.state == "succeeded" and report.managers[0].collected == 0  # not reviewed

    approve(imported.identifier)
    report = _run(job)
    assert report.state == "succeeded", report
    (delivered,) = outside.glob("*.nc")
    record = ExportRecord.objects.get()
    assert record.state == "delivered" and record.delivered_at is not None
    assert delivered.name == record.file_name == f"{imported.identifier}_L1_10s_v1.nc"
    assert hashlib.sha256(delivered.read_bytes()).hexdigest() == record.sha256
    assert record.task is not None and record.task.state == "done"
    assert record.transfer is not None and record.processing["resample"] == "10s"
    assert "O3_P1_count" in open_dataset(delivered).data_vars

    assert _run(job).managers[0].collected == 0  # nothing changed: nothing exported

    ds = open_dataset(imported.path)
    ds["O3_P1"].values[7] = 50.5
    corrected = tmp_path / "corrected.nc"
    write_dataset(ds, corrected, writer="netcdf", layout="iagos")
    import_file(corrected, identity=f"portal/{imported.path.name}")
    assert _run(job).managers[0].collected == 0  # reprocessed, not yet approved again
    approve(imported.identifier)
    report = _run(job)
    assert report.managers[0].collected == 1
    assert sorted(p.name for p in outside.glob("*.nc")) == [
        f"{imported.identifier}_L1_10s_v1.nc",
        f"{imported.identifier}_L1_10s_v2.nc",
    ]
    assert list(ExportRecord.objects.order_by("id").values_list("version", "state")) == [
        (1, "delivered"),
        (2, "delivered"),
    ]


def test_failed_upload_is_retried_and_never_recorded_as_delivered(
    imported: Imported, home: Path, target: Target
) -> None:
    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.models import Task

    approve(imported.identifier)
    job = _job(
        "export-rest",
        "http",
        {"base_url": target.url, "upload_path": "upload/{name}"},
        {"format": "icartt", "retry": {"attempts": 3, "base": 0.01, "max_delay": 0.02}},
    )
    report = _run(job)
    assert report.state == "failed"
    task = Task.objects.get(manager__job=job)
    assert task.state == "failed" and "503" in task.error
    # The transfer handler retried (3 attempts per task attempt), and nothing got through.
    assert target.requests >= 3 and target.requests % 3 == 0
    assert not ExportRecord.objects.filter(state="delivered").exists()
    assert set(ExportRecord.objects.values_list("state", flat=True)) == {"failed"}
    assert "503" in ExportRecord.objects.first().error  # type: ignore[union-attr]

    # The next run offers the unit again; once the target is back, it is delivered, once.
    target.failing = False
    report = _run(job)
    assert report.state == "succeeded", report
    record = ExportRecord.objects.get(state="delivered")
    assert list(target.received) == [record.file_name]
    assert hashlib.sha256(target.received[record.file_name]).hexdigest() == record.sha256
    assert record.version == 1
    assert _run(job).managers[0].collected == 0


def test_retrying_an_older_failed_run_does_not_deliver_again(
    imported: Imported, home: Path, tmp_path: Path, target: Target, capsys: Any
) -> None:
    """Run 1 fails to upload export v1; the PI approves corrected data and run 2 delivers
    v2. ``job retry`` then re-queues run 1's task: its content (v1) is superseded by what
    was delivered since, so it is skipped with a message, and nothing is uploaded again
    (neither v1 over v2 nor v2 a second time)."""
    from stratoflow.cli import main
    from stratoflow.importers.series import import_file
    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.models import JobRun, Task

    approve(imported.identifier)
    job = _job(
        "export-retry",
        "http",
        {"base_url": target.url, "upload_path": "upload/{name}"},
        {"format": "icartt", "retry": {"attempts": 1}},
    )
    first = _run(job)
    assert first.state == "failed"
    (old_task,) = Task.objects.filter(manager__job=job, state="failed")

    ds = open_dataset(imported.path)
    ds["O3_P1"].values[7] = 50.5
    corrected = tmp_path / "corrected.nc"
    write_dataset(ds, corrected, writer="netcdf", layout="iagos")
    import_file(corrected, identity=f"portal/{imported.path.name}")
    approve(imported.identifier)
    target.failing = False
    second = _run(job)
    assert second.state == "succeeded", second
    (delivered,) = ExportRecord.objects.filter(state="delivered")
    assert delivered.version == 2 and list(target.received) == [delivered.file_name]
    requests = target.requests
    capsys.readouterr()

    assert JobRun.objects.get(pk=first.run_id).state == "failed"
    assert main(["job", "retry", "export-retry"]) == 0
    out = capsys.readouterr().out
    assert ": succeeded" in out and "skipped" in out and "superseded" in out, out
    assert target.requests == requests  # nothing uploaded again
    assert list(target.received) == [delivered.file_name]
    old_task.refresh_from_db()
    assert old_task.state == "skipped", (old_task.state, old_task.error)
    assert "superseded" in old_task.details["note"] and "v2" in old_task.details["note"]
    assert ExportRecord.objects.filter(state="delivered").count() == 1


def test_the_manager_names_delivered_files_by_its_name_template(
    imported: Imported, home: Path, tmp_path: Path
) -> None:
    """The manager's ``name_template`` option names the files it writes and delivers."""
    from stratoflow.server.exports.models import ExportRecord

    outside = tmp_path / "external"
    outside.mkdir()
    template = "IAGOS_timeseries_{flight}_{level}_{version}.nc4"
    job = _job(
        "export-named",
        "local",
        {"root": str(outside)},
        {"format": "iagos-netcdf", "level": "L1", "name_template": template},
    )
    approve(imported.identifier)
    assert _run(job).state == "succeeded"
    (delivered,) = outside.iterdir()
    assert delivered.name == f"IAGOS_timeseries_{imported.identifier}_L1_1.nc4"
    assert ExportRecord.objects.get().file_name == delivered.name
