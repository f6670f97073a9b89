"""IAGOS and CF netCDF readers: exact agreement with xarray on real files, quirks, defects."""

from __future__ import annotations

import re
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

import stratoflow
from stratoflow.dataset import data_variables, validate
from stratoflow.errors import ReaderError
from stratoflow.readers import CfNetcdfReader, IagosNetcdfReader, guess_reader

IAGOS_CODES = {"good": 0, "limited": 2, "erroneous": 3, "not_validated": 4, "missing_values": 7}


def _time_series(ref: xr.Dataset, dim: str) -> list[str]:
    return [
        str(n)
        for n, v in ref.variables.items()
        if v.dims == (dim,) and n != dim and v.dtype.kind in "biuf"
    ]


def test_iagos_reader_agrees_with_xarray(iagos_file: Path) -> None:
    ds = IagosNetcdfReader().read(iagos_file)
    with xr.open_dataset(iagos_file) as ref:
        np.testing.assert_array_equal(ds["time"].values, ref["UTC_time"].values)
        names = _time_series(ref, "UTC_time")
        assert len(names) == 59
        for name in names:
            if name.endswith("_validity_flag"):
                base = name.removesuffix("_validity_flag")
                raw = ref[name].values
                # no flag in the file: "missing" where the value is missing too, else "not
                # validated" (a value nobody judged is still data)
                no_value = ~np.isfinite(ref[base].values.astype(np.float64))
                expected = np.where(np.isnan(raw), np.where(no_value, 7, 4), raw).astype(np.uint8)
                np.testing.assert_array_equal(ds[f"{base}_flag"].values, expected, err_msg=name)
                continue
            np.testing.assert_array_equal(ds[name].values, ref[name].values, err_msg=name)
            assert ds[name].attrs["units"] == ref[name].attrs["units"], name
            assert ds[name].attrs["long_name"] == ref[name].attrs["long_name"], name


def test_iagos_reader_structure(iagos_file: Path) -> None:
    ds = IagosNetcdfReader().read(iagos_file)
    validate(ds)
    assert ds.sizes["time"] == 8088
    assert ds.attrs["reader"] == "iagos_netcdf"
    assert ds.attrs["source_file"] == iagos_file.name
    assert ds.attrs["flight"] == "2019010510370802"
    assert ds.attrs["departure_airport"].startswith("FRA")
    assert ds.attrs["arrival_airport"].startswith("DTW")
    assert ds.attrs["departure_time"] == "2019-01-05T10:37:24Z"
    assert ds.attrs["arrival_time"] == "2019-01-05T19:36:32Z"
    assert ds.attrs["aircraft_registration"] == "D-AIGT"
    assert "IAGOS-01" in ds.attrs["platform"]
    assert ds["O3_P1"].attrs["ancillary_variables"].split() == [
        "O3_P1_flag",
        "O3_P1_process_flag",
        "O3_P1_error",
    ]
    measured = data_variables(ds)
    assert "O3_P1" in measured and "CO_P1" in measured and "lat" in measured
    assert not [n for n in measured if n.endswith(("_error", "_flag"))]
    flag = ds["O3_P1_flag"]
    assert flag.dtype == np.uint8
    assert flag.attrs["flag_meanings"] == "good limited bad not_validated missing"
    assert int((flag == 0).sum()) == 7771 and int((flag == 7).sum()) == 317
    # Missing O3 values are flagged missing; process flags stay integer without a fill value.
    assert (flag.values[np.isnan(ds["O3_P1"].values)] == 7).all()
    assert ds["O3_P1_process_flag"].dtype.kind == "i"
    assert "axis" not in ds["lat"].attrs  # the file's swapped X/Y axes are not carried on


def test_guess_picks_the_specific_reader(iagos_file: Path, act_file: Path) -> None:
    assert guess_reader(iagos_file) is IagosNetcdfReader
    assert guess_reader(act_file) is CfNetcdfReader
    assert stratoflow.open_dataset(iagos_file).attrs["reader"] == "iagos_netcdf"


def test_cf_reader_agrees_with_xarray(act_file: Path) -> None:
    ds = CfNetcdfReader().read(act_file)
    with xr.open_dataset(act_file) as ref:
        np.testing.assert_array_equal(ds["time"].values, ref["time"].values)
        names = _time_series(ref, "time")
        assert len(names) == 95
        for name in names:
            np.testing.assert_array_equal(ds[name].values, ref[name].values, err_msg=name)
            assert ds[name].attrs["units"] == ref[name].attrs["units"], name
    # the ORNL DAAC conversion kept the ICARTT name: it lands on the ICARTT file's flight, and
    # its own trajectory id (one per campaign day, not per aircraft) stays as a label
    assert ds.attrs["flight"] == "nasa-b-200-aircraft_20170121"
    assert ds.attrs["flight_label"] == "merge_20170121"
    assert ds.attrs["reader"] == "cf_netcdf"
    assert ds.attrs["platform"] == "NASA B-200 Aircraft"


def _quirky_iagos(path: Path, *, meanings: list[str] | None = None) -> None:
    """An IAGOS-like file: time fill value 0.0 with a real time of 0, string-array meanings."""
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("UTC_time", 4)
        t = nc.createVariable("UTC_time", "f8", ("UTC_time",), fill_value=0.0)
        t.units = "seconds since 2019-01-05 00:00:00 UTC"
        t.standard_name = "time"
        t[:] = [0.0, 4.0, 8.0, 12.0]
        o3 = nc.createVariable("O3_P1", "f8", ("UTC_time",), fill_value=-9999.0)
        o3.units = "ppb"
        o3.long_name = "Ozone mixing ratio"
        o3[:] = [40.0, -9999.0, 42.5, 43.0]
        flag = nc.createVariable("O3_P1_validity_flag", "i4", ("UTC_time",), fill_value=-9999)
        flag.units = "1"
        flag.flag_values = np.array([0, 2, 3, 4, 7], dtype=np.int32)
        flag.setncattr_string(
            "flag_meanings",
            meanings or ["good", "limited", "erroneous", "not_validated", "missing_values"],
        )
        flag[:] = [0, 7, 3, -9999]


def test_iagos_quirks(tmp_path: Path) -> None:
    path = tmp_path / "IAGOS_timeseries_quirky.nc4"
    _quirky_iagos(path)
    ds = IagosNetcdfReader().read(path)
    assert str(ds["time"].values[0]) == "2019-01-05T00:00:00.000000000"
    # the last value has no flag (fill): it is data nobody has judged, not missing data
    np.testing.assert_array_equal(ds["O3_P1_flag"].values, [0, 7, 3, 4])
    assert np.isnan(ds["O3_P1"].values[1])


def test_iagos_unknown_flag_meaning_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "IAGOS_timeseries_odd.nc4"
    _quirky_iagos(path, meanings=["good", "limited", "erroneous", "unsure", "missing_values"])
    with pytest.raises(ReaderError, match=r"IAGOS_timeseries_odd\.nc4.*unknown flag meaning"):
        IagosNetcdfReader().read(path)


def test_truncated_file_is_a_reader_error(iagos_file: Path, tmp_path: Path) -> None:
    broken = tmp_path / "IAGOS_truncated.nc4"
    broken.write_bytes(iagos_file.read_bytes()[:50_000])
    for reader in (IagosNetcdfReader(), CfNetcdfReader()):
        with pytest.raises(
            ReaderError, match=r"IAGOS_truncated\.nc4: damaged or truncated netCDF file \(50,000 b"
        ):
            reader.read(broken)


@pytest.mark.parametrize("reader", [CfNetcdfReader, IagosNetcdfReader])
@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_a_file_damaged_inside_is_called_damaged(
    iagos_file: Path, tmp_path: Path, where: float, reader: type[CfNetcdfReader]
) -> None:
    """4 KiB of zeros in the middle (a disk or transfer error): where xarray reads the
    damaged part on opening or loading, netCDF raised RuntimeError, which came out as
    "cannot parse as cf_netcdf: RuntimeError: NetCDF: HDF error"."""
    raw = iagos_file.read_bytes()
    at = int(len(raw) * where)
    path = tmp_path / "IAGOS_damaged.nc4"
    path.write_bytes(raw[:at] + bytes(4096) + raw[at + 4096 :])
    with pytest.raises(ReaderError, match=r"IAGOS_damaged\.nc4: damaged .*netCDF file") as err:
        reader().read(path)
    assert "RuntimeError" not in str(err.value)


def test_not_netcdf_is_a_reader_error(tmp_path: Path) -> None:
    fake = tmp_path / "flight.nc"
    fake.write_bytes(b"Date,O3\n2024-01-01,40\n")
    assert not CfNetcdfReader.guess_can_open(fake)
    assert not IagosNetcdfReader.guess_can_open(fake)
    for reader in (IagosNetcdfReader(), CfNetcdfReader()):
        with pytest.raises(ReaderError, match=r"flight\.nc: not a netCDF file"):
            reader.read(fake)
    with pytest.raises(ReaderError, match=r"flight\.nc"):
        stratoflow.open_dataset(fake)


def test_netcdf_without_time_is_a_reader_error(tmp_path: Path) -> None:
    path = tmp_path / "grid.nc"
    xr.Dataset({"x": ("i", np.arange(3.0))}).to_netcdf(path)
    with pytest.raises(ReaderError, match=r"grid\.nc: no time coordinate"):
        CfNetcdfReader().read(path)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("iso_text", "'time' holds text ('2020-05-04T10:00:00Z'), not numbers"),
        ("no_units", "'time' has no units"),
        ("bare_unit", "'UTC_seconds' has units 's'"),
    ],
)
def test_a_time_variable_that_is_none_says_why(tmp_path: Path, kind: str, said: str) -> None:
    """The error said only "no time coordinate" beside a variable called time."""
    path = tmp_path / f"{kind}.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 2)
        if kind == "iso_text":
            nc.createDimension("chars", 20)
            time = nc.createVariable("time", "S1", ("time", "chars"))
            stamps = np.array(["2020-05-04T10:00:00Z", "2020-05-04T10:00:01Z"], "S20")
            time[:] = netCDF4.stringtochar(stamps)
        else:
            name = "time" if kind == "no_units" else "UTC_seconds"
            time = nc.createVariable(name, "f8", ("time",))
            time[:] = [36000.0, 36001.0]
            if kind == "bare_unit":
                time.units = "s"
        nc.createVariable("O3", "f4", ("time",))[:] = [40.0, 41.0]
    with pytest.raises(ReaderError, match=rf"{kind}\.nc: no time coordinate .*; {re.escape(said)}"):
        CfNetcdfReader().read(path)


def test_non_increasing_time_is_a_reader_error(tmp_path: Path) -> None:
    path = tmp_path / "backwards.nc"
    times = np.array(["2024-01-01T00:00:04", "2024-01-01T00:00:00"], dtype="datetime64[ns]")
    xr.Dataset({"O3": ("time", [1.0, 2.0], {"units": "1e-9"})}, coords={"time": times}).to_netcdf(
        path
    )
    with pytest.raises(ReaderError, match=r"backwards\.nc: .*strictly increasing"):
        CfNetcdfReader().read(path)


def test_cf_reader_translates_stratoflow_flags_and_keeps_foreign_ones(tmp_path: Path) -> None:
    path = tmp_path / "flags.nc"
    times = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:04"], dtype="datetime64[ns]")
    xr.Dataset(
        {
            "O3": ("time", [1.0, 2.0], {"units": "1e-9"}),
            "O3_flag": (
                "time",
                np.array([0, 3], dtype=np.int8),
                {
                    "flag_values": np.array([0, 2, 3, 4, 7], dtype=np.int8),
                    "flag_meanings": "good limited bad not_validated missing",
                },
            ),
            "CO": ("time", [1.0, 2.0], {"units": "1e-9"}),
            "CO_flag": (
                "time",
                np.array([1, 4], dtype=np.int8),
                {
                    "flag_values": np.array([1, 2, 3, 4, 9], dtype=np.int8),
                    "flag_meanings": "pass not_evaluated suspect fail missing",
                },
            ),
        },
        coords={"time": times},
    ).to_netcdf(path)
    ds = CfNetcdfReader().read(path)
    np.testing.assert_array_equal(ds["O3_flag"].values, [0, 3])
    assert ds["O3_flag"].dtype == np.uint8
    assert "CO_flag" not in ds
    np.testing.assert_array_equal(ds["CO_source_flag"].values, [1, 4])
    assert "CO_source_flag" in ds["CO"].attrs["ancillary_variables"]


def test_cf_valid_range_masks_values_outside(tmp_path: Path) -> None:
    """valid_min/valid_max/valid_range make values outside missing (xarray ignores them),
    compared in the packed type (CF), flag variables excepted."""
    path = tmp_path / "valid.nc"
    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("time", 4)
        t = nc.createVariable("time", "f8", ("time",))
        t.units, t.standard_name = "seconds since 2024-01-01 00:00:00", "time"
        t[:] = [0, 1, 2, 3]
        o3 = nc.createVariable("O3", "f4", ("time",))
        o3.units, o3.valid_range = "1e-9", np.array([0, 500], dtype="f4")
        o3[:] = [-5, 40, 600, 500]
        co = nc.createVariable("CO", "i2", ("time",))
        co.set_auto_maskandscale(False)
        co.units, co.scale_factor, co.add_offset = "1e-9", 0.5, 100.0
        co.valid_min = np.int16(0)  # packed: CO >= 100
        co[:] = np.array([-2, 0, 10, 400], dtype="i2")  # 99, 100, 105, 300
        rh = nc.createVariable("RH", "f4", ("time",))
        rh.units, rh.valid_max = "percent", np.float32(100)
        rh[:] = [50, 100, 100.5, 20]
        st = nc.createVariable("status", "i1", ("time",))
        st.units, st.valid_range = "1", np.array([0, 1], dtype="i1")
        st.flag_values, st.flag_meanings = np.array([0, 1], dtype="i1"), "off on"
        st[:] = [0, 1, 5, 1]
    ds = CfNetcdfReader().read(path)
    np.testing.assert_array_equal(ds["O3"].values, [np.nan, 40, np.nan, 500])
    np.testing.assert_array_equal(ds["CO"].values, [np.nan, 100, 105, 300])
    np.testing.assert_array_equal(ds["RH"].values, [50, 100, np.nan, 20])
    np.testing.assert_array_equal(ds["status"].values, [0, 1, 5, 1])
    assert ds["O3"].attrs["reader_outside_valid_range"] == 2


def test_what_is_not_read_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """2-D variables and sub-groups cannot be a time series here: listed, not silently lost."""
    from stratoflow.cli import main

    path = tmp_path / "groups.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 3)
        nc.createDimension("bin", 2)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "seconds since 2024-01-01"
        t[:] = [0, 1, 2]
        o3 = nc.createVariable("O3", "f4", ("time",))
        o3.units = "1e-9"
        o3[:] = [1, 2, 3]
        nc.createVariable("spectrum", "f4", ("time", "bin"))[:] = np.ones((3, 2))
        nc.createGroup("instrument").createGroup("raw")
    ds = CfNetcdfReader().read(path)
    assert ds.attrs["reader_skipped_variables"] == "spectrum"
    assert ds.attrs["reader_skipped_groups"] == "/instrument /instrument/raw"
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "not read: variables spectrum (not one-dimensional on time)" in out
    assert "not read: groups /instrument, /instrument/raw (only the root group is read)" in out


def test_packed_values_keep_their_decimals(tmp_path: Path) -> None:
    """int16 with scale_factor: the unpacked floats are the data (not cast back to int)."""
    path = tmp_path / "packed.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 3)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "seconds since 2024-01-01"
        t[:] = [0, 1, 2]
        o3 = nc.createVariable("O3", "i2", ("time",))
        o3.units, o3.scale_factor, o3.add_offset = "1e-9", 0.01, 0.0
        o3[:] = [40.12, 41.37, 42.0]
    values = CfNetcdfReader().read(path)["O3"].values
    assert values.dtype.kind == "f"
    np.testing.assert_allclose(values, [40.12, 41.37, 42.0], atol=1e-9)


def test_iagos_reader_keeps_other_flag_variables_apart(iagos_file: Path, tmp_path: Path) -> None:
    """Only <var>_validity_flag (and <var>_flag with IAGOS flag_meanings) become validity
    flags: a cloud-type <var>_flag whose codes happen to be 0/2/3/4/7 stays a variable."""
    from stratoflow.writers import NetcdfWriter

    real = IagosNetcdfReader().read(iagos_file)
    path = NetcdfWriter(layout="iagos").write(real, tmp_path / "IAGOS_extra.nc")
    n = real.sizes["time"]
    cloud_type = np.resize(np.array([0, 2, 3, 4, 7], dtype=np.int8), n)
    with netCDF4.Dataset(path, "a") as nc:
        for name in ("cloud_presence_P1_flag", "O3_P1_flag"):
            var = nc.createVariable(name, "i1", ("UTC_time",))
            var[:] = cloud_type
            var.flag_values = np.array([0, 2, 3, 4, 7], dtype=np.int8)
            var.flag_meanings = "clear cirrus cumulus stratus unknown"
    back = IagosNetcdfReader().read(path)
    assert "cloud_presence_P1_flag" not in back
    np.testing.assert_array_equal(back["cloud_presence_P1_source_flag"].values, cloud_type)
    np.testing.assert_array_equal(back["O3_P1_flag"].values, real["O3_P1_flag"].values)
    np.testing.assert_array_equal(back["O3_P1_source_flag"].values, cloud_type)
    assert "O3_P1_source_flag" in back["O3_P1"].attrs["ancillary_variables"].split()
    assert data_variables(back) == data_variables(real)


def test_a_time_holding_its_fill_value_is_named_as_such(iagos_file: Path, tmp_path: Path) -> None:
    """A record whose UTC_time is the fill value (0) in the real IAGOS file: the error says
    the record has no time, not that time goes backwards to midnight."""
    broken = tmp_path / "IAGOS_time_fill.nc4"
    broken.write_bytes(iagos_file.read_bytes())
    with netCDF4.Dataset(broken, "a") as nc:
        nc["UTC_time"].set_auto_mask(False)
        nc["UTC_time"][100] = 0.0
    with pytest.raises(
        ReaderError,
        match=r"IAGOS_time_fill\.nc4: time variable 'UTC_time' has no valid time in 1 "
        r"record\(s\), the first at index 100 \(its fill value 0\)",
    ):
        IagosNetcdfReader().read(broken)
    nan_time = tmp_path / "nan_time.nc"
    times = np.array([0.0, 4.0, np.nan, 12.0])
    xr.Dataset(
        {"O3": ("time", [1.0, 2.0, 3.0, 4.0], {"units": "1e-9"})},
        coords={"time": ("time", times, {"units": "seconds since 2024-01-01"})},
    ).to_netcdf(nan_time, encoding={"time": {"_FillValue": None}})
    with pytest.raises(ReaderError, match=r"no valid time in 1 record\(s\), the first at index 2"):
        CfNetcdfReader().read(nan_time)
    assert IagosNetcdfReader().read(iagos_file).sizes["time"] == 8088  # its 0 fill: no time


def test_infinite_flags_are_an_error_where_flags_are_declared(
    iagos_file: Path, tmp_path: Path
) -> None:
    """+-inf is no flag code: in a variable with IAGOS flag_meanings it is an error naming the
    variable and index (no cast warning, no garbage code); without meanings it stays data."""
    real = IagosNetcdfReader().read(iagos_file)[["O3_P1", "O3_P1_flag"]]
    flags = real["O3_P1_flag"].values.astype(np.float64)
    flags[5], flags[9] = np.inf, -np.inf
    declared = {
        "flag_values": np.array([0, 2, 3, 4, 7], dtype=np.int8),
        "flag_meanings": "good limited bad not_validated missing",
    }
    for attrs, name in ((declared, "declared.nc"), ({"units": "1"}, "plain.nc")):
        out = real.copy()
        out["O3_P1_flag"] = ("time", flags, attrs)
        out.to_netcdf(tmp_path / name)
    with pytest.raises(ReaderError, match=r"declared\.nc: flag variable 'O3_P1_flag': value inf "
                       r"at index 5 is not one of its flag_values"):  # fmt: skip
        CfNetcdfReader().read(tmp_path / "declared.nc")
    plain = CfNetcdfReader().read(tmp_path / "plain.nc")
    np.testing.assert_array_equal(plain["O3_P1_source_flag"].values, flags)
    csv = stratoflow.write_dataset(real, tmp_path / "flags.csv", writer="csv")  # declares them
    lines = csv.read_text().split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("time,")) + 1
    lines[first] = lines[first].rsplit(",", 1)[0] + ",inf"
    csv.write_text("\n".join(lines))
    with pytest.raises(ReaderError, match=rf"flags\.csv: line {first + 1}: column 'O3_P1_flag'"):
        stratoflow.open_dataset(csv)
    from stratoflow.errors import DatasetError
    from stratoflow.flags import worst

    with pytest.raises(DatasetError, match=r"flag codes must be integers, found \[inf, -inf"):
        worst(np.stack([flags, flags]))


def test_text_variables_are_written_read_or_refused_explicitly(
    shared_data: Path, tmp_path: Path
) -> None:
    """The FAIRO state column: netCDF keeps it (read back as text); NASA Ames and ICARTT
    refuse it naming it, or leave it out when told and say so in the header."""
    from stratoflow.errors import WriterError
    from stratoflow.readers import DelimitedReader

    ds = DelimitedReader(preset="fairo_dat").read(shared_data / "fairo_raw/11_30_01.DAT")
    text = [str(n) for n in ds.data_vars if ds[n].dtype.kind == "U"]
    assert text
    back = CfNetcdfReader().read(stratoflow.write_dataset(ds, tmp_path / "dat.nc"))
    for name in text:
        assert back[name].values.tolist() == ds[name].values.tolist()
    assert "reader_skipped_variables" not in back.attrs
    for writer, name in (("nasa_ames", "dat.na"), ("icartt", "DAT-x_B200_20221116_R0.ict")):
        listed = ", ".join(map(repr, text))
        with pytest.raises(WriterError, match=f"text variables {listed} cannot be written in"):
            stratoflow.write_dataset(ds, tmp_path / name, writer=writer)
        path = stratoflow.write_dataset(ds, tmp_path / name, writer=writer, text_variables="drop")
        assert " ".join(text) in path.read_text()
        reread = stratoflow.open_dataset(path)
        assert not set(text) & set(reread.data_vars)


def test_time_records_never_written_are_named_as_such(tmp_path: Path) -> None:
    """A logger stopped after writing O3 but before the last time: netCDF gives that record
    its default fill (no _FillValue declared). It was decoded into a pandas overflow message
    telling the user to install cftime."""
    path = tmp_path / "logger.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", None)
        time = nc.createVariable("time", "f8", ("time",))
        time.units = "seconds since 2024-01-01 00:00:00"
        o3 = nc.createVariable("O3", "f4", ("time",))
        o3.units = "1e-9"
        o3[:] = [40.0, 41.0, 42.0]
        time[0:2] = [0.0, 4.0]
    with pytest.raises(
        ReaderError,
        match=r"logger\.nc: time variable 'time' has no valid time in 1 record\(s\), the first "
        r"at index 2 \(the netCDF default fill value 9\.96921e\+36: never written\)",
    ):
        CfNetcdfReader().read(path)


def test_times_beyond_the_datetime_range_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "far.nc"
    xr.Dataset(
        {"O3": ("time", [1.0, 2.0], {"units": "1e-9"})},
        coords={"time": ("time", [0.0, 1e9], {"units": "days since 2024-01-01"})},
    ).to_netcdf(path, encoding={"time": {"_FillValue": None}})
    with pytest.raises(
        ReaderError,
        match=r"far\.nc: time variable 'time': 'days since 2024-01-01' with values 0 to 1e\+09 "
        r"gives instants outside the years 1678-2261",
    ):
        CfNetcdfReader().read(path)


def test_a_packed_time_coordinate_is_unpacked(tmp_path: Path) -> None:
    """CF allows scale_factor/add_offset on time too: they were ignored (an hour off here)."""
    path = tmp_path / "packed_time.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 3)
        time = nc.createVariable("time", "i2", ("time",))
        time.set_auto_maskandscale(False)
        time.units = "hours since 2024-01-01 00:00:00"
        time.scale_factor = 0.5
        time.add_offset = 1.0
        time[:] = np.array([0, 1, 2], dtype="i2")
        nc.createVariable("O3", "f4", ("time",))[:] = [40.0, 41.0, 42.0]
    ours = CfNetcdfReader().read(path)
    with xr.open_dataset(path) as ref:
        np.testing.assert_array_equal(ours["time"].values, ref["time"].values)
    assert str(ours["time"].values[1]) == "2024-01-01T01:30:00.000000000"


@pytest.mark.parametrize(
    ("dtype", "scale", "offset"),
    [("i4", np.float32(0.1), None), ("i2", np.float32(0.01), np.float32(3600.5))],
)
def test_a_time_packed_with_a_32_bit_scale_factor_falls_on_the_written_instants(
    tmp_path: Path, dtype: str, scale: np.float32, offset: np.float32 | None
) -> None:
    """``scale_factor = 0.1f`` is stored as 0.100000001490116: widened as stored, 10 packed
    units gave 1.000000015 s, so every time was nanoseconds off the one written."""
    path = tmp_path / "packed_f32.nc"
    packed = np.array([0, 10, 20, 12345], dtype=dtype)
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", packed.size)
        time = nc.createVariable("time", dtype, ("time",))
        time.set_auto_maskandscale(False)
        time.units = "seconds since 2024-01-01 00:00:00"
        time.scale_factor = scale
        if offset is not None:
            time.add_offset = offset
        time[:] = packed
        nc.createVariable("O3", "f4", ("time",))[:] = [40.0, 41.0, 42.0, 43.0]
    ours = CfNetcdfReader().read(path)
    seconds = packed * float(str(scale)) + (0.0 if offset is None else float(str(offset)))
    expected = np.datetime64("2024-01-01", "ns") + np.rint(seconds * 1e9).astype("timedelta64[ns]")
    np.testing.assert_array_equal(ours["time"].values, expected)


def test_times_written_as_rounded_days_fall_on_the_seconds_they_stand_for(
    tmp_path: Path,
) -> None:
    """EBAS-style 'days since 1900-01-01' with 6 decimals (86.4 ms): 10:01:00 came back as
    10:00:59.9904, so the hourly and minute values of other files never matched them. Times
    that really lie between the seconds (every 86.4 ms) stay within what was written."""
    minutes = 36000 + np.arange(0, 3600, 60)
    fine = 36000 + np.arange(50) * 0.0864
    for name, seconds in (("minutes", minutes), ("fine", fine)):
        path = tmp_path / f"{name}.nc"
        with netCDF4.Dataset(path, "w") as nc:
            nc.createDimension("time", seconds.size)
            time = nc.createVariable("time", "f8", ("time",))
            time.units = "days since 1900-01-01 00:00:00"
            time[:] = np.round(43466 + seconds / 86400, 6)
            nc.createVariable("CO", "f4", ("time",))[:] = np.ones(seconds.size)
        got = CfNetcdfReader().read(path)["time"].values
        written = np.datetime64("1900-01-01", "ns") + (
            np.round(43466 + seconds / 86400, 6) * 86400e9
        ).round().astype("timedelta64[ns]")
        if name == "minutes":
            expected = np.datetime64("2019-01-03", "ns") + (seconds * 1e9).astype("timedelta64[ns]")
            np.testing.assert_array_equal(got, expected)
        else:  # never moved by more than half the written step (86.4 ms), never merged
            assert np.abs((got - written).astype(np.int64)).max() <= 43_200_000
            assert (np.diff(got) > np.timedelta64(0)).all()


def test_a_series_in_a_group_is_read_with_the_group_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Everything in /flight, nothing in the root: the error said only "no time coordinate";
    now it names the groups, and ``group`` reads one (with the file's global attributes)."""
    from stratoflow.cli import main

    path = tmp_path / "grouped.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.title = "grouped flight"
        flight = nc.createGroup("flight")
        flight.createDimension("time", 3)
        t = flight.createVariable("time", "f8", ("time",))
        t.units = "seconds since 2024-01-01"
        t[:] = [0, 1, 2]
        o3 = flight.createVariable("O3", "f4", ("time",))
        o3.units = "1e-9"
        o3[:] = [40, 41, 42]
        nc.createGroup("housekeeping")
    with pytest.raises(
        ReaderError,
        match=r"no time coordinate .* in the root group; the file has groups /flight, "
        r"/housekeeping: read one with the option group='<path>'",
    ):
        CfNetcdfReader().read(path)
    ds = CfNetcdfReader(group="/flight").read(path)
    with xr.open_dataset(path, group="flight") as ref:
        np.testing.assert_array_equal(ds["O3"].values, ref["O3"].values)
        np.testing.assert_array_equal(ds["time"].values, ref["time"].values)
    assert ds.attrs["title"] == "grouped flight"
    assert ds.attrs["reader_skipped_groups"] == "/housekeeping"
    with pytest.raises(ReaderError, match=r"no group 'nope' in the file \(its groups: /flight"):
        CfNetcdfReader(group="nope").read(path)
    assert main(["inspect", str(path), "--reader", "cf_netcdf", "-o", "group=/flight"]) == 0
    assert "O3" in capsys.readouterr().out


@pytest.mark.parametrize("file_format", ["NETCDF4", "NETCDF3_CLASSIC"])
def test_values_never_written_are_missing_not_1e37(tmp_path: Path, file_format: str) -> None:
    """A logger wrote the times but stopped before the last O3/CO values: netCDF fills them
    with its default (9.97e36), which xarray leaves as data without a declared _FillValue.
    They were read as 9.97e36 ppb; netCDF4 itself masks them, as stratoflow now does."""
    path = tmp_path / "logger.nc"
    with netCDF4.Dataset(path, "w", format=file_format) as nc:
        nc.createDimension("time", None)
        time = nc.createVariable("time", "f8", ("time",))
        time.units = "seconds since 2024-01-01 00:00:00"
        time[0:3] = [0.0, 4.0, 8.0]
        nc.createVariable("O3", "f4", ("time",))[0:2] = [40.0, 41.0]
        nc.createVariable("CO", "f8", ("time",))[0:1] = [100.0]
    ds = CfNetcdfReader().read(path)
    with netCDF4.Dataset(path) as ref:
        for name in ("O3", "CO"):
            expected = np.ma.filled(ref[name][:].astype(np.float64), np.nan)
            np.testing.assert_array_equal(ds[name].values, expected)
    assert ds["CO"].attrs["reader_unwritten_values"] == 2


@pytest.mark.parametrize(
    ("values", "meanings"),
    [
        ("0 2 3 4 7", "good limited erroneous not_validated missing_values"),
        ("0, 2, 3, 4, 7", "good, limited, erroneous, not_validated, missing_values"),
    ],
)
def test_flag_attributes_written_as_text_are_read(
    iagos_file: Path, tmp_path: Path, values: str, meanings: str
) -> None:
    """flag_values as a text attribute leaked "ValueError: invalid literal for int()"; comma-
    separated flag_meanings were refused as the unknown meaning 'good,'."""
    path = tmp_path / "IAGOS_text_flags.nc4"
    path.write_bytes(iagos_file.read_bytes())
    with netCDF4.Dataset(path, "a") as nc:
        nc["O3_P1_validity_flag"].flag_values = values
        nc["O3_P1_validity_flag"].flag_meanings = meanings
    ours, original = IagosNetcdfReader().read(path), IagosNetcdfReader().read(iagos_file)
    np.testing.assert_array_equal(ours["O3_P1_flag"].values, original["O3_P1_flag"].values)
    with netCDF4.Dataset(path, "a") as nc:
        nc["O3_P1_validity_flag"].flag_values = "a b c d e"
    with pytest.raises(ReaderError, match=r"'O3_P1_validity_flag': flag_values 'a b c d e' are"):
        IagosNetcdfReader().read(path)


@pytest.mark.parametrize(
    ("units", "reason"),
    [
        ("seconds since flight start", "reference 'flight start' is not a date"),
        ("months since 2024-01-01", "cannot be decoded: 'months since' units only allowed"),
        ("days since 0000-01-01 00:00:00", "no such date or time .year 0 is out of range"),
    ],
)
def test_undecodable_time_units_say_why(tmp_path: Path, units: str, reason: str) -> None:
    """xarray's message ("... or installing cftime") hid the reason; the reason is given."""
    path = tmp_path / "units.nc"
    xr.Dataset(
        {"O3": ("time", [1.0, 2.0], {"units": "1e-9"})},
        coords={"time": ("time", [0.0, 1.0], {"units": units})},
    ).to_netcdf(path, encoding={"time": {"_FillValue": None}})
    with pytest.raises(ReaderError, match=rf"time variable 'time': .*units '{units}'.*{reason}"):
        CfNetcdfReader().read(path)


def _with_attribute(path: Path, key: str, value: str) -> Path:
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 3)
        time = nc.createVariable("time", "f8", ("time",))
        time.units = "seconds since 2024-01-01"
        time[:] = [0.0, 1.0, 2.0]
        o3 = nc.createVariable("O3", "f4", ("time",))
        o3.units = "1e-9"
        o3[:] = [40.0, 41.0, 42.0]
        o3.setncattr(key, value)
    return path


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("missing_value", "41", "missing_value is the text '41', not a number"),
        ("scale_factor", "2", "scale_factor is the text '2', not a number"),
        ("valid_max", "n/a", "valid_max 'n/a' is not a number"),
    ],
)
def test_numeric_attributes_written_as_text_are_named(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    """A text missing_value was silently ignored (41 stayed data); a text scale_factor leaked
    numpy's UFuncTypeError; a text valid_max a float() ValueError."""
    path = _with_attribute(tmp_path / "text_attrs.nc", key, value)
    with pytest.raises(ReaderError, match=rf"text_attrs\.nc: variable 'O3': {message}"):
        CfNetcdfReader().read(path)


def test_a_valid_range_written_as_text_is_applied(tmp_path: Path) -> None:
    path = _with_attribute(tmp_path / "range.nc", "valid_range", "0 41")
    np.testing.assert_array_equal(CfNetcdfReader().read(path)["O3"].values, [40.0, 41.0, np.nan])


def test_a_text_variable_keeps_its_text_fill_value(tmp_path: Path) -> None:
    """A char variable's _FillValue is text, as CF allows: not refused with the check above."""
    path = tmp_path / "state.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 2)
        nc.createDimension("strlen", 2)
        time = nc.createVariable("time", "f8", ("time",))
        time.units = "seconds since 2024-01-01"
        time[:] = [0.0, 1.0]
        state = nc.createVariable("state", "S1", ("time", "strlen"), fill_value=b"-")
        state[:] = netCDF4.stringtochar(np.array(["MS", "ZE"], "S2"))
    assert CfNetcdfReader().read(path)["state"].values.tolist() == ["MS", "ZE"]


def test_a_missing_text_value_is_empty_not_nan(tmp_path: Path) -> None:
    """A string variable's missing_value is masked by xarray to NaN, which became 'nan'."""
    path = tmp_path / "label.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 3)
        time = nc.createVariable("time", "f8", ("time",))
        time.units = "seconds since 2024-01-01"
        time[:] = [0.0, 1.0, 2.0]
        label = nc.createVariable("label", str, ("time",))
        label.missing_value = "none"
        for i, text in enumerate(["a", "none", "b"]):
            label[i] = text
    assert CfNetcdfReader().read(path)["label"].values.tolist() == ["a", "", "b"]


def test_older_iagos_val_flags_are_validity_flags(iagos_file: Path, tmp_path: Path) -> None:
    """Older IAGOS files (v2) name validity flags ``<var>_val``: they stayed data variables and
    the series had no flags. With or without flag_meanings they are read like v3's."""
    old = tmp_path / "IAGOS_timeseries_v2.nc4"
    old.write_bytes(iagos_file.read_bytes())
    with netCDF4.Dataset(old, "a") as nc:
        for name in [n for n in nc.variables if n.endswith("_validity_flag")]:
            nc.renameVariable(name, name.replace("_validity_flag", "_val"))
        nc["O3_P1_val"].delncattr("flag_meanings")
        nc["O3_P1_val"].delncattr("flag_values")
    ours, v3 = IagosNetcdfReader().read(old), IagosNetcdfReader().read(iagos_file)
    assert sorted(ours.data_vars) == sorted(v3.data_vars)
    for name in v3.data_vars:
        np.testing.assert_array_equal(ours[name].values, v3[name].values, err_msg=str(name))
    assert ours["O3_P1"].attrs["ancillary_variables"] == v3["O3_P1"].attrs["ancillary_variables"]


def _calendar_file(path: Path, units: str, calendar: str, times: list[float] | np.ndarray) -> Path:
    """Two records of O3 along a time variable with ``units``, ``calendar`` and ``times``."""
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 2)
        time = nc.createVariable("time", "f8", ("time",))
        time.units, time.calendar = units, calendar
        time[:] = times
        nc.createVariable("O3", "f4", ("time",))[:] = [40.0, 41.0]
    return path


def test_a_calendar_name_with_blanks_or_capitals_is_read(tmp_path: Path) -> None:
    """'standard ' (a writer's padding) was refused by cftime as an unknown calendar."""
    path = _calendar_file(
        tmp_path / "calendar.nc", "seconds since 2024-01-01", "Standard ", [0.0, 1.0]
    )
    assert str(CfNetcdfReader().read(path)["time"].values[1]) == "2024-01-01T00:00:01.000000000"


def _time_units_file(path: Path, units: str) -> Path:
    xr.Dataset(
        {"O3": ("time", [1.0, 2.0], {"units": "1e-9"})},
        coords={"time": ("time", [0.0, 1.0], {"units": units})},
    ).to_netcdf(path, encoding={"time": {"_FillValue": None}})
    return path


@pytest.mark.parametrize(
    ("zone", "defect"),
    [
        ("UTC+1", r"zone 'UTC\+1' is ambiguous"),
        ("GMT-05:00", r"zone 'GMT-05:00' is ambiguous"),
        # cftime and xarray ignored a zone name: the times were an hour off, silently
        ("CET", r"zone 'CET' is not understood"),
    ],
)
def test_a_reference_zone_that_is_ambiguous_or_unknown_is_refused(
    tmp_path: Path, zone: str, defect: str
) -> None:
    """'since 2024-01-01 00:00:00 UTC+1' was read POSIX-style as UTC-1: two hours off what
    the writer (on CET) meant. Ambiguous, so refused, naming the file and the units."""
    units = f"seconds since 2024-01-01 00:00:00 {zone}"
    path = _time_units_file(tmp_path / "zone.nc", units)
    with pytest.raises(ReaderError, match=defect) as info:
        CfNetcdfReader().read(path)
    assert str(info.value).startswith(f"{path}: time variable 'time': time units {units!r}")


@pytest.mark.parametrize(
    ("units", "first"),
    [
        ("seconds since 2024-01-01 00:00:00 +01:00", "2023-12-31T23:00:00"),
        ("seconds since 2024-01-01T00:00:00+0100", "2023-12-31T23:00:00"),
        ("seconds since 2024-01-01 00:00:00 -05", "2024-01-01T05:00:00"),
        ("seconds since 2024-01-01 00:00:00 -5:30", "2024-01-01T05:30:00"),
        ("seconds since 2024-01-01 00:00:00Z", "2024-01-01T00:00:00"),
        ("seconds since 2024-01-01 00:00:00 UTC", "2024-01-01T00:00:00"),
        # 'SINCE' was not taken for a time unit at all
        ("seconds SINCE 2024-01-01 00:00:00", "2024-01-01T00:00:00"),
        ("Hours  Since  2024-01-01 01:00 +01:00", "2024-01-01T00:00:00"),
    ],
)
def test_a_reference_time_with_an_iso_offset_is_read_in_utc(
    tmp_path: Path, units: str, first: str
) -> None:
    path = _time_units_file(tmp_path / "zone.nc", units)
    times = CfNetcdfReader().read(path)["time"].values
    assert str(times[0]) == f"{first}.000000000"
    step = np.timedelta64(1, "h" if units.lower().startswith("hours") else "s")
    assert times[1] - times[0] == step


def _empty(path: Path, kind: str) -> Path:
    with netCDF4.Dataset(path, "w") as nc:
        nc.title = "nothing written"
        if kind == "no variables":
            return path
        nc.createDimension("UTC_time", None if kind == "no records" else 2)
        time = nc.createVariable("UTC_time", "i4", ("UTC_time",))
        time.units = "seconds since 2024-01-01 00:00:00"
        if kind == "no records":
            nc.createVariable("O3_P1", "f4", ("UTC_time",)).units = "1e-9"
        else:
            time[:] = [0, 1]
    return path


@pytest.mark.parametrize("reader", [CfNetcdfReader, IagosNetcdfReader])
def test_a_file_of_zero_bytes_is_called_empty(tmp_path: Path, reader: type[CfNetcdfReader]) -> None:
    """It was 'not a netCDF file (no netCDF or HDF5 signature)': true, but not the defect."""
    path = tmp_path / "IAGOS_timeseries_empty.nc"
    path.write_bytes(b"")
    with pytest.raises(ReaderError, match=r"empty\.nc: an empty file \(0 bytes\), not a netCDF"):
        reader().read(path)


@pytest.mark.parametrize(
    ("kind", "defect"),
    [
        ("no variables", "an empty netCDF file: it holds no variables"),
        ("no records", "an empty netCDF file: the time variable 'UTC_time' has no records"),
        ("time only", "no data: no variable of the file lies along the time variable 'UTC_time'"),
    ],
)
@pytest.mark.parametrize("reader", [CfNetcdfReader, IagosNetcdfReader])
def test_an_empty_file_is_refused_naming_the_defect(
    tmp_path: Path, kind: str, defect: str, reader: type[CfNetcdfReader]
) -> None:
    """A file created and never written was read as an empty Dataset (a flight without
    data for the importer); now it is a ReaderError naming the file and what is missing."""
    path = _empty(tmp_path / "empty.nc", kind)
    with pytest.raises(ReaderError, match=defect) as info:
        reader().read(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("calendar", "why"),
    [
        ("noleap", "a model calendar"),
        ("360_day", "a model calendar"),
        ("all_leap", "a model calendar"),
        ("julian", "the Julian calendar"),
        # was 'instants outside the years 1678-2261' for times of 2024, hiding the reason
        ("tai", "International Atomic Time"),
        ("utc", "counts leap seconds"),
        ("none", "no calendar at all"),
    ],
)
def test_a_calendar_without_utc_instants_is_refused_naming_it(
    tmp_path: Path, calendar: str, why: str
) -> None:
    units = "days since 2024-02-28 00:00:00"
    path = _calendar_file(tmp_path / "calendar.nc", units, calendar, [0.0, 1.0])
    with pytest.raises(
        ReaderError, match=rf"time variable 'time' uses calendar '{calendar}' \({why}"
    ) as info:
        CfNetcdfReader().read(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("calendar", ["standard", "gregorian", "proleptic_gregorian"])
def test_real_calendars_are_read_as_cftime_reads_them(tmp_path: Path, calendar: str) -> None:
    """A reference before 1582 is a Julian date in the standard calendar, a Gregorian one in
    the proleptic: ten days apart in 2020. The zone is applied on top."""
    import cftime

    units, days = "days since 1500-01-01 00:00:00", np.array([190000.0, 190001.0])
    path = _calendar_file(tmp_path / "calendar.nc", f"{units} -02:00", calendar, days)
    expected = cftime.num2date(days, units, calendar, only_use_python_datetimes=True)
    shifted = np.array(expected, dtype="datetime64[ns]") + np.timedelta64(2, "h")
    np.testing.assert_array_equal(CfNetcdfReader().read(path)["time"].values, shifted)


def test_a_string_array_attribute_keeps_its_items_apart(act_file: Path, tmp_path: Path) -> None:
    """A string-array attribute was joined by blanks: ACDD keywords of several words each
    ('... > carbon dioxide', 'atmosphere > ...') ran into one another."""
    with netCDF4.Dataset(act_file) as nc:
        keywords = nc.getncattr("keywords")
    assert isinstance(keywords, list) and len(keywords) == 7
    ds = CfNetcdfReader().read(act_file)
    assert ds.attrs["keywords"] == ", ".join(keywords)
    assert ds.attrs["keywords"].split(", ") == keywords
    path = _with_attribute(tmp_path / "arrays.nc", "units", "1e-9")
    with netCDF4.Dataset(path, "a") as nc:
        nc.setncattr_string("references", ["Zahn, A. et al. (2012)", "Thouret, V. (1998)"])
        nc.setncattr_string("tags", ["ozone", "UTLS"])
    ds = CfNetcdfReader().read(path)
    assert ds.attrs["references"] == "Zahn, A. et al. (2012)\nThouret, V. (1998)"
    assert ds.attrs["tags"] == "ozone UTLS"
