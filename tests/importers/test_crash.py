"""Importer crash test: SIGKILL in the middle of an import leaves no partial series.

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

import numpy as np
import pytest

from stratoflow import write_dataset
from stratoflow.dataset import make_dataset

CHILD = """
import sys
from pathlib import Path
from stratoflow.server import setup
setup(migrate=sys.argv[2] == "migrate")
if sys.argv[2] == "migrate":
    raise SystemExit(0)
from stratoflow.importers import import_file
r = import_file(Path(sys.argv[1]), qc=False)
print("created" if r.created else "unchanged", len(r.series_ids), r.points)
"""

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
    subprocess.run([sys.executable, "-c", CHILD, str(data), "migrate"], env=env, check=True)
    assert _counts(db) == (0, 0, 0, 0)

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data), "import"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while not _write_locked(db):
            assert child.poll() is None, "the import finished before it could be killed"
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
