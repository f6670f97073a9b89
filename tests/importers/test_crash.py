"""Importer crash test: SIGKILL in the middle of an import leaves no partial series.

Two variants: the importer itself in a child process on SQLite, and a real job task
(``stratoflow job run``) on PostgreSQL, completed afterwards by the scheduler's takeover.

A child process imports a large synthetic file into a file SQLite database through the real
code path (:func:`stratoflow.importers.import_file`). The parent watches the database from a
second connection: the moment the child holds the write lock (its import transaction has
inserted the source row and is storing series), ``BEGIN IMMEDIATE`` fails with "database is
locked" — and the parent kills the child with SIGKILL. Afterwards no source, series or segment
row may exist; a re-run must complete and a third run must find everything unchanged.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _jobs import one_manager_job, transfer_handler
from stratoflow import write_dataset
from stratoflow.dataset import make_dataset

# argv: file, "import" or "migrate+import" (creates the database first, then says so on a
# line of its own: a write lock seen after that line is the import's, not the migration's)
CHILD = """
import sys
from pathlib import Path
from stratoflow.server import setup
setup(migrate=sys.argv[2] == "migrate+import")
if sys.argv[2] == "migrate+import":
    print("migrated", flush=True)
from stratoflow.importers import import_file
r = import_file(Path(sys.argv[1]), qc=False)
print("created" if r.created else "unchanged", len(r.series_ids), r.points)
"""

CLI = (sys.executable, "-m", "stratoflow.cli")
TABLES = ("catalog_sourcefile", "catalog_series", "catalog_segment", "catalog_flight")


def _big_file(path: Path, *, n: int, variables: int) -> Path:
    rng = np.random.default_rng(0)
    time_ = np.datetime64("2024-03-01T00:00:00", "ns") + np.arange(n) * np.timedelta64(1, "s")
    ds = make_dataset(
        time_,
        {
            f"v{i:02d}": (rng.normal(size=n).cumsum(), {"units": "1", "long_name": f"v{i}"})
            for i in range(variables)
        },
        attrs={"flight_id": "crash-test"},
    )
    write_dataset(ds, path, writer="netcdf")
    return path


def _counts(db: Path) -> tuple[int, ...]:
    con = sqlite3.connect(db, timeout=30)
    try:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)
    finally:
        con.close()


def _write_locked(db: Path) -> bool:
    con = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise
    finally:
        con.close()


@pytest.mark.slow
def test_sigkill_mid_import_leaves_nothing_and_rerun_completes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "STRATOFLOW_HOME": str(home),
        "STRATOFLOW_DATABASE_URL": "",
        "DJANGO_SETTINGS_MODULE": "stratoflow.server.settings",
    }
    data = _big_file(tmp_path / "big.nc", n=100_000, variables=30)
    db = home / "stratoflow.sqlite3"
    # one process migrates and then imports (a process start fewer than migrating apart)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data), "migrate+import"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if line != b"migrated\n":
            child.kill()
            err = child.communicate()[1].decode()
            pytest.fail(f"the database was not created ({line!r}):\n{err}")
        while not _write_locked(db):
            if child.poll() is not None:
                err = child.communicate()[1].decode()
                pytest.fail(f"the import ended ({child.returncode}) before it was killed:\n{err}")
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.002)
        assert child.poll() is None
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert _counts(db) == (0, 0, 0, 0)  # the killed transaction left nothing behind

    rerun = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), "import"], env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.split() == ["created", "30", str(30 * 100_000)]
    assert _counts(db) == (1, 30, 30, 1)
    again = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), "import"], env=env, capture_output=True, text=True
    )
    assert again.stdout.split()[0] == "unchanged" and _counts(db) == (1, 30, 30, 1)


def _pg_import_writing() -> bool:
    """True while another backend holds the row locks of an uncommitted series insert.

    An INSERT takes ``RowExclusiveLock`` on its table until the transaction ends; the
    importer inserts series only inside its one import transaction, so another backend
    holding that lock on ``catalog_series`` is an import mid-way: source and series rows
    written, segments being encoded or copied, nothing committed.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'catalog_series' AND l.mode = 'RowExclusiveLock' "
            "AND l.granted AND l.pid <> pg_backend_pid() "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _orm_counts() -> tuple[int, ...]:
    from stratoflow.server.catalog.models import Flight, Segment, Series, SourceFile

    return (
        SourceFile.objects.count(),
        Series.objects.count(),
        Segment.objects.count(),
        Flight.objects.count(),
    )


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("recovery", ["scheduler", "job run by hand"])
def test_sigkill_of_a_job_task_mid_import_on_postgres(
    tmp_path: Path, settings: Any, recovery: str, child_env: dict[str, str]
) -> None:
    """The same on PostgreSQL, through a real job task run by ``stratoflow job run``.

    The killed process leaves its task ``running`` and its run with a silent driver. Either
    the scheduler's own takeover (a run whose heartbeat stopped is resumed, a task whose lease
    expired is queued again for its second attempt) completes it, or the user simply runs the
    job again by hand, which resumes the abandoned run first. A further run of the job finds
    nothing new, and importing the file again finds it unchanged.
    """
    from django.utils import timezone

    from stratoflow.importers.series import import_file
    from stratoflow.server.workflow.leases import driver_silent
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.scheduler import Scheduler
    from stratoflow.server.workflow.services import job_run

    env = child_env  # the test database, short leases, home = tmp_path/home
    lease = float(env["STRATOFLOW_LEASE_SECONDS"])
    settings.STAGING_DIR = Path(env["STRATOFLOW_HOME"]) / "staging"
    settings.STRATOFLOW_LEASE_SECONDS = lease
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    _big_file(incoming / "big.nc", n=100_000, variables=30)
    transfer = transfer_handler(
        "crash-incoming",
        provider="crash-provider",
        transfer_type="local",
        transfer_options={"root": str(incoming), "pattern": "*.nc"},
    )
    job = one_manager_job(
        "crash-import",
        manager="import",
        kind="import",
        transfer=transfer,
        max_attempts=3,
        options={"qc": False, "review": False},
    )
    assert _orm_counts() == (0, 0, 0, 0)

    child = subprocess.Popen(
        [*CLI, "job", "run", "crash-import", "--workers", "1", "--progress", "plain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while not _pg_import_writing():
            assert child.poll() is None, "the job finished before the import could be killed"
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert _orm_counts() == (0, 0, 0, 0)  # the killed transaction left nothing behind
    task = Task.objects.get(manager__job=job)
    run = JobRun.objects.get(job=job)
    assert (task.state, task.attempts, run.state) == ("running", 1, "running")

    if recovery == "scheduler":  # resumes the run once its driver's heartbeat is stale
        scheduler = Scheduler(tick_seconds=0.1)
        try:
            deadline = time.monotonic() + 20
            while not scheduler.tick():
                assert time.monotonic() < deadline, "the scheduler never resumed the dead run"
                time.sleep(0.2)
        finally:
            scheduler.close()
    else:  # the user re-runs the job once the dead driver's lease has expired
        # (as seen in the database: the run's heartbeat and the task's lease, both stale)
        def expired() -> bool:
            silent = JobRun.objects.filter(driver_silent(), pk=run.pk).exists()
            return (
                silent and Task.objects.filter(pk=task.pk, lease_until__lt=timezone.now()).exists()
            )

        deadline = time.monotonic() + 20
        while not expired():
            assert time.monotonic() < deadline, "the dead driver's lease never expired"
            time.sleep(0.05)
        rerun = subprocess.run(
            [*CLI, "job", "run", "crash-import", "--workers", "1", "--progress", "plain"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert f"resumed run {run.pk}" in rerun.stdout, rerun.stdout
        assert JobRun.objects.filter(job=job).count() == 2
    task.refresh_from_db()
    run.refresh_from_db()
    assert (task.state, task.attempts, task.error) == ("done", 2, "")
    assert run.state == "succeeded"
    assert task.details["points"] == 30 * 100_000 and task.details["created"] is True
    assert _orm_counts() == (1, 30, 30, 1)

    again = job_run(job)
    assert again.state == "succeeded" and again.managers[0].collected == 0
    unchanged = import_file(Path(task.details["staged_path"]), identity="big.nc", qc=False)
    assert not unchanged.created and len(unchanged.series_ids) == 30
    assert _orm_counts() == (1, 30, 30, 1)
