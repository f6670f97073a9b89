"""Retrying a run whose import failed on a corrupt file, after the provider fixed the file:
the retry must import the provider's fixed file, not read the corrupt staged copy again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from stratoflow.samples import write_sample_flights

from ._helpers import import_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("how", ["api", "cli"])
def test_retry_after_the_provider_fixed_a_corrupt_file_imports_the_fixed_file(
    how: str, tmp_path: Path, staging_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.cli import main
    from stratoflow.server.catalog.models import SourceFile
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.services import job_run, run_execute, run_retry_failed

    good = write_sample_flights(tmp_path / "samples", 2)
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / good[0].name).write_bytes(good[0].read_bytes())
    broken = folder / good[1].name
    broken.write_bytes(good[1].read_bytes()[:500])  # cut short at the provider
    job = import_job(
        "fixer",
        "local",
        {"root": str(folder), "pattern": "*.nc"},
        provider="fixer",
        transfer="fixer-local",
    )

    first = job_run(job)
    assert first.state == "failed"
    failed = Task.objects.get(state="failed")
    assert failed.subject == broken.name
    assert SourceFile.objects.count() == 1

    # the provider puts the complete file in place (a new version: size and mtime changed)
    broken.write_bytes(good[1].read_bytes())
    os.utime(broken, (1_900_000_000, 1_900_000_000))
    run = JobRun.objects.get(pk=first.run_id)
    if how == "api":
        assert run_retry_failed(run) == 1
        state = run_execute(run).state
    else:
        assert main(["job", "retry", job.name]) == 0, capsys.readouterr()
        run.refresh_from_db()
        state = run.state
    assert state == "succeeded", Task.objects.filter(state="failed").values_list("error")
    assert sorted(SourceFile.objects.values_list("identity", flat=True)) == sorted(
        p.name for p in good
    )
    imported = SourceFile.objects.get(identity=broken.name)
    assert imported.checksum == hashlib.sha256(good[1].read_bytes()).hexdigest()
    old = Task.objects.get(pk=failed.pk)
    assert old.state == "skipped" and "new version" in old.details["note"]
    # nothing left to do: a later run finds nothing new
    assert job_run(job).managers[0].collected == 0
