"""The staging lock two runs of one job take: bounded waiting behind a hung holder, and a lock
left by a killed process taken at once. A real HTTP portal on loopback, real threads and a
real child process on the default database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.db import connection
from django.utils import timezone

from stratoflow.samples import write_sample_flights

from ._helpers import import_job, portal_options
from ._portal import Portal

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_behind_a_hung_holder_gives_up_naming_both(
    remote_root: Path,
    portal_factory: Callable[..., Portal],
    settings: LazySettings,
    tmp_path: Path,
) -> None:
    """The second run used to wait on the lock for as long as the first one's download hung."""
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.services import job_run

    settings.STAGING_DIR = tmp_path / "staging"
    names = sorted(p.name for p in write_sample_flights(remote_root, 2))
    portal = portal_factory(faults={names[0]: ["hold"]})  # the download hangs until the gate
    job = import_job(
        "hung", "http", portal_options(portal.url, version_field="modified", sha256_field="sha256")
    )
    first_slot = timezone.now() - timedelta(minutes=1)
    reports: list[Any] = []

    def first_run() -> None:
        try:
            reports.append(job_run(job, scheduled_for=first_slot, workers=1))
        finally:
            connection.close()  # a thread's connection would keep the test database open

    holder = threading.Thread(target=first_run)
    holder.start()
    try:
        deadline = time.monotonic() + 30
        lock = settings.STAGING_DIR / "hung-transfer" / ".lock"
        while not (lock.exists() and lock.read_text().strip()):
            assert time.monotonic() < deadline, "the first run never took the staging lock"
            time.sleep(0.02)
        first = JobRun.objects.get(job=job, scheduled_for=first_slot)
        settings.STRATOFLOW_STAGING_LOCK_SECONDS = 0.5
        started = time.monotonic()
        report = job_run(job, workers=1)
        waited = time.monotonic() - started
    finally:
        portal.gate.set()
        holder.join(60)
    assert report.state == "failed" and waited < 10
    (error,) = report.managers[0].errors
    assert f"run {report.run_id} of job 'hung'" in error  # the waiter
    assert f"held by process {os.getpid()} on {socket.gethostname()}" in error
    assert f"(run {first.pk} of job 'hung')" in error  # the holder
    assert "after 0.5 s (STRATOFLOW_STAGING_LOCK_SECONDS)" in error
    assert [r.state for r in reports] == ["succeeded"]  # the holder was not disturbed


_HOLD = """
import fcntl, sys, time
with open(sys.argv[1], "a+") as fh:
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
    fh.write("process of a run that will be killed\\n"); fh.flush()
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_lock_left_by_a_killed_process_is_taken_at_once(tmp_path: Path) -> None:
    from stratoflow.server.workflow.transfers import _exclusive

    root = tmp_path / "area"
    root.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(root / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        started = time.monotonic()
        with _exclusive(root, what="transfer 'x'"):
            assert f"process {os.getpid()}" in (root / ".lock").read_text()
        assert time.monotonic() - started < 2
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_a_bad_lock_limit_is_a_config_error_naming_it(
    value: str, settings: LazySettings, tmp_path: Path
) -> None:
    from stratoflow.errors import ConfigError
    from stratoflow.server.workflow.transfers import _exclusive

    settings.STRATOFLOW_STAGING_LOCK_SECONDS = value
    with (
        pytest.raises(ConfigError, match="STRATOFLOW_STAGING_LOCK_SECONDS must be"),
        _exclusive(tmp_path / "area"),
    ):
        pass
