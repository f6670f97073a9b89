"""A job whose provider fails on some files: those files' tasks fail, the rest is imported.

"A corrupt file fails its own task ... other tasks go on; nothing half-imported remains" holds
for files that cannot even be fetched: a 404 or a server error on one file must not keep a
day's other files out of the database, nor may a file name that is not UTF-8, or a bug while
collecting, leave a run stuck in ``running``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from stratoflow.samples import write_sample_flights

from ._helpers import import_job, portal_options, tasks_by_subject
from ._portal import Portal

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_file_the_portal_cannot_serve_fails_its_own_task_only(
    remote_root: Path, portal_factory: Callable[..., Portal], staging_dir: Path
) -> None:
    from stratoflow.server.catalog.models import SourceFile
    from stratoflow.server.workflow.services import job_run, run_execute, run_retry_failed

    names = sorted(p.name for p in write_sample_flights(remote_root, 3))
    portal = portal_factory(faults={names[0]: ["404"], names[1]: ["500"] * 10})
    job = import_job("portal-import", "http", portal_options(portal.url))

    report = job_run(job)
    assert report.state == "failed"
    tasks = tasks_by_subject(job)
    assert {n: tasks[n].state for n in names} == {
        names[0]: "failed",
        names[1]: "failed",
        names[2]: "done",
    }
    assert "404" in tasks[names[0]].error and "portal-import-provider" in tasks[names[0]].error
    assert "500" in tasks[names[1]].error
    errors = report.managers[0].errors
    assert len(errors) == 2 and all(any(n in e for n in names[:2]) for e in errors)
    assert not any("collect failed" in e for e in errors)
    assert list(SourceFile.objects.values_list("identity", flat=True)) == [names[2]]

    # the provider recovers; retrying the run fetches and imports the two files
    portal.faults.clear()
    from stratoflow.server.workflow.models import JobRun

    run = JobRun.objects.get(pk=report.run_id)
    assert run_retry_failed(run) == 2
    again = run_execute(run)
    assert again.state == "succeeded", again.managers[0].errors
    assert sorted(SourceFile.objects.values_list("identity", flat=True)) == names
    # and a later run finds nothing new
    assert job_run(job).managers[0].collected == 0


def test_file_names_that_are_not_utf8_are_imported(tmp_path: Path, staging_dir: Path) -> None:
    from stratoflow.server.catalog.models import SourceFile
    from stratoflow.server.workflow.services import job_run

    folder = tmp_path / "incoming"
    paths = write_sample_flights(folder, 2)
    latin1 = os.fsencode(folder) + b"/Messfl\xfcge_" + os.fsencode(paths[0].name)
    os.rename(paths[0], latin1)
    job = import_job("latin1", "local", {"root": str(folder), "pattern": "*.nc"})
    report = job_run(job)
    assert report.state == "succeeded", report.managers[0].errors
    subjects = sorted(tasks_by_subject(job))
    assert subjects == sorted([f"Messfl\\xfcge_{paths[0].name}", paths[1].name])
    assert SourceFile.objects.count() == 2
    assert job_run(job).managers[0].collected == 0  # the escaped identity is stable


def test_a_file_staged_by_a_run_that_died_before_queueing_it_is_imported(
    tmp_path: Path, staging_dir: Path
) -> None:
    from stratoflow.server.catalog.models import SourceFile
    from stratoflow.server.workflow.services import job_run
    from stratoflow.server.workflow.transfers import fetch_new

    folder = tmp_path / "incoming"
    write_sample_flights(folder, 2)
    job = import_job("orphans", "local", {"root": str(folder), "pattern": "*.nc"})
    row = job.managers.get().transfer
    assert len(fetch_new(row)) == 2  # staged, then the process died: no task exists
    report = job_run(job)
    assert report.state == "succeeded" and report.managers[0].collected == 2
    assert SourceFile.objects.count() == 2


def test_an_unexpected_error_while_collecting_fails_the_run_cleanly(
    tmp_path: Path, staging_dir: Path
) -> None:
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.services import job_run

    # pathlib refuses an empty glob with a ValueError: a failure no stratoflow code expects
    job = import_job("broken", "local", {"root": str(tmp_path), "pattern": ""})
    report = job_run(job)
    assert report.state == "failed"
    assert report.managers[0].errors[0].startswith("collect failed: internal error: ValueError")
    assert list(JobRun.objects.filter(job=job).values_list("state", flat=True)) == ["failed"]


def test_a_corrupt_file_is_named_as_the_provider_names_it(
    tmp_path: Path, staging_dir: Path
) -> None:
    from stratoflow.server.workflow.services import job_run

    folder = tmp_path / "incoming"
    (good,) = write_sample_flights(folder / "2024", 1)
    (folder / "2024" / "cut.nc").write_bytes(good.read_bytes()[:3000])
    job = import_job(
        "corrupt", "local", {"root": str(folder), "pattern": "*.nc", "recursive": True}
    )
    report = job_run(job)
    assert report.state == "failed"
    task = tasks_by_subject(job)["2024/cut.nc"]
    assert task.error.startswith("2024/cut.nc: damaged or truncated netCDF file (3,000 bytes)")
    assert f"(staged copy: {staging_dir}" in task.error
    assert report.managers[0].errors == [task.error]  # named once, by the provider's name
    assert tasks_by_subject(job)[f"2024/{good.name}"].state == "done"


def test_files_with_long_paths_sharing_a_prefix_are_both_imported(
    tmp_path: Path, staging_dir: Path
) -> None:
    """Keys (path@checksum) longer than the 300-character column must not collide."""
    from stratoflow.server.catalog.models import SourceFile
    from stratoflow.server.workflow.services import job_run

    folder = tmp_path / "incoming"
    deep = folder.joinpath(*["campaign-2024-instrument-raw-data-folder"] * 7)
    paths = write_sample_flights(deep, 2)
    assert all(len(str(p.relative_to(folder))) > 300 for p in paths)
    job = import_job("long", "local", {"root": str(folder), "pattern": "*.nc", "recursive": True})
    report = job_run(job)
    assert report.state == "succeeded" and report.managers[0].collected == 2
    assert SourceFile.objects.count() == 2
    assert job_run(job).managers[0].collected == 0
