"""An export writes its file outside any database transaction.

The version claim, the file and its record were one transaction. On SQLite a writing
transaction locks the whole database, so for as long as the file of a long flight was being
written every import, review decision and job run waited, and failed with "database is
locked" after its busy timeout. The claim and the record are now short transactions of their
own, and what an interrupted export leaves is taken up by the next one.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from _race import HOLD_S, race, require_postgres, start_thread

from ._flights import Imported, approve


def _export(identifier: str, out: Path, fmt: str = "netcdf") -> Any:
    from stratoflow.exporters.export import ExportOptions, export
    from stratoflow.exporters.selection import Selection

    return export(Selection(flights=(identifier,)), ExportOptions(format=fmt), out)


@pytest.mark.django_db(transaction=True)
def test_another_connection_writes_to_sqlite_while_an_export_writes_its_file(
    imported: Imported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half-way through the export (its writer running), a second connection of its own takes
    SQLite's write lock and commits within a short busy timeout; the export then finishes
    and is recorded as usual."""
    from django.db import connection

    from stratoflow.exporters import export as module
    from stratoflow.readers.base import file_checksum

    if connection.vendor != "sqlite":
        pytest.skip("the database-wide write lock is SQLite's")
    approve(imported.identifier)
    database = connection.settings_dict["NAME"]
    real_write = module.write_dataset
    wrote: list[str] = []

    def with_another_writer(*args: Any, **kwargs: Any) -> Any:
        other = sqlite3.connect(database, timeout=0.5, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # 'database is locked' when the export holds it
            other.execute("INSERT INTO auth_group (name) VALUES ('written during the export')")
            other.execute("COMMIT")
            wrote.append("yes")
        finally:
            other.close()
        return real_write(*args, **kwargs)

    monkeypatch.setattr(module, "write_dataset", with_another_writer)
    out = tmp_path / "out"
    (record,) = _export(imported.identifier, out)
    assert wrote == ["yes"]
    from django.contrib.auth.models import Group

    assert list(Group.objects.values_list("name", flat=True)) == ["written during the export"]
    assert [p.name for p in out.iterdir()] == [record.file_name]
    assert file_checksum(out / record.file_name) == record.sha256


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_another_export_of_the_flight_does_not_wait_for_the_file(
    imported: Imported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL locks rows, not the database; but the first export's uncommitted v1 claim
    made a second export of the same flight (another content) wait on it for the whole
    file write. Now the claim is committed before the file is written: while the first
    export is held in its writer, the second one takes v2, writes and records it."""
    from stratoflow.exporters import export as module
    from stratoflow.exporters.selection import Selection
    from stratoflow.server.exports.models import ExportRecord

    require_postgres()
    approve(imported.identifier)
    out = tmp_path / "out"
    held, go = threading.Event(), threading.Event()
    real_write = module.write_dataset
    first_call = threading.Lock()

    def hold(*args: Any, **kwargs: Any) -> Any:
        if first_call.acquire(blocking=False):
            held.set()
            assert go.wait(HOLD_S)
        return real_write(*args, **kwargs)

    def export_of(variables: tuple[str, ...]) -> Any:
        options = module.ExportOptions(format="netcdf")
        return module.export(
            Selection(flights=(imported.identifier,), variables=variables), options, out
        )

    finished_while_held: list[bool] = []

    def second() -> None:
        export_of(("CO_P1",))
        finished_while_held.append(not go.is_set())

    monkeypatch.setattr(module, "write_dataset", hold)
    errors = race(lambda: export_of(("O3_P1",)), second, held, go)
    assert not errors, errors
    assert finished_while_held == [True]
    assert sorted(ExportRecord.objects.values_list("version", flat=True)) == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_exports_of_the_same_content_at_once_share_one_file_and_version(
    imported: Imported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two exports of the same flight, options and data write their files at the same
    time (both writers running at once): one file is placed, both are recorded as that
    file's v1, and no hidden file stays."""
    from stratoflow.exporters import export as module
    from stratoflow.readers.base import file_checksum
    from stratoflow.server.exports.models import ExportRecord, ExportVersion

    approve(imported.identifier)
    out = tmp_path / "out"
    together = threading.Barrier(2)
    real_write = module.write_dataset

    def at_once(*args: Any, **kwargs: Any) -> Any:
        together.wait(HOLD_S)  # broken (an error) when one export waits for the other
        return real_write(*args, **kwargs)

    monkeypatch.setattr(module, "write_dataset", at_once)
    errors: list[BaseException] = []
    threads = [start_thread(lambda: _export(imported.identifier, out), errors) for _ in "ab"]
    for thread in threads:
        thread.join(HOLD_S)
    assert not errors, errors
    records = list(ExportRecord.objects.all())
    assert len(records) == 2
    assert {(r.version, r.file_name, r.sha256) for r in records} == {
        (1, records[0].file_name, file_checksum(out / records[0].file_name))
    }
    assert [p.name for p in out.iterdir()] == [records[0].file_name]
    assert list(ExportVersion.objects.values_list("version", flat=True)) == [1]


# Imports a sample flight into its own database (SQLite in its home) and exports it with
# `stratoflow export --format csv`, stopped at the point argv[3] names: "writing" (the
# writer has written the content into its .part file) or "linked" (the finished file has
# just been linked under its final name, not yet recorded). Without argv[3]: a plain export.
CHILD = """
import os, sys, threading
from pathlib import Path
from stratoflow import cli, write_dataset
from stratoflow.samples import generate_flight
from stratoflow.server import setup
from stratoflow.writers.csv import CsvWriter

folder, out, *stop = sys.argv[1:]
setup(migrate=True)
if stop:
    from stratoflow.importers.series import import_file

    flight = generate_flight(seed=5, hours=0.1, origin="FRA", destination="MUC")
    path = Path(folder) / flight.file_name
    write_dataset(flight.dataset, path, writer="netcdf", layout="iagos")
    import_file(path, identity="portal/" + flight.file_name)


def stopped():
    print("stopped", flush=True)
    threading.Event().wait()


if stop == ["writing"]:
    real_write = CsvWriter._write

    def half_way(self, ds, target):
        real_write(self, ds, target)
        stopped()

    CsvWriter._write = half_way
elif stop == ["linked"]:
    real_link = os.link

    def linked(source, target):
        real_link(source, target)
        stopped()

    os.link = linked
sys.exit(cli.main(["export", "--level", "any", "--format", "csv", "--out", out]))
"""


def _child(tmp_path: Path, *stop: str) -> subprocess.Popen[str]:
    env = {**os.environ, "STRATOFLOW_HOME": str(tmp_path / "home"), "STRATOFLOW_DATABASE_URL": ""}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), str(tmp_path / "out"), *stop],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _stop_at(tmp_path: Path, point: str, sig: signal.Signals) -> tuple[int, str]:
    proc = _child(tmp_path, point)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "stopped\n", proc.communicate()[1]
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


def _rows(tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The child's export records and version claims, read with a connection of its own."""
    with sqlite3.connect(tmp_path / "home" / "stratoflow.sqlite3") as db:
        return {
            "records": db.execute(
                "SELECT version, file_name, sha256 FROM exports_exportrecord"
            ).fetchall(),
            "claims": db.execute("SELECT version FROM exports_exportversion").fetchall(),
        }


@pytest.mark.parametrize("point", ["writing", "linked"])
def test_sigterm_mid_export_releases_the_claim(tmp_path: Path, point: str) -> None:
    """SIGTERM while the file is written or being put in place: the claim, committed before
    the file was written, is released again; no file, no record."""
    returncode, err = _stop_at(tmp_path, point, signal.SIGTERM)
    assert returncode == 143, err
    assert list((tmp_path / "out").iterdir()) == []
    assert _rows(tmp_path) == {"records": [], "claims": []}


@pytest.mark.parametrize("point", ["writing", "linked"])
def test_an_export_killed_outright_is_finished_by_the_next_one(tmp_path: Path, point: str) -> None:
    """SIGKILL (nothing unwinds) while the file is written, or once it is linked under its
    name but not yet recorded: the claim and the hidden files stay. The next export of the
    flight takes the claim up (v1 again), replaces the unrecorded file and removes the
    leftovers: one file, its record, no hidden file."""
    from stratoflow.readers.base import file_checksum

    returncode, _ = _stop_at(tmp_path, point, signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    out = tmp_path / "out"
    left = sorted(p.name for p in out.iterdir())
    assert left and all(name.startswith(".") for name in left) == (point == "writing"), left
    assert _rows(tmp_path) == {"records": [], "claims": [(1,)]}

    again = _child(tmp_path)
    stdout, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    (record,) = _rows(tmp_path)["records"]
    version, name, sha256 = record
    assert version == 1 and name in stdout
    assert sorted(p.name for p in out.iterdir()) == [name]
    assert file_checksum(out / name) == sha256
    assert _rows(tmp_path)["claims"] == [(1,)]
