"""Re-processing: the same bytes under another processing configuration are a new version.

Same bytes + same configuration = nothing new; a changed calibration (or reader option,
level, reference file) makes a new version of the series from the same source row, and the
earlier version stays, not current.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stratoflow import write_dataset
from stratoflow.dataset import make_dataset

pytestmark = pytest.mark.django_db(transaction=True)


def _calibrated(offset: float) -> list[dict[str, Any]]:
    pre = {
        "time": "2024-01-01T00:00:00",
        "function": "linear",
        "parameters": {
            "offset": {"value": offset, "units": "hPa"},
            "slope": {"value": 1.0, "units": "1"},
        },
    }
    return [{"step": "calibration", "params": {"variable": "p", "pre": pre}}]


def _file(tmp_path: Path) -> Path:
    t = np.datetime64("2024-03-01T00:00:00", "ns") + np.arange(600) * np.timedelta64(1, "s")
    ds = make_dataset(
        t,
        {
            "p": (np.linspace(800.0, 900.0, 600), {"units": "hPa", "long_name": "pressure"}),
            "T": (np.linspace(250.0, 260.0, 600), {"units": "K", "long_name": "temperature"}),
        },
        attrs={"flight_id": "reprocessing"},
    )
    return write_dataset(ds, tmp_path / "flight.nc", writer="netcdf")


def test_changed_calibration_makes_a_new_version_same_configuration_does_not(
    tmp_path: Path,
) -> None:
    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Segment, Series, SourceFile
    from stratoflow.server.catalog.selectors import series_arrays

    path = _file(tmp_path)
    first = import_file(path, identity="portal/flight.nc", qc=False, processing=_calibrated(1.0))
    assert first.created and len(first.series_ids) == 2
    again = import_file(path, identity="portal/flight.nc", qc=False, processing=_calibrated(1.0))
    assert not again.created and sorted(again.series_ids) == sorted(first.series_ids)
    assert (SourceFile.objects.count(), Series.objects.count(), Segment.objects.count()) == (
        1,
        2,
        2,
    )

    recal = import_file(path, identity="portal/flight.nc", qc=False, processing=_calibrated(3.0))
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
            path, identity="portal/flight.nc", qc=False, processing=_calibrated(offset)
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
    first = import_file(path, identity="old/flight.nc", qc=False, processing=_calibrated(1.0))
    for series in Series.objects.all():
        series.provenance = {k: v for k, v in series.provenance.items() if k != "config_key"}
        series.save(update_fields=["provenance"])
    again = import_file(path, identity="old/flight.nc", qc=False, processing=_calibrated(1.0))
    assert not again.created and sorted(again.series_ids) == sorted(first.series_ids)
    assert Series.objects.count() == 2
