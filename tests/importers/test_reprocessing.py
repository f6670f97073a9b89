"""Re-processing: the same bytes under another processing configuration are a new version.

Same bytes + same configuration = nothing new; a changed calibration (or reader option,
level, reference file) makes a new version of the series from the same source row, and the
earlier version stays, not current. Going back to the earlier configuration restores the
earlier version (current again, nothing copied), unless a corrected file is current.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratoflow import write_dataset
from stratoflow.dataset import make_dataset

from ._helpers import calibrated, write_pressure_flight

pytestmark = pytest.mark.django_db(transaction=True)


def _file(tmp_path: Path) -> Path:
    return write_pressure_flight(tmp_path / "flight.nc", "reprocessing", "2024-03-01T00:00:00", 600)


def test_changed_calibration_makes_a_new_version_same_configuration_does_not(
    tmp_path: Path,
) -> None:
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Segment, Series, SourceFile
    from stratoflow.server.catalog.selectors import series_arrays

    path = _file(tmp_path)
    first = import_file(path, identity="portal/flight.nc", qc=False, processing=calibrated(1.0))
    assert first.created and len(first.series_ids) == 2
    again = import_file(path, identity="portal/flight.nc", qc=False, processing=calibrated(1.0))
    assert not again.created and sorted(again.series_ids) == sorted(first.series_ids)
    assert (SourceFile.objects.count(), Series.objects.count(), Segment.objects.count()) == (
        1,
        2,
        2,
    )

    recal = import_file(path, identity="portal/flight.nc", qc=False, processing=calibrated(3.0))
    assert recal.created and set(recal.series_ids).isdisjoint(first.series_ids)
    assert SourceFile.objects.count() == 1  # the same bytes: one source row, two imports of it
    p = Series.objects.filter(variable="p").order_by("version")
    assert [(s.version, s.is_current) for s in p] == [(1, False), (2, True)]
    assert p[0].source_id == p[1].source_id
    assert p[0].provenance["config_key"] != p[1].provenance["config_key"]
    delta = series_arrays(p[1])["value"] - series_arrays(p[0])["value"]
    np.testing.assert_allclose(delta, 2.0)
    # the step's parameters are what changed, and the provenance says so
    assert p[1].provenance["processing"][0]["params"]["pre"]["parameters"]["offset"]["value"] == 3

    # re-importing either configuration again creates nothing
    for offset, expected in ((3.0, recal.series_ids), (1.0, first.series_ids)):
        result = import_file(
            path, identity="portal/flight.nc", qc=False, processing=calibrated(offset)
        )
        assert not result.created and sorted(result.series_ids) == sorted(expected)
    assert Series.objects.count() == 4

    # raw (no processing) is a configuration of its own
    raw = import_file(path, identity="portal/flight.nc", qc=False)
    assert raw.created and Series.objects.filter(variable="p", is_current=True).get().version == 3


def test_series_stored_without_a_recorded_key_still_count_as_imported(tmp_path: Path) -> None:
    """Series stored before the key was recorded: the key is recomputed from provenance."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Series

    path = _file(tmp_path)
    first = import_file(path, identity="old/flight.nc", qc=False, processing=calibrated(1.0))
    for series in Series.objects.all():
        series.provenance = {k: v for k, v in series.provenance.items() if k != "config_key"}
        series.save(update_fields=["provenance"])
    again = import_file(path, identity="old/flight.nc", qc=False, processing=calibrated(1.0))
    assert not again.created and sorted(again.series_ids) == sorted(first.series_ids)
    assert Series.objects.count() == 2


def _state(variable: str) -> list[tuple[int, bool]]:
    from stratoflow.server.catalog.models import Series

    rows = Series.objects.filter(variable=variable).order_by("version")
    return [(s.version, s.is_current) for s in rows]


def _rows() -> tuple[int, int, int]:
    from stratoflow.server.catalog.models import Segment, Series, SourceFile

    return SourceFile.objects.count(), Series.objects.count(), Segment.objects.count()


def test_going_back_to_an_earlier_configuration_restores_its_version(tmp_path: Path) -> None:
    """A -> B -> A: version 1 becomes current again, version 2 not; no row is copied, the
    restore is recorded (provenance, review history), and importing A again is unchanged."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import QCRun, Series
    from stratoflow.server.review.models import ReviewEvent

    path = _file(tmp_path)
    a = import_file(path, identity="portal/flight.nc", processing=calibrated(1.0))
    b = import_file(path, identity="portal/flight.nc", processing=calibrated(3.0))
    assert a.created and b.created and _state("p") == [(1, False), (2, True)]
    rows, runs = _rows(), QCRun.objects.count()

    back = import_file(path, identity="portal/flight.nc", processing=calibrated(1.0))
    assert back.restored and not back.created
    assert sorted(back.series_ids) == sorted(a.series_ids)
    assert back.result is not None
    assert sorted(s.pk for s in back.result.superseded) == sorted(b.series_ids)
    assert _state("p") == _state("T") == [(1, True), (2, False)]
    assert _rows() == rows and QCRun.objects.count() == runs  # nothing copied, QC kept
    for series in Series.objects.filter(pk__in=a.series_ids):
        (entry,) = series.provenance["restorations"]
        assert entry["config_key"] == series.provenance["config_key"]
        assert sorted(r["id"] for r in entry["replaced"]) == sorted(b.series_ids)
        assert series.qc_runs.filter(is_current=True).count() == 1
    event = ReviewEvent.objects.get(action="restore")
    assert event.user is None and event.task is None  # imported by hand, not by a job task
    assert sorted(r["id"] for r in event.details["restored"]) == sorted(a.series_ids)
    assert sorted(r["version"] for r in event.details["replaced"]) == [2, 2]

    again = import_file(path, identity="portal/flight.nc", processing=calibrated(1.0))
    assert not again.created and not again.restored
    assert ReviewEvent.objects.filter(action="restore").count() == 1

    # and forward again: version 2 is restored, no version 3
    forward = import_file(path, identity="portal/flight.nc", processing=calibrated(3.0))
    assert forward.restored and sorted(forward.series_ids) == sorted(b.series_ids)
    assert _state("p") == [(1, False), (2, True)] and _rows() == rows


def test_old_bytes_do_not_undo_a_corrected_file(tmp_path: Path) -> None:
    """A corrected file (other bytes, same identity) is current: importing the old bytes
    again restores nothing, as before there were restores."""
    from stratoflow.importers.series import import_file
    from stratoflow.server.review.models import ReviewEvent

    path = _file(tmp_path)
    old = path.read_bytes()
    first = import_file(path, identity="portal/flight.nc", qc=False)
    write_pressure_flight(path, "reprocessing", "2024-03-01T00:00:00", 600, p=(810.0, 910.0))
    corrected = import_file(path, identity="portal/flight.nc", qc=False)
    assert corrected.created and _state("p") == [(1, False), (2, True)]
    path.write_bytes(old)
    again = import_file(path, identity="portal/flight.nc", qc=False)
    assert not again.created and not again.restored
    assert sorted(again.series_ids) == sorted(first.series_ids)
    assert _state("p") == [(1, False), (2, True)]
    assert not ReviewEvent.objects.filter(action="restore").exists()


@pytest.mark.postgres
def test_two_workers_restoring_at_once_restore_once(tmp_path: Path) -> None:
    """Two imports of A racing while B is current: one restores, the other finds it done
    (the source row lock serialises them), and the history has one restore."""
    import threading

    from django.db import connection, connections

    from stratoflow import open_dataset
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.services import ImportResult, series_import
    from stratoflow.server.review.models import ReviewEvent

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (PostgreSQL pass)")
    path = _file(tmp_path)
    a = import_file(path, identity="portal/flight.nc", qc=False, processing=calibrated(1.0))
    import_file(path, identity="portal/flight.nc", qc=False, processing=calibrated(3.0))
    rows = _rows()
    # the file is read here, once: netCDF/HDF5 reads are not thread-safe; what races is the
    # catalog's part, with configuration A as the first import recorded it
    ds = open_dataset(path)
    processing = Series.objects.get(pk=a.series_ids[0]).provenance["processing"]
    barrier = threading.Barrier(2)
    results: list[ImportResult] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(
                series_import(
                    ds,
                    identity="portal/flight.nc",
                    size=path.stat().st_size,
                    processing=processing,
                )
            )
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(r.restored for r in results) == [False, True]
    assert not any(r.created for r in results)
    assert _state("p") == _state("T") == [(1, True), (2, False)] and _rows() == rows
    assert ReviewEvent.objects.filter(action="restore").count() == 1


def test_the_same_file_at_another_level_replaces_its_version(tmp_path: Path) -> None:
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.review.selectors import current_series

    path = _file(tmp_path)
    other = write_dataset(
        make_dataset(
            np.datetime64("2024-03-01T00:00:00", "ns") + np.arange(600) * np.timedelta64(1, "s"),
            {"O3": (np.linspace(40.0, 60.0, 600), {"units": "1e-9", "long_name": "ozone"})},
            attrs={"flight_id": "reprocessing"},
        ),
        tmp_path / "ozone.nc",
        writer="netcdf",
    )
    import_file(other, identity="portal/ozone.nc", qc=False, level="L2")  # another file
    l1 = import_file(path, identity="portal/flight.nc", qc=False, level="L1")
    l2 = import_file(path, identity="portal/flight.nc", qc=False, level="L2")
    assert l2.created and l2.result is not None and l1.result is not None
    assert l2.result.source.pk == l1.result.source.pk  # the same bytes, re-processed

    def state() -> list[tuple[str, str, int, bool]]:
        return list(
            Series.objects.filter(source__identity="portal/flight.nc")
            .order_by("variable", "level")
            .values_list("variable", "level", "version", "is_current")
        )

    assert state() == [
        ("T", "L1", 1, False),
        ("T", "L2", 1, True),
        ("p", "L1", 1, False),
        ("p", "L2", 1, True),
    ]
    flight = Series.objects.get(pk=l2.series_ids[0]).flight
    assert sorted(s.variable for s in current_series(flight)) == ["O3", "T", "p"]

    # back to L1: its version is restored, the L2 one stops being current
    back = import_file(path, identity="portal/flight.nc", qc=False, level="L1")
    assert back.restored and sorted(back.series_ids) == sorted(l1.series_ids)
    assert [row[3] for row in state()] == [True, False, True, False]
    assert sorted(s.variable for s in current_series(flight)) == ["O3", "T", "p"]
