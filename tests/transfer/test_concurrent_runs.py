"""Two runs of one job at once (the scheduler and a manual ``stratoflow job run``, or two
drivers) share the job's staging area: they take turns, so neither clears the other's
unfinished downloads nor overwrites the other's manifest, and nothing is fetched or imported
twice. Real processes on the real PostgreSQL, a real HTTP portal on loopback.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stratoflow.samples import write_sample_flights

from ._helpers import import_job, portal_options
from ._portal import Portal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]


def _job_run(name: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stratoflow.cli", "job", "run", name, "--progress", "plain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_runs_of_one_job_at_once_fetch_and_import_each_file_once(
    remote_root: Path,
    portal_factory: Callable[..., Portal],
    child_env: dict[str, str],
    processes: list[subprocess.Popen[Any]],
) -> None:
    from stratoflow.server.catalog.models import SourceFile
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.transfer.staging import read_manifest

    names = sorted(p.name for p in write_sample_flights(remote_root, 3))
    # the first download is held until the second run is under way (or 15 s passed)
    portal = portal_factory(faults={names[0]: ["hold"]})
    job = import_job(
        "twice", "http", portal_options(portal.url, version_field="modified", sha256_field="sha256")
    )
    staging = Path(child_env["STRATOFLOW_HOME"]) / "staging" / "twice-transfer"

    first = _job_run(job.name, child_env)
    processes.append(first)
    deadline = time.monotonic() + 60
    while not (staging / ".partial").is_dir() or not any((staging / ".partial").iterdir()):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run never started downloading"
        time.sleep(0.02)
    second = _job_run(job.name, child_env)
    processes.append(second)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(second.stderr or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 15
    while not any("waiting for it" in line for line in lines) and time.monotonic() < deadline:
        if second.poll() is not None:
            break  # it did not wait (the defect): let the first download finish
        time.sleep(0.05)
    portal.gate.set()
    out1, err1 = first.communicate(timeout=120)
    out2 = second.communicate(timeout=120)[0]
    reader.join(timeout=10)
    err2 = "".join(lines)

    assert first.returncode == 0, out1 + err1
    assert second.returncode == 0, out2 + err2
    assert "Traceback" not in err1 + err2
    assert "is in use by process" in err2 and "waiting for it" in err2  # said, not silent
    downloads = sorted(r for r in portal.requests if r.startswith("GET /files/"))
    assert downloads == [f"GET /files/{n}" for n in names]  # each file fetched once
    staged = read_manifest(staging)
    assert sorted(s.identity for s in staged) == names
    assert all(s.path.is_file() for s in staged)
    assert not list((staging / ".partial").iterdir())
    assert sorted(SourceFile.objects.values_list("identity", flat=True)) == names
    tasks = Task.objects.filter(manager__job=job)
    assert sorted(tasks.values_list("subject", flat=True)) == names
    assert set(tasks.values_list("state", flat=True)) == {"done"}
    assert set(JobRun.objects.filter(job=job).values_list("state", flat=True)) == {"succeeded"}
