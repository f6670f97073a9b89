"""Property tests: writer output reads back identically; fuzzed bytes only raise ReaderError."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import icartt
import nappy
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratoflow.dataset import make_dataset
from stratoflow.errors import ReaderError
from stratoflow.flags import Flag
from stratoflow.readers import DelimitedReader, IcarttReader, NasaAmesReader
from stratoflow.readers.base import Reader
from stratoflow.writers import CsvWriter, IcarttWriter, NasaAmesWriter
from stratoflow.writers.base import Writer

FORMATS: list[tuple[type[Writer], type[Reader], str]] = [
    (NasaAmesWriter, NasaAmesReader, ".na"),
    (IcarttWriter, IcarttReader, ".ict"),
    (CsvWriter, DelimitedReader, ".csv"),  # our own CSV export: units and flags from its header
]
_NAMES = st.text("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_", min_size=1, max_size=12).filter(
    lambda s: s[0].isalpha() and not s.endswith(("_flag", "_lod"))
)
_VALUES = st.floats(allow_infinity=False, min_value=-1e200, max_value=1e200, width=64)


@st.composite
def datasets(draw: st.DrawFn) -> xr.Dataset:
    n = draw(st.integers(1, 30))
    start = np.datetime64("2020-01-01", "ns") + np.timedelta64(draw(st.integers(0, 10**17)), "ns")
    steps = draw(st.lists(st.integers(1, 10**13), min_size=n - 1, max_size=n - 1))
    times = start + np.concatenate([[0], np.cumsum(steps, dtype=np.int64)]).astype(
        "timedelta64[ns]"
    )
    names = draw(st.lists(_NAMES, min_size=1, max_size=4, unique_by=str.lower))
    variables = {}
    flags = {}
    for name in names:
        values = np.array(draw(st.lists(_VALUES | st.just(np.nan), min_size=n, max_size=n)))
        unit = draw(st.sampled_from(["1e-9", "K", "hPa", "m s-1", "1"]))
        variables[name] = (values, {"units": unit, "long_name": f"{name} long name"})
        if draw(st.booleans()):  # a variable without flags must come back without any
            codes = draw(st.lists(st.sampled_from([0, 2, 3, 4]), min_size=n, max_size=n))
            flags[name] = np.where(np.isnan(values), Flag.MISSING, codes).astype(np.uint8)
    return make_dataset(times, variables, flags=flags, attrs={"pi": "Doe, Jane"})


def _check_same(back: xr.Dataset, ds: xr.Dataset) -> None:
    np.testing.assert_array_equal(back["time"].values, ds["time"].values)
    assert sorted(map(str, back.data_vars)) == sorted(map(str, ds.data_vars))
    for name in ds.data_vars:
        np.testing.assert_array_equal(back[name].values, ds[name].values, err_msg=str(name))
        if not str(name).endswith("_flag"):
            assert back[name].attrs["units"] == ds[name].attrs["units"]


@pytest.mark.parametrize(("writer", "reader", "suffix"), FORMATS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=datasets())
def test_written_files_read_back_identically(
    writer: type[Writer], reader: type[Reader], suffix: str, ds: xr.Dataset
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = writer().write(ds, Path(tmp) / f"out{suffix}")
        _check_same(reader().read(path), ds)


@settings(max_examples=5, deadline=None)
@given(ds=datasets())
def test_reference_libraries_read_our_files(ds: xr.Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        na_path = NasaAmesWriter().write(ds, Path(tmp) / "out.na")
        na = nappy.openNAFile(str(na_path))
        na.readData()
        ref = na.getNADict()
        names = [str(n) for n in ds.data_vars]
        columns = [v.split(";")[0] for v in ref["VNAME"]]
        assert sorted(columns) == sorted(names)
        for i, name in enumerate(columns):
            expected = np.asarray(ds[name].values, dtype=float)
            got = np.asarray(ref["V"][i], dtype=float)
            got[got == float(ref["VMISS"][i])] = np.nan
            np.testing.assert_array_equal(got, expected, err_msg=name)
        ict_path = IcarttWriter().write(ds, Path(tmp) / "out.ict")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # icartt warns about its own format checks
            data = icartt.Dataset(str(ict_path))
        lag = np.asarray(data.times) - ds["time"].values  # icartt rounds to whole microseconds
        assert (np.abs(lag.astype(np.int64)) < 1000).all()
        for name in names:
            np.testing.assert_array_equal(
                np.asarray(data.data[name], dtype=float),
                np.asarray(ds[name].values, dtype=float),
            )


def _sample(writer: type[Writer]) -> bytes:
    t = np.datetime64("2024-01-01T10:00:00", "ns") + np.arange(4) * np.timedelta64(1, "s")
    ds = make_dataset(t, {"O3": (np.array([1.0, np.nan, 3.5, 4.0]), {"units": "1e-9"})})
    with tempfile.TemporaryDirectory() as tmp:
        return writer().write(ds, Path(tmp) / "sample").read_bytes()


SAMPLES = {
    NasaAmesReader: _sample(NasaAmesWriter),
    IcarttReader: _sample(IcarttWriter),
    DelimitedReader: _sample(CsvWriter),
}


@pytest.mark.parametrize("reader", list(SAMPLES))
@settings(max_examples=100, deadline=None)
@given(
    cut=st.floats(0, 1),
    noise=st.lists(st.tuples(st.floats(0, 1), st.binary(max_size=3)), max_size=3),
)
def test_fuzzed_and_truncated_bytes_only_raise_reader_error(
    reader: type[Reader], cut: float, noise: list[tuple[float, bytes]]
) -> None:
    sample = SAMPLES[reader]
    raw = bytearray(sample[: int(cut * len(sample))])
    for where, chunk in noise:
        pos = int(where * len(raw))
        raw[pos : pos + len(chunk)] = chunk
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.na"
        path.write_bytes(bytes(raw))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                ds = reader().read(path)
        except ReaderError:
            return
        assert ds.sizes["time"] >= 1


@pytest.mark.parametrize(
    "relative",
    [
        "nasa_ames_spec/1001.na",
        "nasa_ames_spec/2160_ndacc.na",
        "caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_valid0.txt",
        "icartt/ACTAMERICA-mrg05-b200_merge_20170121_R0.ict",
    ],
)
def test_utf8_byte_order_mark_changes_nothing(
    shared_data: Path, tmp_path: Path, relative: str
) -> None:
    """A file saved by a Windows editor starts with a UTF-8 BOM: found and read the same."""
    from stratoflow import open_dataset

    original = shared_data / relative
    marked = tmp_path / original.name
    marked.write_bytes(b"\xef\xbb\xbf" + original.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = open_dataset(original), open_dataset(marked)  # reader found by sniffing
    assert a.attrs["reader"] == b.attrs["reader"]
    assert list(a.variables) == list(b.variables)
    for name in a.variables:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


@pytest.mark.parametrize(("writer", "reader", "suffix"), FORMATS[:2])
def test_ancillary_links_survive_a_round_trip(
    writer: type[Writer], reader: type[Reader], suffix: str, shared_data: Path, tmp_path: Path
) -> None:
    """The real IAGOS file's errors and process flags stay tied to their variable (not read
    back as measured data with flags of their own), whatever the text format."""
    from stratoflow.dataset import data_variables
    from stratoflow.readers import IagosNetcdfReader

    real = IagosNetcdfReader().read(
        shared_data / "iagos/IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4"
    )
    names = ["O3_P1", "O3_P1_flag", "O3_P1_error", "O3_P1_process_flag", "CO_P1", "CO_P1_flag"]
    ds = real[[*names, "CO_P1_error"]]  # CO_P1_process_flag left out: its link is dropped
    assert set(ds["O3_P1"].attrs["ancillary_variables"].split()[1:]) == {
        "O3_P1_error",
        "O3_P1_process_flag",
    }
    back = reader().read(writer().write(ds, tmp_path / f"ACT-anc_B200_20190105_R0{suffix}"))
    assert data_variables(back) == data_variables(ds) == ["O3_P1", "CO_P1"]
    assert back["O3_P1"].attrs["ancillary_variables"] == ds["O3_P1"].attrs["ancillary_variables"]
    assert back["CO_P1"].attrs["ancillary_variables"].split() == [
        "CO_P1_flag",
        "CO_P1_error",
    ]
    assert not {"O3_P1_error_flag", "O3_P1_process_flag_flag"} & set(back.data_vars)
    for name in ds.data_vars:
        np.testing.assert_array_equal(back[name].values, ds[name].values, err_msg=str(name))
    rewritten = reader().read(writer().write(back, tmp_path / f"again{suffix}"))
    assert (
        rewritten["O3_P1"].attrs["ancillary_variables"] == ds["O3_P1"].attrs["ancillary_variables"]
    )


@pytest.mark.parametrize(("writer", "reader", "suffix"), FORMATS[:2])
def test_float32_gap_next_to_large_values_stays_a_gap(
    writer: type[Writer], reader: type[Reader], suffix: str, tmp_path: Path
) -> None:
    # values above 2**24 make the missing value 999999999, which float32 rounds to 1e9
    t = np.datetime64("2024-01-01T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    values = np.array([1.5e7, np.nan, 0.1], dtype=np.float32)
    ds = make_dataset(t, {"N": (values, {"units": "m-3", "long_name": "number"})})
    path = writer().write(ds, tmp_path / f"out{suffix}")
    back = reader().read(path)
    np.testing.assert_array_equal(back["N"].values.astype(np.float32), values)
    if writer is NasaAmesWriter:
        na = nappy.openNAFile(str(path))
        na.readData()
        assert na.V[0][1] == float(na.VMISS[0])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert np.isnan(icartt.Dataset(str(path)).data["N"][1])


def test_a_variable_named_start_utc_is_refused_in_icartt(tmp_path: Path) -> None:
    """It was written as a second ``Start_UTC`` column, a file our reader then refused."""
    from stratoflow.errors import WriterError

    t = np.datetime64("2024-01-01T10:00:00", "ns") + np.arange(2) * np.timedelta64(1, "s")
    ds = make_dataset(t, {"Start_UTC": (np.array([1.0, 2.0]), {"units": "s"})})
    with pytest.raises(WriterError, match=r"out\.ict: variable 'Start_UTC'.*rename it"):
        IcarttWriter().write(ds, tmp_path / "out.ict")


@pytest.mark.parametrize(("writer", "reader", "suffix"), FORMATS[:2])
def test_boolean_variables_are_written_as_numbers(
    writer: type[Writer], reader: type[Reader], suffix: str, tmp_path: Path
) -> None:
    """They were written as True/False, a data block no reader (ours, nappy, icartt) parses."""
    t = np.datetime64("2024-01-01T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    on = np.array([True, False, True])
    ds = make_dataset(t, {"pump_on": (on, {"units": "1", "long_name": "pump running"})})
    path = writer().write(ds, tmp_path / f"out{suffix}")
    np.testing.assert_array_equal(reader().read(path)["pump_on"].values, on.astype(float))
    if writer is NasaAmesWriter:
        na = nappy.openNAFile(str(path))
        na.readData()
        assert list(na.V[0]) == [1, 0, 1]
