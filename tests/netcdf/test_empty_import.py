"""An empty netCDF file given to the importer: the import fails naming it, nothing is stored."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import pytest

from stratoflow.cli import main

pytestmark = pytest.mark.django_db(transaction=True)


def test_importing_a_file_without_records_fails_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.catalog.models import Flight, Series, SourceFile

    path = tmp_path / "IAGOS_timeseries_empty.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("UTC_time", None)
        time = nc.createVariable("UTC_time", "i4", ("UTC_time",))
        time.units = "seconds since 2024-01-01 00:00:00"
        nc.createVariable("O3_P1", "f4", ("UTC_time",)).units = "1e-9"
    assert main(["import", str(path), "--provider", "portal"]) == 1
    err = capsys.readouterr().err
    assert f"{path}: an empty netCDF file: the time variable 'UTC_time' has no records" in err
    assert "Traceback" not in err
    assert (SourceFile.objects.count(), Flight.objects.count(), Series.objects.count()) == (0, 0, 0)
