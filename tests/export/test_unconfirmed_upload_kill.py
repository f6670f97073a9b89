"""SIGKILL of ``stratoflow job run`` while its export task uploads: the next run settles the
upload by looking at the target (PostgreSQL pass: the job runs in a process of its own).

The upload, to a real SFTP server on 127.0.0.1, is held at the server, and the process is
killed there: before any byte was sent (nothing at the target: uploaded again), or after the
file was renamed into place (the whole file there: marked delivered, not uploaded twice). The
killed process's record stays ``uploading``; once its leases (task, run, upload) have run
out, running the job again resumes the abandoned run, whose task finds that upload
unconfirmed and settles it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from transfer.conftest import SFTP_PASSWORD

from ._flights import Imported, approve
from ._sftp import Target, make_job, sftp_target

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLI = (sys.executable, "-m", "stratoflow.cli")


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    monkeypatch.setenv("SF_TEST_SFTP_PW", SFTP_PASSWORD)
    with sftp_target(tmp_path) as served:
        yield served


@pytest.mark.parametrize("at", [1, 2], ids=["before-the-upload", "after-the-rename"])
def test_an_upload_killed_outright_is_settled_by_the_next_run(
    imported: Imported,
    home: Path,
    target: Target,
    settings: Any,
    child_env: dict[str, str],
    processes: list[subprocess.Popen[Any]],
    at: int,
) -> None:
    from django.utils import timezone

    from stratoflow.exporters.unconfirmed import upload_running
    from stratoflow.server.exports.models import ExportRecord
    from stratoflow.server.workflow.leases import driver_silent
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.services import job_run

    settings.STRATOFLOW_LEASE_SECONDS = float(child_env["STRATOFLOW_LEASE_SECONDS"])
    approve(imported.identifier)
    job = make_job(target, timeout=600)
    job.managers.update(max_attempts=2)  # the killed attempt is the first
    target.hold.at = at
    child = subprocess.Popen(
        [*CLI, "job", "run", job.name, "--workers", "1", "--progress", "plain"],
        env={**child_env, "SF_TEST_SFTP_PW": SFTP_PASSWORD},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    processes.append(child)
    assert target.hold.held.wait(120), "the upload never began"
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    target.hold.release.set()
    assert child.returncode == -signal.SIGKILL
    record = ExportRecord.objects.get()
    assert record.state == "uploading"
    run = JobRun.objects.get(job=job)
    task = Task.objects.get(manager__job=job)
    assert (task.state, run.state) == ("running", "running")
    final = target.root / record.file_name
    if at == 1:
        assert list(target.root.iterdir()) == []
    else:
        assert final.stat().st_size == record.size
        inode = final.stat().st_ino

    def expired() -> bool:
        silent = JobRun.objects.filter(driver_silent(), pk=run.pk).exists()
        stale = Task.objects.filter(pk=task.pk, lease_until__lt=timezone.now()).exists()
        return silent and stale and upload_running(record) is None

    deadline = time.monotonic() + 30
    while not expired():
        assert time.monotonic() < deadline, "the killed process's leases never ran out"
        time.sleep(0.05)

    report = job_run(job, workers=1)
    assert report.state == "succeeded", report
    record.refresh_from_db()
    task.refresh_from_db()
    assert record.state == "delivered" and task.state == "done", (record.error, task.error)
    assert ExportRecord.objects.count() == 1
    assert sorted(p.name for p in target.root.iterdir()) == [record.file_name]
    assert final.stat().st_size == record.size
    if at == 1:  # sent again, and confirmed by the target's answer
        assert record.remote == record.file_name and record.error == ""
    else:
        assert "confirmed by looking at the target" in record.error
        assert final.stat().st_ino == inode  # not uploaded a second time
