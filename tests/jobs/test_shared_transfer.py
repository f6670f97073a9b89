"""Two task managers on one transfer handler (one data source) collecting at once: each staged
file becomes one task between them, never two imports of the same file. Real concurrent
drivers (threads here, processes in the PostgreSQL pass) on the real database."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.db import connection

from _jobs import one_manager_job, transfer_handler

pytestmark = pytest.mark.django_db(transaction=True)

FILES = 120


def _shared(source: Path) -> list[Any]:
    """Jobs 'left' and 'right', each with an import manager on the transfer 'shared'."""
    source.mkdir()
    for i in range(FILES):  # not netCDF: each import fails at once, cheaply
        (source / f"f{i:04d}.nc").write_text(f"not a netCDF file {i}\n")
    transfer = transfer_handler(
        "shared",
        provider="one source",
        transfer_type="local",
        transfer_options={"root": str(source), "pattern": "*.nc"},
    )
    return [
        one_manager_job(
            name,
            manager="import",
            kind="import",
            transfer=transfer,
            max_attempts=1,
            options={"reader": "iagos_netcdf", "review": False},
        )
        for name in ("left", "right")
    ]


def _each_file_once() -> None:
    from stratoflow.server.workflow.models import Task

    keys = Counter(
        Task.objects.filter(manager__transfer__name="shared").values_list("key", flat=True)
    )
    assert len(keys) == FILES
    twice = {k: n for k, n in keys.items() if n > 1}
    assert not twice, f"{len(twice)} file(s) queued by both managers, e.g. {next(iter(twice))}"


def test_two_managers_on_one_transfer_collecting_at_once_queue_each_file_once(
    tmp_path: Path, settings: LazySettings
) -> None:
    from stratoflow.server.workflow.services import job_run

    settings.STAGING_DIR = tmp_path / "staging"
    jobs = _shared(tmp_path / "source")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def drive(job: Any) -> None:
        try:
            start.wait()
            job_run(job, workers=1)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drive, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    _each_file_once()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_job_run_processes_on_one_transfer_queue_each_file_once(
    tmp_path: Path,
    child_env: dict[str, str],
    processes: list[subprocess.Popen[Any]],
) -> None:
    _shared(tmp_path / "source")
    for name in ("left", "right"):
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "stratoflow.cli", "job", "run", name, "--progress", "plain"],
                env=child_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in processes:
        _, err = proc.communicate(timeout=180)
        assert "Traceback" not in err, err
    _each_file_once()
