"""Variants of the real sample files, made at test time: each is read exactly as the original,
or refused with an error naming the file and the defect -- never read into other values.

The variants are what files go through on their way to stratoflow: line ends converted (FTP
ASCII mode, a Mac), a byte order mark (Windows editors), blanks added at line ends or after
the last line, the final line end dropped (a script), a transfer that stopped early.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

from stratoflow.errors import ConfigError, ReaderError
from stratoflow.processing.units import convert
from stratoflow.readers import (
    CfNetcdfReader,
    DelimitedReader,
    IcarttReader,
    NasaAmesReader,
    Reader,
)
from stratoflow.readers.base import UNKNOWN_UNITS

#: name -> (file in the shared data folder, reader, file name for the variant)
SOURCES: dict[str, tuple[str, Callable[[], Reader], str]] = {
    "caribic": (
        "caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_valid0.txt",
        NasaAmesReader,
        "caribic.na",
    ),
    "ebas": (
        "ebas_nasa_ames/CV0001G.20190101000000.20220502085424.online_crds.carbon_monoxide.air"
        ".1y.1h.GB12L_CVO_Picarro_G2401.GB12L_Picarro.lev2.nas",
        NasaAmesReader,
        "ebas.nas",
    ),
    "ndacc_2160": ("nasa_ames_spec/2160_ndacc.na", NasaAmesReader, "ndacc.na"),
    "icartt": (
        "icartt/ACTAMERICA-mrg05-b200_merge_20170308_R0_L2.ict",
        IcarttReader,
        "ACTAMERICA-mrg05-b200_merge_20170308_R0_L2.ict",
    ),
    "fairo_omc": ("fairo_raw/11_30_04.OMC", lambda: DelimitedReader(preset="fairo_omc"), "x.OMC"),
    "fairo_hal": ("fairo_raw/11_30_01.HAL", lambda: DelimitedReader(preset="fairo_hal"), "x.HAL"),
}


def _lf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


def _crlf(raw: bytes) -> bytes:
    return _lf(raw).replace(b"\n", b"\r\n")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _ending(raw: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in raw else b"\n"


HARMLESS: dict[str, Callable[[bytes], bytes]] = {
    "lf": _lf,
    "crlf": _crlf,
    "cr_only": lambda raw: _lf(raw).replace(b"\n", b"\r"),
    "utf8_bom": lambda raw: b"\xef\xbb\xbf" + raw,
    "blank_lines_after_the_data": lambda raw: raw + 2 * _ending(raw) + b"  " + _ending(raw),
    "blanks_at_line_ends": lambda raw: raw.replace(_ending(raw), b"  " + _ending(raw)),
    "no_final_line_end": lambda raw: raw.rstrip(b"\r\n"),
    "utf16_with_bom": lambda raw: _text(raw).encode("utf-16"),
}


def _read(shared_data: Path, tmp_path: Path, source: str, raw: bytes | None = None) -> xr.Dataset:
    relative, reader, name = SOURCES[source]
    if raw is None:
        return reader().read(shared_data / relative)
    path = tmp_path / name
    path.write_bytes(raw)
    return reader().read(path)


def _assert_same(ds: xr.Dataset, ref: xr.Dataset) -> None:
    assert sorted(ds.data_vars) == sorted(ref.data_vars)
    np.testing.assert_array_equal(ds["time"].values, ref["time"].values)
    for name in ref.data_vars:
        np.testing.assert_array_equal(ds[name].values, ref[name].values, err_msg=str(name))
        assert ds[name].attrs.get("units") == ref[name].attrs.get("units"), name


@pytest.mark.parametrize("variant", sorted(HARMLESS))
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_harmless_variants_of_real_files_read_like_the_originals(
    shared_data: Path, tmp_path: Path, source: str, variant: str
) -> None:
    original = (shared_data / SOURCES[source][0]).read_bytes()
    ds = _read(shared_data, tmp_path, source, HARMLESS[variant](original))
    _assert_same(ds, _read(shared_data, tmp_path, source))


@pytest.mark.parametrize("cut", [1, 3])
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_file_cut_inside_its_last_value_is_refused(
    shared_data: Path, tmp_path: Path, source: str, cut: int
) -> None:
    """A transfer that stopped inside the last value (``46.71`` -> ``46.``, ``4``) left a
    number that parses: the file was read, its last value wrong."""
    original = (shared_data / SOURCES[source][0]).read_bytes()
    body = original.rstrip(b"\r\n \t\x00")
    lines = body.count(b"\n") + 1
    with pytest.raises(ReaderError) as err:
        _read(shared_data, tmp_path, source, body[:-cut])
    message = str(err.value)
    assert f"{SOURCES[source][2]}: line {lines}:" in message
    # a cut inside the last value, or one that took a whole value away (a short record)
    assert "ends in the middle of a line (truncated file?)" in message or (
        "record has 18 fields, the column names line has 19" in message
    )


@pytest.mark.parametrize(
    ("vmiss", "vscal", "factor"),
    [
        ("9999.0", "1", 1.0),
        ("9.999E+03", "1", 1.0),
        ("9999.000", "1.0E+00", 1.0),
        ("99990", "0.1", 10.0),  # values written in tenths, the marker too
    ],
)
def test_missing_value_and_scale_spellings_give_the_same_values(
    shared_data: Path, tmp_path: Path, vmiss: str, vscal: str, factor: float
) -> None:
    original = _lf((shared_data / SOURCES["caribic"][0]).read_bytes())
    head, names, data = original.partition(b"TimeCRef\tOzone\n")
    head = head.replace(b"\n1\n9999\nOzone", f"\n{vscal}\n{vmiss}\nOzone".encode())
    rows = []
    for line in data.splitlines():
        time, value = line.split(b"\t")
        packed = b"99990" if factor != 1 and value == b"9999" else value
        if factor != 1 and value != b"9999":
            packed = f"{float(value) * factor:.1f}".encode()
        if factor == 1 and value == b"9999":
            packed = b"9999.0"  # the marker in the data spelt unlike the header's
        rows.append(time + b"\t" + packed)
    ds = _read(shared_data, tmp_path, "caribic", head + names + b"\n".join(rows) + b"\n")
    ref = _read(shared_data, tmp_path, "caribic")
    np.testing.assert_allclose(ds["Ozone"].values, ref["Ozone"].values, rtol=1e-12)
    assert np.isnan(ds["Ozone"].values).sum() == 9


def test_an_icartt_file_of_another_ffi_is_refused_naming_it(tmp_path: Path) -> None:
    """ICARTT 2.0 allows FFI 2110 (profiles): the error said "only NASA Ames FFI 1001"."""
    path = tmp_path / "PROFILE_DC8_20200504_R0.ict"
    path.write_text("30, 2110, V02_2016\nPI\nORG\nSOURCE\nMISSION\n1, 1\n")
    with pytest.raises(
        ReaderError, match=r"PROFILE_DC8_20200504_R0\.ict: line 1: .*ICARTT FFI 2110"
    ):
        IcarttReader().read(path)


def test_a_negative_icartt_start_time_is_refused(shared_data: Path, tmp_path: Path) -> None:
    """A missing-value marker in Start_UTC (-99999 s) became a time on the day before."""
    original = (shared_data / SOURCES["icartt"][0]).read_bytes()
    damaged = original.replace(b"\n75207,", b"\n-99999,", 1)
    with pytest.raises(ReaderError, match=r"_L2\.ict: line 138: .*'UTC' is -99999.*negative"):
        _read(shared_data, tmp_path, "icartt", damaged)


def test_a_detection_limit_flag_equal_to_the_missing_value_means_missing(
    shared_data: Path, tmp_path: Path
) -> None:
    """LLOD_FLAG -999999 with LLOD_VALUE 0.1, and -999999 the missing value of every column:
    each missing point was given the value 0.1 and the flag 'limited'."""
    original = (shared_data / SOURCES["icartt"][0]).read_bytes()
    edited = original.replace(b"LLOD_FLAG: -888888", b"LLOD_FLAG: -999999").replace(
        b"LLOD_VALUE: N/A", b"LLOD_VALUE: 0.1"
    )
    ds = _read(shared_data, tmp_path, "icartt", edited)
    ref = _read(shared_data, tmp_path, "icartt")
    _assert_same(ds, ref)
    assert np.isnan(ds["C2H6_MixingRatio_CAMS2"].values).any()


def _no_units_files(shared_data: Path, tmp_path: Path) -> dict[str, tuple[Reader, Path, str]]:
    """One file per reader with a variable whose units the file does not give."""
    nasa = tmp_path / "no_unit.na"
    nasa.write_text(
        "16 1001\nPI\nORG\nSOURCE\nMISSION\n1 1\n2020 05 04 2020 06 01\n0\n"
        "Time (seconds from 0 UTC)\n2\n1 1\n9999 9999\nOzone\nPressure (hPa)\n0\n0\n"
        + "".join(f"{36000 + i} {40 + i} {900 - i}\n" for i in range(6))
    )
    ict = tmp_path / "ACTAMERICA-mrg05-b200_merge_20170308_R0_L2.ict"
    ict.write_bytes(
        (shared_data / SOURCES["icartt"][0])
        .read_bytes()
        .replace(b"\nO3_MixingRatio, ppbv", b"\nO3_MixingRatio,")
    )
    nc = tmp_path / "no_unit.nc"
    with netCDF4.Dataset(nc, "w") as ds:
        ds.createDimension("time", 3)
        time = ds.createVariable("time", "f8", ("time",))
        time.units = "seconds since 2020-05-04 00:00:00"
        time[:] = [0.0, 1.0, 2.0]
        ds.createVariable("Ozone", "f4", ("time",))[:] = [40.0, 41.0, 42.0]
        dimensionless = ds.createVariable("RH_fraction", "f4", ("time",))
        dimensionless.units = "none"
        dimensionless[:] = [0.5, 0.6, 0.7]
        status = ds.createVariable("pump_status", "i1", ("time",))  # CF flags: no units
        status.flag_values = np.array([0, 1], dtype="i1")
        status.flag_meanings = "off on"
        status[:] = [0, 1, 1]
    csv = tmp_path / "no_unit.csv"
    csv.write_text("time,Ozone\n2020-05-04T10:00:00Z,40\n2020-05-04T10:00:01Z,41\n")
    return {
        "nasa_ames": (NasaAmesReader(), nasa, "Ozone"),
        "icartt": (IcarttReader(), ict, "O3_MixingRatio"),
        "netcdf": (CfNetcdfReader(), nc, "Ozone"),
        "delimited": (DelimitedReader(), csv, "Ozone"),
    }


@pytest.mark.parametrize("reader", ["nasa_ames", "icartt", "netcdf", "delimited"])
def test_a_variable_without_units_is_not_called_dimensionless(
    shared_data: Path, tmp_path: Path, reader: str
) -> None:
    """A variable the file gives no units was labelled "1" (dimensionless), a claim the file
    never made; converted to ppb, its values were multiplied by 1e9 without a word."""
    instance, path, name = _no_units_files(shared_data, tmp_path)[reader]
    ds = instance.read(path)
    assert ds[name].attrs["units"] == UNKNOWN_UNITS == "unknown"
    with pytest.raises(ConfigError, match="'unknown'"):
        convert(ds[name].values, ds[name].attrs["units"], "ppb")
    # what a file does say stays as it is: "none" is dimensionless, a unit is its unit
    if reader == "netcdf":
        assert ds["RH_fraction"].attrs["units"] == "1"
        assert ds["pump_status"].attrs["units"] == "1"
    if reader == "nasa_ames":
        assert ds["Pressure"].attrs["units"] == "hPa"
    if reader == "icartt":
        assert ds["INDEX"].attrs["units"] == "1"  # "INDEX, none"
        assert ds["PRESSURE"].attrs["units"] == "hPa"


#: the ``NLHEAD FFI`` line of each NASA Ames or ICARTT source (NLHEAD, the rest of the line)
_FIRST = {
    "caribic": (37, b" 1001"),
    "ebas": (72, b" 1001"),
    "ndacc_2160": (102, b" 2160"),
    "icartt": (136, b", 1001"),
}


@pytest.mark.parametrize("delta", [-1, 1])
@pytest.mark.parametrize("source", sorted(_FIRST))
def test_a_header_length_one_off_is_named(
    shared_data: Path, tmp_path: Path, source: str, delta: int
) -> None:
    nlhead, rest = _FIRST[source]
    original = (shared_data / SOURCES[source][0]).read_bytes()
    first = f"{nlhead}".encode() + rest
    assert original.count(first) == 1
    wrong = original.replace(first, f"{nlhead + delta}".encode() + rest)
    with pytest.raises(ReaderError, match=rf"line \d: wrong NLHEAD: .* {nlhead + delta} lines"):
        _read(shared_data, tmp_path, source, wrong)


@pytest.mark.parametrize("source", sorted(_FIRST))
def test_a_file_cut_inside_its_header_is_named(
    shared_data: Path, tmp_path: Path, source: str
) -> None:
    original = (shared_data / SOURCES[source][0]).read_bytes()
    lines = original.split(b"\n")
    cut = b"\n".join(lines[: _FIRST[source][0] // 2]) + b"\n" + lines[_FIRST[source][0] // 2][:5]
    with pytest.raises(ReaderError, match=r"file ends inside the header .*\(truncated file\?\)"):
        _read(shared_data, tmp_path, source, cut)


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_a_table_cut_inside_its_last_value_is_refused_whatever_its_line_ends(
    tmp_path: Path, end: bytes
) -> None:
    """A table of bare-CR lines (classic Mac) cut short was read: its lines were not seen."""
    rows = [f"2020-05-04T10:00:{i:02d}Z,{40 + i / 10:.2f},{-50 - i / 10:.1f}" for i in range(9)]
    path = tmp_path / "cut.csv"
    path.write_bytes(end.join([b"time,O3,T", *(r.encode() for r in rows)])[:-1])
    with pytest.raises(ReaderError, match=r"cut\.csv: line 10: .*'-50\.' \(value 3\)"):
        DelimitedReader().read(path)
    path.write_bytes(end.join([b"time,O3,T", *(r.encode() for r in rows)]))  # complete
    assert DelimitedReader().read(path)["T"].values[-1] == -50.8


def test_detection_limit_markers_listed_per_variable_are_applied(
    shared_data: Path, tmp_path: Path
) -> None:
    """``LLOD_FLAG: -888888, -888888, ...`` (one per variable, as LLOD_VALUE may be) was
    taken for "no marker": the points below the limit were read as -888888 ppb."""
    original = (shared_data / SOURCES["icartt"][0]).read_bytes()
    header, _, data = original.partition(b"\n75202,")
    data = data.replace(b"-999999", b"-888888", 1)  # one point below the detection limit
    marked = header + b"\n75202," + data
    listed = marked.replace(b"LLOD_FLAG: -888888", b"LLOD_FLAG: " + b", ".join([b"-888888"] * 97))
    ds = _read(shared_data, tmp_path, "icartt", listed)
    _assert_same(ds, _read(shared_data, tmp_path, "icartt", marked))
    assert [str(n) for n in ds.data_vars if str(n).endswith("_lod")] != []
    garbled = marked.replace(b"LLOD_FLAG: -888888", b"LLOD_FLAG: -888888 (below LLOD)")
    with pytest.raises(ReaderError, match=r"_L2\.ict: LLOD_FLAG: '-888888 \(below LLOD\)' is not"):
        _read(shared_data, tmp_path, "icartt", garbled)


def test_a_tables_missing_value_markers_are_missing_when_named(
    shared_data: Path, tmp_path: Path
) -> None:
    """A table does not say its markers: -9999 was read as -9999 ppb, with no way to say."""
    path = tmp_path / "log.csv"
    path.write_text(
        "time,O3,p\n2020-05-04T10:00:00Z,40.5,NA\n2020-05-04T10:00:01Z,-9999.0,850\n"
        "2020-05-04T10:00:02Z,-9.999e3,851\n2020-05-04T10:00:03Z,41,-9999\n"
    )
    ds = DelimitedReader(missing_values=["-9999", "NA"]).read(path)
    np.testing.assert_array_equal(ds["O3"].values, [40.5, np.nan, np.nan, 41.0])
    np.testing.assert_array_equal(ds["p"].values, [np.nan, 850.0, 851.0, np.nan])
    assert ds["O3"].attrs["missing_values_original"] == "-9999 NA"
    with pytest.raises(ReaderError, match=r"log\.csv: line 2: column 'p': not a number: 'NA'"):
        DelimitedReader().read(path)  # not named: a word in a numeric column is an error
    with pytest.raises(ConfigError, match="missing_values must be a list"):
        DelimitedReader(missing_values="-9999")
    # a preset chosen by the file's suffix is kept, the markers added to it
    omc = tmp_path / "11_30_04.OMC"
    raw = (shared_data / "fairo_raw/11_30_04.OMC").read_bytes()
    omc.write_bytes(raw.replace(b"\t 71.15\t", b"\t-999.99\t", 1))
    ds = DelimitedReader(missing_values=["-999.99"]).read(omc)
    assert ds.attrs["delimited_preset"] == "fairo_omc"
    assert np.isnan(ds["O3"].values[0]) and ds["O3"].values[1] == 71.65


@pytest.mark.parametrize("change", ["one_more", "one_fewer"])
@pytest.mark.parametrize("source", ["caribic", "ebas", "icartt"])
def test_records_with_another_number_of_values_than_the_header_are_named(
    shared_data: Path, tmp_path: Path, source: str, change: str
) -> None:
    """Every record one value longer or shorter than NV says (the header and the data of
    two versions of a file put together): refused at the first record, never shifted. The
    CARIBIC file one value short holds the time alone on each line: it was read as records
    wrapped over two lines, every other time an ozone value."""
    original = _lf((shared_data / SOURCES[source][0]).read_bytes())
    lines = original.split(b"\n")
    first = _FIRST[source][0]  # the data start after NLHEAD lines
    sep = b", " if source == "icartt" else b" "
    for i in range(first, len(lines)):
        if lines[i].strip():
            cut = lines[i].rstrip().rsplit(sep.strip() or None, 1)[0]
            lines[i] = lines[i].rstrip() + sep + b"1" if change == "one_more" else cut
    with pytest.raises(ReaderError) as err:
        _read(shared_data, tmp_path, source, b"\n".join(lines))
    assert f"{SOURCES[source][2]}: line {first + 1}" in str(err.value)
