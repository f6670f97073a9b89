"""``stratoflow convert``: any reader in, any writer out, through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from stratoflow.cli import main
from stratoflow.readers import CfNetcdfReader, IagosNetcdfReader
from stratoflow.writers import NetcdfWriter


def test_convert_iagos_to_cf_netcdf(
    iagos_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "flight.nc"
    assert main(["convert", str(iagos_file), str(out), "--format", "netcdf"]) == 0
    assert "iagos_netcdf" in capsys.readouterr().out
    original = IagosNetcdfReader().read(iagos_file)
    back = CfNetcdfReader().read(out)
    for name in original.data_vars:
        np.testing.assert_array_equal(back[name].values, original[name].values, err_msg=name)


def test_convert_to_iagos_layout_and_csv(flight: xr.Dataset, tmp_path: Path) -> None:
    source = NetcdfWriter().write(flight, tmp_path / "in.nc")
    portal = tmp_path / "portal.nc"
    assert main(["convert", str(source), str(portal), "--format", "iagos-netcdf"]) == 0
    np.testing.assert_array_equal(
        IagosNetcdfReader().read(portal)["O3_P1_flag"].values, flight["O3_flag"].values
    )
    csv = tmp_path / "out.csv"
    assert (
        main(["convert", str(portal), str(csv), "--format", "csv", "--reader", "iagos_netcdf"]) == 0
    )
    assert "O3_P1_flag" in csv.read_text().splitlines()[-501]


def test_convert_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "fake.nc"
    fake.write_bytes(b"not netCDF at all")
    status = main(
        ["convert", str(fake), str(tmp_path / "o.csv"), "--format", "csv", "--reader", "cf_netcdf"]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert "fake.nc: not a netCDF file" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()
    status = main(
        [
            "convert",
            str(fake),
            str(tmp_path / "o.csv"),
            "--format",
            "csv",
            "--reader",
            "no_such_reader",
        ]
    )
    assert status == 1
    assert "unknown reader 'no_such_reader'" in capsys.readouterr().err


def test_convert_passes_reader_options(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """inspect took reader options, convert did not: a log in local standard time (or a
    NASA Ames file whose time unit must be given) could be inspected but not converted."""
    from stratoflow.readers import DelimitedReader

    source = shared_data / "fairo_raw/11_30_04.OMC"
    out = tmp_path / "omc.nc"
    args = ["convert", str(source), str(out), "--format", "netcdf"]
    assert main([*args, "-o", "preset=fairo_omc", "-o", "utc_offset=+01:00"]) == 0
    expected = DelimitedReader(preset="fairo_omc", utc_offset="+01:00").read(source)
    back = CfNetcdfReader().read(out)
    np.testing.assert_array_equal(back["time"].values, expected["time"].values)
    assert main([*args, "-o", "no_such_option=1"]) == 1
    assert "no_such_option" in capsys.readouterr().err
