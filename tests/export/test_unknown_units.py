"""Units a source file never gave (``unknown``) through the netCDF writer.

The readers label such variables ``unknown`` rather than claim they are dimensionless ("1").
That is UDUNITS' own word for it (cf_units knows ``Unit("unknown")``): the netCDF writer
writes it as it is, the CF checker accepts it, and our reader reads it back unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from stratoflow import open_dataset, write_dataset
from stratoflow.dataset import make_dataset
from stratoflow.readers.base import UNKNOWN_UNITS

from .conftest import Findings


def _dataset() -> xr.Dataset:
    t = np.datetime64("2024-01-01T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    return make_dataset(
        t,
        {
            "O3": (np.array([40.0, 41.0, 42.0]), {"units": UNKNOWN_UNITS}),
            "lat": (np.array([50.0, 50.1, 50.2]), {"units": UNKNOWN_UNITS}),
            "lon": (np.array([8.0, 8.1, 8.2]), {"units": "degrees_east"}),
        },
        attrs={"title": "units unknown", "platform": "test"},
    )


@pytest.mark.parametrize("layout", ["cf", "iagos"])
def test_unknown_units_are_written_and_read_back_as_unknown(tmp_path: Path, layout: str) -> None:
    path = write_dataset(_dataset(), tmp_path / f"{layout}.nc", writer="netcdf", layout=layout)
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        o3 = next(v for v in nc.variables if v.startswith("O3") and "flag" not in v)
        assert nc[o3].getncattr("units") == UNKNOWN_UNITS
    back = open_dataset(path)
    assert back[o3].attrs["units"] == UNKNOWN_UNITS


@pytest.mark.slow
def test_unknown_units_pass_the_cf_checker(
    tmp_path: Path, compliance: Callable[[Path], Findings]
) -> None:
    path = write_dataset(_dataset(), tmp_path / "unknown.nc", writer="netcdf")
    findings = compliance(path)
    assert findings["cf:1.8"]["high_priorities"] == []
