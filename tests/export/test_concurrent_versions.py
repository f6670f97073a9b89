"""Exports running at once: every content gets a number of its own, no file is replaced.

``version`` counts the distinct contents of a flight in a format, and the file name says it
(``<flight>_L1_v2.nc``). It was read as "highest so far + 1" and recorded later in the same
transaction, so two exports of different contents at once (two workers, the command line
beside a job) both became v1 on PostgreSQL, and the later one overwrote the earlier one's file
under its record. Threads with connections of their own; the interleaving is forced with
``tests/_race.py`` on PostgreSQL, and left to the scheduler (all at once) on either backend.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from _race import HOLD_S, race, require_postgres, start_thread

from ._flights import Imported, approve, import_sample

pytestmark = pytest.mark.django_db(transaction=True)

#: Contents of one flight that differ only by the variables chosen: same format, so
#: without distinct versions the same file name.
CONTENTS = (("O3_P1",), ("CO_P1",), ("O3_P1", "CO_P1"))


def _exporter(identifier: str, variables: tuple[str, ...], out: Path) -> Callable[[], Any]:
    from stratoflow.exporters.export import ExportOptions, export
    from stratoflow.exporters.selection import Selection

    selection = Selection(flights=(identifier,), variables=variables)
    return lambda: export(selection, ExportOptions(format="netcdf"), out)


def _assert_one_number_and_file_per_content(out: Path, contents: int) -> None:
    """Each content has its own version and file, and each file is its record's bytes."""
    from stratoflow.readers.base import file_checksum
    from stratoflow.server.exports.models import ExportRecord, ExportVersion

    records = list(ExportRecord.objects.order_by("version"))
    assert sorted(r.version for r in records) == list(range(1, contents + 1)), [
        (r.version, r.fingerprint[:8]) for r in records
    ]
    assert len({r.fingerprint for r in records}) == contents
    assert sorted(p.name for p in out.iterdir()) == sorted(r.file_name for r in records)
    for record in records:
        assert file_checksum(out / record.file_name) == record.sha256, record.file_name
    claimed = ExportVersion.objects.values_list("fingerprint", "version")
    assert sorted(claimed) == sorted((r.fingerprint, r.version) for r in records)


def test_an_export_that_read_the_versions_before_another_committed_takes_the_next(
    imported: Imported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first export has its number and is writing its file when the second one starts:
    the second waits for it and takes v2 (it took v1 too, and its file was overwritten)."""
    from stratoflow.exporters import export as module

    require_postgres()
    approve(imported.identifier)
    out = tmp_path / "out"
    numbered, go = threading.Event(), threading.Event()
    real_write = module.write_dataset
    first_call = threading.Lock()

    def held(*args: Any, **kwargs: Any) -> Any:
        if first_call.acquire(blocking=False):  # only the first export is held
            numbered.set()
            assert go.wait(HOLD_S)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(module, "write_dataset", held)
    errors = race(
        _exporter(imported.identifier, CONTENTS[0], out),
        _exporter(imported.identifier, CONTENTS[1], out),
        numbered,
        go,
    )
    assert not errors, errors
    _assert_one_number_and_file_per_content(out, 2)


def test_an_export_never_replaces_a_file_another_export_placed_under_its_name(
    imported: Imported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two flights whose identifiers make one file name (``X/1`` and ``X_1``: ``X_1_L1_v1``)
    exported at once: the name is free when the first one checks it, and the second one's
    file is there by the time the first one's is put in place. It replaced that file under
    the other's record; now the first export fails, saying so, and the other's file stays."""
    from stratoflow.errors import ExportError
    from stratoflow.exporters import export as module
    from stratoflow.readers.base import file_checksum
    from stratoflow.server.catalog.models import Flight
    from stratoflow.server.exports.models import ExportRecord, ExportVersion

    require_postgres()
    other = import_sample(tmp_path, seed=12, hours=0.2)
    for old, new in ((imported.identifier, "X/1"), (other.identifier, "X_1")):
        Flight.objects.filter(identifier=old).update(identifier=new)
        approve(new)
    out = tmp_path / "out"
    checked, go = threading.Event(), threading.Event()
    real_write = module.write_dataset
    first_call = threading.Lock()

    def held(*args: Any, **kwargs: Any) -> Any:
        if first_call.acquire(blocking=False):  # the first export has found the name free
            checked.set()
            assert go.wait(HOLD_S)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(module, "write_dataset", held)
    errors = race(_exporter("X/1", (), out), _exporter("X_1", (), out), checked, go)
    assert len(errors) == 1 and isinstance(errors[0], ExportError), errors
    assert "X_1_L1_v1.nc already exists" in str(errors[0]) and "X/1" in str(errors[0])
    (record,) = ExportRecord.objects.all()
    assert record.subject == "X_1"
    assert [p.name for p in out.iterdir()] == [record.file_name]  # no hidden part left
    assert file_checksum(out / record.file_name) == record.sha256
    assert list(ExportVersion.objects.values_list("subject", flat=True)) == ["X_1"]


def test_exports_of_different_contents_started_together_get_distinct_versions(
    imported: Imported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three contents exported at once into one directory (released together after the
    flights' data are assembled, so that they read the versions at the same moment)."""
    from stratoflow.exporters import export as module

    approve(imported.identifier)
    out = tmp_path / "out"
    together = threading.Barrier(len(CONTENTS))
    real_assemble = module.flight_dataset

    def assembled(*args: Any, **kwargs: Any) -> Any:
        ds = real_assemble(*args, **kwargs)
        together.wait(HOLD_S)
        return ds

    monkeypatch.setattr(module, "flight_dataset", assembled)
    errors: list[BaseException] = []
    threads = [
        start_thread(_exporter(imported.identifier, variables, out), errors)
        for variables in CONTENTS
    ]
    for thread in threads:
        thread.join(HOLD_S)
    assert not errors, errors
    _assert_one_number_and_file_per_content(out, len(CONTENTS))

    # The same contents again: each keeps its number.
    monkeypatch.undo()
    from stratoflow.server.exports.models import ExportRecord

    first = dict(ExportRecord.objects.values_list("fingerprint", "version"))
    for variables in CONTENTS:
        _exporter(imported.identifier, variables, tmp_path / "again")()
    again = ExportRecord.objects.values_list("fingerprint", "version")
    assert len(again) == 2 * len(CONTENTS)
    assert all(first[fingerprint] == version for fingerprint, version in again)


def test_versions_recorded_before_the_claims_existed_are_claimed_once(
    imported: Imported, tmp_path: Path
) -> None:
    """The migration that adds version claims gives every recorded content its number; of
    two contents recorded under one number (the old race), the first keeps it, and a new
    export of the other takes the next free number."""
    from django.apps import apps

    from stratoflow.server.exports.models import ExportRecord, ExportVersion

    migration = importlib.import_module("stratoflow.server.exports.migrations.0002_export_version")
    approve(imported.identifier)
    for variables in CONTENTS[:2]:
        _exporter(imported.identifier, variables, tmp_path / "old")()
    ExportRecord.objects.filter(version=2).update(version=1)  # as the race left them
    first, second = ExportRecord.objects.order_by("id").values_list("fingerprint", flat=True)
    ExportVersion.objects.all().delete()

    migration.claim_recorded_versions(apps, None)
    assert list(ExportVersion.objects.values_list("fingerprint", "version")) == [(first, 1)]
    (record,) = _exporter(imported.identifier, CONTENTS[1], tmp_path / "new")()
    assert (record.fingerprint, record.version) == (second, 2)
