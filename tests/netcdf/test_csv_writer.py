"""CSV writer: metadata header, ISO 8601 UTC times, values read back identically by pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stratoflow.errors import ConfigError
from stratoflow.writers.csv import CsvWriter, iso_times


def _read(path: Path, sep: str = ",") -> pd.DataFrame:
    return pd.read_csv(path, comment="#", sep=sep)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_read_back_with_pandas(flight: xr.Dataset, tmp_path: Path, delimiter: str) -> None:
    path = CsvWriter(delimiter=delimiter).write(flight, tmp_path / "flight.csv")
    frame = _read(path, delimiter)
    times = pd.to_datetime(frame["time"], utc=True).dt.tz_localize(None).to_numpy()
    np.testing.assert_array_equal(times, flight["time"].values)
    for name in flight.data_vars:
        np.testing.assert_array_equal(frame[str(name)].to_numpy(), flight[name].values)
    assert list(frame.columns) == ["time", *map(str, flight.data_vars)]


def test_csv_header_and_time_format(flight: xr.Dataset, tmp_path: Path) -> None:
    text = CsvWriter().write(flight, tmp_path / "flight.csv").read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert "# platform: Aircraft, IAGOS-01, D-AIGT, Lufthansa" in header
    assert "# licence: CC-BY-4.0" in header
    assert any(
        line.startswith('#   O3: {"units": "ppb", "long_name": "ozone mole fraction"')
        for line in header
    )
    assert "# flags: 0 good, 2 limited, 3 bad, 4 not_validated, 7 missing" in header
    first_row = text.splitlines()[len(header) + 1]
    assert first_row.startswith("2024-03-01T23:50:00Z,")
    assert ",," in text  # missing values are empty fields


def test_csv_without_header(flight: xr.Dataset, tmp_path: Path) -> None:
    text = CsvWriter(header=False).write(flight, tmp_path / "f.csv").read_text()
    assert text.startswith("time,O3,")


def test_iso_times_keep_sub_second_precision() -> None:
    times = np.array(["2024-01-01T00:00:00.250", "2024-01-01T00:00:01"], dtype="datetime64[ns]")
    assert iso_times(times).tolist() == ["2024-01-01T00:00:00.250Z", "2024-01-01T00:00:01.000Z"]


def test_csv_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="delimiter"):
        CsvWriter(delimiter="|")


@pytest.mark.parametrize(
    "relative",
    [
        "iagos/IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4",
        "caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_valid1.txt",  # 'Özone', umlauts
        "fairo_raw/11_30_01.DAT",  # a text column (instrument state)
    ],
)
def test_csv_round_trip_keeps_metadata_exactly(
    relative: str, shared_data: Path, tmp_path: Path
) -> None:
    """Every global and variable attribute of a real file, and text columns, read back as
    written: '; ' in names, several lines, numbers, arrays, '01' as text."""
    import stratoflow

    ds = stratoflow.open_dataset(shared_data / relative)
    ds.attrs["flight"] = "01"  # text that looks like a number
    ds.attrs["comment"] = "first line; with a separator\n  second line "
    name = next(str(n) for n in ds.data_vars if ds[n].dtype.kind == "f")
    ds[name].attrs["long_name"] = "ozone; UV photometer (cell 1); [ppb]"
    back = stratoflow.open_dataset(CsvWriter().write(ds, tmp_path / "x.csv"))
    provenance = {"source_file", "source_checksum", "reader", "file_format", "delimited_preset"}
    _same_attrs(
        {k: v for k, v in back.attrs.items() if k not in provenance},
        {k: v for k, v in ds.attrs.items() if k not in provenance},
    )
    assert list(back.data_vars) == list(ds.data_vars)
    for var in ds.data_vars:
        _same_attrs(dict(back[var].attrs), dict(ds[var].attrs))
        assert back[var].dtype.kind == ds[var].dtype.kind or ds[var].dtype.kind in "iub", var
        if ds[var].dtype.kind in "USO":
            assert back[var].values.tolist() == ds[var].values.tolist()


def _same_attrs(got: dict[str, object], want: dict[str, object]) -> None:
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[key], value, err_msg=key)  # type: ignore[arg-type]
            assert got[key].dtype == value.dtype, key  # type: ignore[attr-defined]
        else:
            assert got[key] == value and type(got[key]) is type(value), (key, got[key], value)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_a_hash_in_text_is_data_for_pandas(tmp_path: Path, delimiter: str) -> None:
    """pandas skips the header with ``comment="#"`` (as the module docstring says), which also
    cut an unquoted text field at its "#": ``"#3"`` became NaN and ``"a # b"`` ``"a "``."""
    from stratoflow.dataset import make_dataset
    from stratoflow.readers import DelimitedReader

    t = np.datetime64("2024-03-01T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    state = np.array(["#3", "a # b", ""])
    ds = make_dataset(
        t,
        {
            "O3": (np.array([1.5, np.nan, 3.0]), {"units": "1e-9", "long_name": "ozone"}),
            "state": (state, {"units": "1", "long_name": "state"}),
        },
    )
    path = CsvWriter(delimiter=delimiter).write(ds, tmp_path / "hash.csv")
    back = pd.read_csv(path, comment="#", sep=delimiter, keep_default_na=False, na_values=[""])
    assert back["state"].fillna("").tolist() == state.tolist()
    np.testing.assert_array_equal(back["O3"].to_numpy(float), ds["O3"].values)
    ours = DelimitedReader().read(path)
    assert ours["state"].values.tolist() == state.tolist()
    np.testing.assert_array_equal(ours["O3"].values, ds["O3"].values)


def test_datetime_attributes_read_back_exactly(tmp_path: Path) -> None:
    """A numpy datetime64/timedelta64 attribute stopped the CSV export with "Object of type
    date is not JSON serializable", naming neither the attribute nor what to do."""
    from stratoflow.dataset import make_dataset
    from stratoflow.readers import DelimitedReader

    t = np.datetime64("2024-03-01T10:00:00", "ns") + np.arange(2) * np.timedelta64(1, "s")
    odd = {
        "calibrated": np.datetime64("2024-02-01"),
        "offset": np.timedelta64(1500, "ms"),
        "stamps": np.array(["2024-01-01T00:00:00.5", "NaT"], dtype="datetime64[ms]"),
    }
    ds = make_dataset(
        t,
        {"O3": (np.array([1.0, 2.0]), {"units": "1e-9", **odd})},
        attrs={"made": odd["calibrated"]},
    )
    back = DelimitedReader().read(CsvWriter().write(ds, tmp_path / "dates.csv"))
    assert back.attrs["made"] == odd["calibrated"]
    for key, value in odd.items():
        got = back["O3"].attrs[key]
        assert got.dtype == value.dtype, key
        np.testing.assert_array_equal(got, value, err_msg=key)


def test_a_boolean_column_is_written_as_numbers_our_reader_reads_back(tmp_path: Path) -> None:
    """pandas wrote True/False, which our CSV reader read back as text ('True'), not the
    1/0 the NASA Ames and ICARTT writers write for the same column."""
    from stratoflow.dataset import make_dataset
    from stratoflow.readers import guess_reader

    t = np.datetime64("2024-03-01T12:00:00", "ns") + np.arange(4) * np.timedelta64(1, "s")
    valve = np.array([True, False, False, True])
    ds = make_dataset(t, {"valve_open": (valve, {"units": "1", "long_name": "inlet valve"})})
    path = CsvWriter().write(ds, tmp_path / "valve.csv")
    assert _read(path)["valve_open"].tolist() == [1, 0, 0, 1]
    back = guess_reader(path)().read(path)
    assert back["valve_open"].dtype.kind in "iuf"
    np.testing.assert_array_equal(back["valve_open"].values, valve.astype(np.uint8))
    assert back["valve_open"].attrs["long_name"] == "inlet valve"


@pytest.mark.parametrize("error", [IndexError("bug"), KeyboardInterrupt()])
def test_a_write_that_fails_unexpectedly_leaves_no_partial_file(
    flight: xr.Dataset, tmp_path: Path, error: BaseException
) -> None:
    """Only the errors a writer expects (ValueError, OSError...) removed the hidden
    temporary file: a bug (IndexError) or an interrupt left a '.flight.csv.*.part' file in
    the output directory, which a delivery of that directory would pick up."""
    from typing import ClassVar

    class Broken(CsvWriter):
        name: ClassVar[str] = "broken"

        def _write(self, ds: xr.Dataset, path: Path) -> None:
            path.write_text("half a file")
            raise error

    with pytest.raises(type(error)):
        Broken().write(flight, tmp_path / "flight.csv")
    assert list(tmp_path.iterdir()) == []
