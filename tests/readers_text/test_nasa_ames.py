"""NASA Ames reader: real files against nappy, the defective CARIBIC files, EBAS flags."""

from __future__ import annotations

import re
from pathlib import Path

import nappy
import numpy as np
import pytest

from stratoflow.dataset import flags_of, make_dataset
from stratoflow.errors import ReaderError
from stratoflow.flags import Flag
from stratoflow.readers import NasaAmesReader, get_reader
from stratoflow.readers.nasa_ames import ebas_flags, parse_nasa_ames
from stratoflow.writers import NasaAmesWriter

CARIBIC = "caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_{}.txt"
EBAS = (
    "ebas_nasa_ames/CV0001G.20190101000000.20220502085424.online_crds.carbon_monoxide.air.1y.1h."
    "GB12L_CVO_Picarro_G2401.GB12L_Picarro.lev2.nas"
)
REAL_1001 = [
    CARIBIC.format("valid0"),
    CARIBIC.format("valid1"),
    "caribic_nasa_ames/valid_1001a.na",
    EBAS,
    "nasa_ames_spec/1001.na",
]


def _nappy(path: Path) -> dict[str, object]:
    na = nappy.openNAFile(str(path))
    na.readData()
    result: dict[str, object] = na.getNADict()
    return result


@pytest.mark.parametrize("name", REAL_1001)
def test_parser_agrees_with_nappy(shared_data: Path, name: str) -> None:
    path = shared_data / name
    ours = parse_nasa_ames(path)
    ref = _nappy(path)
    np.testing.assert_array_equal(ours.independent, np.asarray(ref["X"], dtype=float).ravel())
    np.testing.assert_array_equal(ours.values, np.asarray(ref["V"], dtype=float).T)
    assert list(ours.header.vscal) == [float(v) for v in ref["VSCAL"]]  # type: ignore[attr-defined]
    assert list(ours.header.vmiss) == [float(v) for v in ref["VMISS"]]  # type: ignore[attr-defined]
    assert ours.header.nlhead == ref["NLHEAD"]


@pytest.mark.parametrize("name", [n for n in REAL_1001 if "1001a" not in n])
def test_reader_values_match_nappy_with_scale_and_missing(shared_data: Path, name: str) -> None:
    path = shared_data / name
    ds = NasaAmesReader().read(path)
    ref = _nappy(path)
    raw = np.asarray(ref["V"], dtype=float)
    names = [n for n in ds.data_vars if "nasa_ames_vname" in ds[n].attrs]
    assert len(names) == len(raw)
    for i, var in enumerate(names):
        expected = raw[i] * float(ref["VSCAL"][i])  # type: ignore[index]
        expected[raw[i] == float(ref["VMISS"][i])] = np.nan  # type: ignore[index]
        np.testing.assert_array_equal(ds[var].values, expected)
        assert ds[var].attrs["units"]
        assert ds[var].attrs["long_name"]
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert (np.diff(ds["time"].values.view(np.int64)) > 0).all()


def test_caribic_conventions(shared_data: Path) -> None:
    ds = NasaAmesReader().read(shared_data / CARIBIC.format("valid0"))
    ozone = ds["Ozone"]
    assert ozone.attrs["units"] == "1e-9"
    assert ozone.attrs["units_original"] == "[ppb]"
    assert ozone.attrs["standard_name"] == "mole_fraction_of_ozone_in_air"
    assert ds.attrs["flight"] == "591"
    assert ds.attrs["departure_airport"] == "Cape Town"
    assert ds.attrs["pi"].startswith("F. Obersteiner")
    assert str(ds["time"].values[0]) == "2020-03-04T07:54:53.900000000"
    assert "Ozone_flag" not in ds  # CARIBIC files have no flags: none are made up
    flags = flags_of(ds, "Ozone")
    assert (flags[:9] == Flag.MISSING).all()
    assert (flags[9:] == Flag.NOT_VALIDATED).all()
    assert ozone.values[9] == 48.65


def test_non_ascii_header(shared_data: Path) -> None:
    ds = NasaAmesReader().read(shared_data / CARIBIC.format("valid1"))
    assert "Özone" in ds.data_vars
    assert ds.attrs["source"].startswith("Özone measured")


def test_latin1_header_is_read(tmp_path: Path, shared_data: Path) -> None:
    raw = (shared_data / CARIBIC.format("valid1")).read_bytes()
    path = tmp_path / "latin1.na"
    path.write_bytes(raw.decode("utf-8").encode("latin-1"))
    ds = NasaAmesReader().read(path)
    assert ds.attrs["header_encoding"] == "latin-1"
    assert ds.attrs["source"].startswith("Özone")


DEFECTS = {
    0: (61, r"expected 2 values per data record, found 1"),
    1: (38, r"no data records"),
    2: (1, r"wrong NLHEAD: line 1 says the header has 5 lines"),
    3: (1, r"unsupported FFI 2101"),
    4: (7, r"revision date RDATE 2019-09-22 is before the data date"),
    5: (11, r"expected 2 scale factors VSCAL"),
    6: (12, r"expected 1 missing values VMISS"),
    7: (14, r"number of special comment lines NSCOML.*number of variable names"),
    8: (1, r"wrong NLHEAD: line 1 says the header has 32 lines"),
}


@pytest.mark.parametrize("number", sorted(DEFECTS))
def test_defective_caribic_files_are_rejected(shared_data: Path, number: int) -> None:
    path = shared_data / CARIBIC.format(f"invalid{number}")
    line, defect = DEFECTS[number]
    with pytest.raises(ReaderError, match=re.escape(f"{path}: line {line}: ")) as info:
        NasaAmesReader().read(path)
    assert re.search(defect, str(info.value)), str(info.value)
    assert info.value.line == line


@pytest.mark.parametrize("ffi", ["1010", "1020", "2010", "2110", "2160", "2310", "3010", "4010"])
def test_non_time_spec_files_are_refused_clearly(shared_data: Path, ffi: str) -> None:
    # the messages themselves are checked in test_nasa_ames_ffi.py
    with pytest.raises(ReaderError, match=f"{ffi}.na: line \\d+: NASA Ames FFI {ffi}: "):
        NasaAmesReader().read(shared_data / "nasa_ames_spec" / f"{ffi}.na")


def test_independent_variable_must_be_time(shared_data: Path) -> None:
    with pytest.raises(ReaderError, match="'Pressure \\(hPa\\)' is not a time"):
        NasaAmesReader().read(shared_data / "caribic_nasa_ames/valid_1001a.na")


def test_ebas_numflag_and_metadata(shared_data: Path) -> None:
    ds = NasaAmesReader().read(shared_data / EBAS)
    assert ds.sizes["time"] == 8760
    assert ds.attrs["file_convention"] == "ebas"
    assert ds.attrs["station"] == "CV0001G"
    co = ds["carbon_monoxide"]
    assert co.attrs["units"] == "1e-9"
    assert co.attrs["ebas_Statistics"] == "arithmetic mean"
    assert "numflag" in co.attrs["ancillary_variables"].split()
    assert {"carbon_monoxide_maximum", "carbon_monoxide_minimum"} <= set(ds.data_vars)
    numflag = ds["numflag"].values
    flags = ds["carbon_monoxide_flag"].values
    assert (flags[numflag == 0] == Flag.GOOD).all()
    assert (flags[np.isclose(numflag, 0.999)] == Flag.MISSING).all()
    assert np.isnan(co.values[flags == Flag.MISSING]).all()
    assert ds["end_time"].attrs["units"] == "day since 2019-01-01 00:00:00"
    # 0.041667 days is 01:00:00.0288: six decimals of a day (86.4 ms) cannot say better, so
    # the instants go back on the whole seconds they were written from
    assert str(ds["time"].values[1]) == "2019-01-01T01:00:00.000000000"
    assert (ds["time"].values.astype("datetime64[s]") == ds["time"].values).all()


def test_ebas_flag_translation() -> None:
    codes = ebas_flags(np.array([0.0, 0.1, 0.147, 0.456, 0.999, 0.147456, 0.980147]))
    assert codes.tolist() == [0, 2, 2, 3, 7, 3, 7]


def test_registered_and_guessed(shared_data: Path) -> None:
    assert get_reader("nasa_ames") is NasaAmesReader
    assert NasaAmesReader.guess_can_open(shared_data / CARIBIC.format("valid0"))
    assert not NasaAmesReader.guess_can_open(shared_data / "fairo_raw/11_30_04.OMC")


def test_a_text_variable_is_refused_naming_the_file_asked_for(tmp_path: Path) -> None:
    """NASA Ames and ICARTT hold numbers only: the error names the variable and the output
    file the user gave, not the hidden temporary file the writer fills first."""
    from stratoflow.dataset import make_dataset
    from stratoflow.errors import WriterError
    from stratoflow.writers import IcarttWriter, NasaAmesWriter

    t = np.datetime64("2024-01-01T10:00:00", "ns") + np.arange(2) * np.timedelta64(1, "s")
    ds = make_dataset(
        t,
        {
            "O3": (np.array([1.0, 2.0]), {"units": "1e-9"}),
            "State": (np.array(["M", "Z"]), {"units": "1"}),
        },
    )
    for writer in (NasaAmesWriter(), IcarttWriter()):
        target = tmp_path / f"out.{writer.name}"
        with pytest.raises(WriterError) as info:
            writer.write(ds, target)
        assert str(info.value).startswith(f"{target}: ")
        assert "'State'" in str(info.value) and ".part" not in str(info.value)
        assert list(tmp_path.iterdir()) == []


def _ffi1001(path: Path, xname: str, rows: list[str], date: str = "2021 06 14") -> Path:
    head = ["Doe, Jane", "Test Org", "test source", "test mission", "1 1", f"{date} 2021 06 15"]
    lines = [*head, "0", xname, "1", "1", "-9999", "Ozone (ppb)", "0", "0"]
    path.write_text("\n".join([f"{len(lines) + 1} 1001", *lines, *rows]) + "\n")
    return path


@pytest.mark.parametrize(
    ("xname", "rows", "first"),
    [
        ("Time in UT seconds from 0000 hours on the data date", ["3600 40", "3601 41"],
         "2021-06-14T01:00:00"),
        ("seconds since 2021-06-13 00:00:00", ["86400 40", "86401 41"], "2021-06-14T00:00:00"),
        ("Time (seconds since 2021-06-14T10:00:00Z)", ["0 40", "1 41"], "2021-06-14T10:00:00"),
        ("days since 2021-01-01", ["164.5 40", "164.50001157 41"], "2021-06-14T12:00:00"),
        ("Fractional Julian day of year", ["165.5 40", "165.50001157 41"],
         "2021-06-14T12:00:00"),
        ("Julian Date (UT)", ["2459379.5 40", "2459379.50001157 41"], "2021-06-14T00:00:00"),
        # days from DATE that a file calls "Julian days": 0.5 is not a day of the year
        ("Julian day", ["0.5 40", "0.50001157 41"], "2021-06-14T12:00:00"),
    ],
)  # fmt: skip
def test_time_counts_from_the_origin_its_name_gives(
    tmp_path: Path, xname: str, rows: list[str], first: str
) -> None:
    ds = NasaAmesReader().read(_ffi1001(tmp_path / "t.na", xname, rows))
    start = np.datetime64(first, "ns")
    np.testing.assert_array_equal(ds["time"].values, [start, start + np.timedelta64(1, "s")])


@pytest.mark.parametrize(
    ("xname", "first"),
    [
        ("seconds since 2021-06-14 00:00:00 +02:00", "2021-06-13T22:00:00"),
        ("seconds since 2021-06-14T00:00:00+0200", "2021-06-13T22:00:00"),
        ("Time (seconds since 2021-06-14 00:00:00 -05)", "2021-06-14T05:00:00"),
        ("seconds since 2021-06-14 00:00:00 UTC", "2021-06-14T00:00:00"),
        ("Seconds SINCE 2021-06-14 10:00:00", "2021-06-14T10:00:00"),
        ("seconds  Since  2021-06-14T10:00:00Z", "2021-06-14T10:00:00"),
    ],
)
def test_a_time_origin_with_an_iso_offset_is_converted_to_utc(
    tmp_path: Path, xname: str, first: str
) -> None:
    """An ISO offset ('+02:00') was refused as local time, and 'SINCE' in capitals was not
    seen at all: the times were read as offsets from midnight of DATE."""
    ds = NasaAmesReader().read(_ffi1001(tmp_path / "t.na", xname, ["0 40", "1 41"]))
    start = np.datetime64(first, "ns")
    np.testing.assert_array_equal(ds["time"].values, [start, start + np.timedelta64(1, "s")])


@pytest.mark.parametrize(
    ("zone", "defect"),
    [
        ("UTC+1", r"zone 'UTC\+1' is ambiguous"),
        ("GMT-5", r"zone 'GMT-5' is ambiguous"),
        ("CET", r"zone 'CET' is not understood"),
    ],
)
def test_a_time_origin_in_an_ambiguous_zone_is_refused(
    tmp_path: Path, zone: str, defect: str
) -> None:
    """'UTC+1' / 'GMT-5' were taken as UTC; POSIX and people read their sign oppositely."""
    xname = f"seconds since 2021-06-14 00:00:00 {zone}"
    path = _ffi1001(tmp_path / "t.na", xname, ["0 1"])
    with pytest.raises(ReaderError, match=defect) as info:
        NasaAmesReader().read(path)
    assert str(info.value).startswith(f"{path}: line 9: the independent variable {xname!r}")


@pytest.mark.parametrize(
    "units", ["hours since 2021-06-14 02:00:00 +02:00", "Hours SINCE 2021-06-14 00:00:00 Z"]
)
def test_a_variable_counting_from_its_own_reference_keeps_it_in_utc(
    tmp_path: Path, units: str
) -> None:
    """The zone of a variable's own reference ('+02:00') was dropped, two hours off, and
    'SINCE' was not seen (the count was moved to midnight of DATE)."""
    path = _ffi1001(tmp_path / "t.na", "seconds from 0 hours", ["0 1", "1 2"])
    path.write_text(path.read_text().replace("Ozone (ppb)", f"Launch ({units})"))
    ds = NasaAmesReader().read(path)
    assert ds["Launch"].attrs["units"] == "hour since 2021-06-14 00:00:00"
    path.write_text(path.read_text().replace(units, "hours since 2021-06-14 01:00:00 UTC+1"))
    with pytest.raises(ReaderError, match=r"variable 'Launch': .*'UTC\+1' is ambiguous"):
        NasaAmesReader().read(path)


@pytest.mark.parametrize("scale", ["0", "0.0", "nan", "inf"])
def test_a_scale_factor_that_erases_the_column_is_refused(tmp_path: Path, scale: str) -> None:
    path = _ffi1001(tmp_path / "t.na", "seconds from 0 hours", ["0 40", "1 41"])
    text = path.read_text().replace("\n1\n1\n-9999\n", f"\n1\n{scale}\n-9999\n")
    path.write_text(text)
    with pytest.raises(ReaderError, match=r"line 11: scale factor VSCAL\(1\) is .*non-zero"):
        NasaAmesReader().read(path)


def test_records_wrapped_over_lines_are_read_as_nappy_reads_them(tmp_path: Path) -> None:
    """Many variables: a writer wraps each record over several lines (nappy reads that)."""
    head = ["Doe, Jane", "Test Org", "test source", "test mission", "1 1", "2021 06 14 2021 06 15"]
    lines = [*head, "0", "Time (seconds from 0 UT)", "3", "1 1 1", "-9999 -9999 -9999"]
    lines += ["Ozone (ppb)", "CO (ppb)", "H2O (ppm)", "0", "0"]
    rows = ["0 40.0", " 100 5", "1 41.0", " 101 -9999"]
    path = tmp_path / "wrapped.na"
    path.write_text("\n".join([f"{len(lines) + 1} 1001", *lines, *rows]) + "\n")
    ds = NasaAmesReader().read(path)
    ref = _nappy(path)
    np.testing.assert_array_equal(ds["CO"].values, np.asarray(ref["V"][1], float))
    np.testing.assert_array_equal(ds["H2O"].values, [5.0, np.nan])
    # a record that is really short is still named, at its line
    path.write_text(path.read_text().replace(" 101 -9999\n", " 101\n"))
    with pytest.raises(ReaderError, match="line 20"):
        NasaAmesReader().read(path)


def test_fortran_d_exponents_are_numbers(tmp_path: Path) -> None:
    path = _ffi1001(tmp_path / "t.na", "seconds from 0 hours", ["0 4.0D+01", "1 4.1d1", "2 .5D-1"])
    np.testing.assert_array_equal(NasaAmesReader().read(path)["Ozone"].values, [40, 41, 0.05])
    path.write_text(path.read_text().replace("4.1d1", "4.1dd"))
    with pytest.raises(ReaderError, match="line 17: unexpected character b'd'"):
        NasaAmesReader().read(path)


def test_a_variable_counting_from_its_own_epoch_keeps_it(tmp_path: Path) -> None:
    from stratoflow import write_dataset
    from stratoflow.dataset import make_dataset

    t = np.datetime64("2021-06-14T10:00:00", "ns") + np.arange(2) * np.timedelta64(1, "s")
    clock = (t.astype(np.int64) // 10**9).astype(float)
    ds = make_dataset(t, {"HALO_Time": (clock, {"units": "seconds since 1970-01-01 00:00:00"})})
    back = NasaAmesReader().read(write_dataset(ds, tmp_path / "c.na", writer="nasa_ames"))
    assert back["HALO_Time"].attrs["units"] == "s since 1970-01-01 00:00:00"
    np.testing.assert_array_equal(back["HALO_Time"].values, clock)


@pytest.mark.parametrize("name", [CARIBIC.format("valid0"), EBAS, "nasa_ames_spec/2160_ndacc.na"])
def test_bare_cr_line_ends_read_like_the_original(
    tmp_path: Path, shared_data: Path, name: str
) -> None:
    """Classic Mac OS line ends (CR only): the same data, not "file ends inside the header"."""
    raw = (shared_data / name).read_bytes()
    path = tmp_path / "mac.na"
    path.write_bytes(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r"))
    ours, original = NasaAmesReader().read(path), NasaAmesReader().read(shared_data / name)
    assert NasaAmesReader.guess_can_open(path)
    np.testing.assert_array_equal(ours["time"].values, original["time"].values)
    for var in original.data_vars:
        np.testing.assert_array_equal(ours[var].values, original[var].values, err_msg=str(var))


@pytest.mark.parametrize(
    ("dates", "what"),
    [("21 06 14 2021 06 15", "data date DATE"), ("2021 06 14 21 06 15", "revision date RDATE")],
)
def test_a_two_digit_year_is_refused_not_wrapped(tmp_path: Path, dates: str, what: str) -> None:
    """Year 21 is no date a time can have: numpy wrapped DATE to 1775 without a word."""
    path = _ffi1001(tmp_path / "t.na", "seconds from 0 hours", ["0 40", "1 41"])
    path.write_text(path.read_text().replace("2021 06 14 2021 06 15", dates))
    with pytest.raises(ReaderError, match=rf"line 7: {what} has year 21: .*two-digit year"):
        NasaAmesReader().read(path)


def test_scale_and_missing_lines_wrapped_over_lines_are_read_as_nappy_reads_them(
    tmp_path: Path,
) -> None:
    """120 variables: the writer wraps VSCAL and VMISS at 80 columns (nappy reads that)."""
    import textwrap

    nv = 120
    head = ["Doe, Jane", "Org", "src", "mission", "1 1", "2021 06 14 2021 06 15", "0"]
    head += ["Time (seconds from 0 UT)", str(nv)]
    head += textwrap.wrap(" ".join(["1.0"] * (nv - 1) + ["2.0"]), 80)
    head += textwrap.wrap(" ".join(["-9999.0"] * nv), 80)
    head += [f"V{i} (ppb)" for i in range(nv)] + ["0", "0"]
    rows = [" ".join([str(t)] + [str(t * 1000 + i) for i in range(nv)]) for t in range(3)]
    rows[1] = rows[1].replace(" 1007 ", " -9999.0 ")
    path = tmp_path / "wrapped.na"
    path.write_text("\n".join([f"{len(head) + 1} 1001", *head, *rows]) + "\n")
    ds = NasaAmesReader().read(path)
    ref = _nappy(path)
    for i in (0, 7, 119):
        expected = np.asarray(ref["V"][i], float)
        expected[expected == -9999.0] = np.nan
        scale = 2.0 if i == 119 else 1.0
        np.testing.assert_array_equal(ds[f"V{i}"].values, expected * scale)
    assert np.isnan(ds["V7"].values[1])
    # a list that really is short still names its line
    path.write_text(path.read_text().replace("-9999.0\n", "\n", 1))
    short = r"line 17: expected 120 missing values VMISS.*found 119"
    with pytest.raises(ReaderError, match=short):
        NasaAmesReader().read(path)


def test_fortran_d_exponents_in_scale_and_missing_values(tmp_path: Path) -> None:
    """A Fortran writer's ``0.1D+01`` in VSCAL/VMISS, as in the data block (was refused)."""
    path = _ffi1001(tmp_path / "t.na", "seconds from 0 hours", ["0 40", "1 -9999", "2 4.2D+01"])
    path.write_text(path.read_text().replace("\n1\n1\n-9999\n", "\n1\n0.5D+00\n-0.9999D+04\n"))
    np.testing.assert_array_equal(NasaAmesReader().read(path)["Ozone"].values, [20, np.nan, 21])


def test_a_long_scale_line_one_value_short_is_named_at_its_line(tmp_path: Path) -> None:
    """Since VSCAL may wrap, a long VSCAL line one value short must not swallow VMISS."""
    nv = 40
    head = ["Doe, Jane", "Org", "src", "mission", "1 1", "2021 06 14 2021 06 15", "0"]
    head += ["Time (seconds from 0 UT)", str(nv), " ".join(["1.0"] * (nv - 1))]
    head += [" ".join(["-9999.0"] * nv), *[f"V{i} (ppb)" for i in range(nv)], "0", "0"]
    rows = [" ".join([str(t)] + ["1"] * nv) for t in range(2)]
    path = tmp_path / "short.na"
    path.write_text("\n".join([f"{len(head) + 1} 1001", *head, *rows]) + "\n")
    with pytest.raises(ReaderError, match=r"line 11: expected 40 scale factors VSCAL.*found 39"):
        NasaAmesReader().read(path)


def test_a_time_restarting_at_midnight_says_so(tmp_path: Path) -> None:
    """A flight across midnight written as time of day (86395 then 0): refused, as before,
    but the message says what is wrong instead of only "not strictly increasing"."""
    path = _ffi1001(tmp_path / "t.na", "seconds from 0 hours", ["86390 40", "86395 41", "0 42"])
    with pytest.raises(ReaderError, match=r"line 18: .*86395.0 then 0.0\): it starts again at "):
        NasaAmesReader().read(path)
    path = _ffi1001(tmp_path / "t.na", "seconds from 0 hours", ["30 40", "20 41"])
    with pytest.raises(ReaderError, match=r"\(30.0 then 20.0\)$"):
        NasaAmesReader().read(path)


def test_a_dos_end_of_file_mark_is_not_data(tmp_path: Path, shared_data: Path) -> None:
    """Old DOS software ends a file with Ctrl-Z: refused as "unexpected character b'\\x1a'"."""
    source = shared_data / CARIBIC.format("valid0")
    path = tmp_path / "dos.na"
    path.write_bytes(source.read_bytes() + b"\x1a")
    ours, original = NasaAmesReader().read(path), NasaAmesReader().read(source)
    np.testing.assert_array_equal(ours["Ozone"].values, original["Ozone"].values)


def _ebas_in(shared_data: Path, target: Path, zone: str) -> Path:
    raw = (shared_data / EBAS).read_bytes()
    line = b"Timezone:                     UTC\r\n"
    assert line in raw
    target.write_bytes(raw.replace(line, f"Timezone:                     {zone}\r\n".encode()))
    return target


@pytest.mark.parametrize(
    ("zone", "defect"),
    [
        ("CET", "zone 'CET' is not understood"),
        ("UTC+1", r"zone 'UTC\+1' is ambiguous"),
        ("+01:00", "EBAS files give times in UTC"),
    ],
)
def test_an_ebas_file_in_another_zone_than_utc_is_refused(
    shared_data: Path, tmp_path: Path, zone: str, defect: str
) -> None:
    """EBAS 'Timezone:' was ignored: a file saying CET was read as UTC, an hour off."""
    path = _ebas_in(shared_data, tmp_path / "zone.nas", zone)
    with pytest.raises(
        ReaderError, match=rf"EBAS metadata 'Timezone: {re.escape(zone)}': .*{defect}"
    ):
        NasaAmesReader().read(path)


@pytest.mark.parametrize("zone", ["GMT", "UTC+00:00", "Z"])
def test_an_ebas_file_in_utc_by_another_name_is_read(
    shared_data: Path, tmp_path: Path, zone: str
) -> None:
    ours = NasaAmesReader().read(_ebas_in(shared_data, tmp_path / "zone.nas", zone))
    np.testing.assert_array_equal(ours["time"], NasaAmesReader().read(shared_data / EBAS)["time"])


def test_metadata_keys_keep_the_providers_spelling(shared_data: Path) -> None:
    """Keys of 'Key: value' comments came back lower-cased and mangled ('Station code' as
    'station_code', 'Orig. time res.' as 'orig_time_res'), in global and variable attributes."""
    ds = NasaAmesReader().read(shared_data / EBAS)
    header = parse_nasa_ames(shared_data / EBAS).header
    written = [line.partition(":")[0].strip() for line in header.ncom if ":" in line]
    assert {"Data definition", "Station code", "Orig. time res.", "Station GAW-ID"} <= set(written)
    for key in written:
        assert f"nasa_ames_{key}" in ds.attrs, key
    assert ds.attrs["nasa_ames_Station code"] == "CV0001G"
    assert ds.attrs["nasa_ames_Orig. time res."] == "4s"
    assert not [k for k in ds.attrs if k.startswith("nasa_ames_") and k == k.lower()]
    assert (ds.attrs["station"], ds.attrs["platform"]) == ("CV0001G", "CV0001S")
    co = ds["carbon_monoxide"]
    assert co.attrs["ebas_Measurement uncertainty"] == "4.0 nmol/mol"
    caribic = NasaAmesReader().read(shared_data / CARIBIC.format("valid0"))
    assert caribic.attrs["nasa_ames_FlightNo"] == "591"
    assert caribic.attrs["nasa_ames_DepartureAirport"] == "Cape Town"
    assert caribic.attrs["flight"] == "591"


def test_metadata_keys_are_looked_up_however_spelt(shared_data: Path, tmp_path: Path) -> None:
    raw = (shared_data / EBAS).read_bytes()
    line = b"Timezone:                     UTC\r\n"
    path = tmp_path / "upper.nas"
    path.write_bytes(
        raw.replace(line, b"TIMEZONE:   CET\r\n").replace(b"Station code:", b"STATION CODE:")
    )
    with pytest.raises(ReaderError, match="EBAS metadata 'Timezone: CET'"):
        NasaAmesReader().read(path)
    path.write_bytes(raw.replace(b"Station code:", b"STATION CODE:"))
    ds = NasaAmesReader().read(path)
    assert ds.attrs["nasa_ames_STATION CODE"] == ds.attrs["station"] == "CV0001G"


def test_a_key_given_twice_keeps_both_values(shared_data: Path, tmp_path: Path) -> None:
    """A second 'Comment:' line was dropped: the first value of a key won."""
    raw = (shared_data / EBAS).read_bytes()
    line = b"Comment:                      Sample not dried\r\n"
    assert line in raw
    path = tmp_path / "twice.nas"
    extra = b"Comment:                      Inlet heated\r\n"
    path.write_bytes(
        raw.replace(b"72 1001", b"73 1001", 1)
        .replace(b"\r\n52\r\n", b"\r\n53\r\n", 1)
        .replace(line, line + extra)
    )
    assert (
        NasaAmesReader().read(path).attrs["nasa_ames_Comment"] == "Sample not dried\nInlet heated"
    )


def test_attribute_names_read_back_as_written(tmp_path: Path) -> None:
    """A stratoflow NASA Ames file gave 'Conventions' back as 'conventions'."""
    attrs = {"Conventions": "CF-1.8", "departure_UTC_time": "2019-01-05T10:37:24Z", "PI_name": "X"}
    ds = make_dataset(
        np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:04"], dtype="datetime64[ns]"),
        {"O3": (np.array([40.1, 40.3]), {"units": "1e-9", "long_name": "ozone"})},
        attrs=attrs,
    )
    back = NasaAmesReader().read(NasaAmesWriter().write(ds, tmp_path / "attrs.na"))
    assert {k: back.attrs.get(k) for k in attrs} == attrs


@pytest.mark.parametrize("name", [CARIBIC.format("valid0"), EBAS])
def test_a_file_written_from_caribic_or_ebas_reads_back_as_written(
    shared_data: Path, tmp_path: Path, name: str
) -> None:
    """The source's metadata in the written file ('nasa_ames_Data definition: EBAS_1.1', the
    CARIBIC special comments) made the reader take it for an EBAS or CARIBIC file: variables
    were renamed after their long names and attributes were lost."""
    ds = NasaAmesReader().read(shared_data / name)
    back = NasaAmesReader().read(NasaAmesWriter().write(ds, tmp_path / "again.na"))
    assert back.attrs["file_convention"] == "stratoflow"
    assert set(back.data_vars) == set(ds.data_vars)
    kept = {k: v for k, v in ds.attrs.items() if k.startswith("nasa_ames_") and "\t" not in v}
    assert {k: back.attrs.get(k) for k in kept} == kept


def test_a_value_holding_a_hash_is_kept_whole(shared_data: Path, tmp_path: Path) -> None:
    """Every 'Key: value' was cut at ' # ' as if a comment followed: 'Instrument # 2'
    came back as 'Instrument'. Only CARIBIC's key labels explain themselves after ' # '."""
    raw = (shared_data / EBAS).read_bytes()
    line = b"Comment:                      Sample not dried\r\n"
    path = tmp_path / "hash.nas"
    path.write_bytes(raw.replace(line, b"Comment:      Instrument # 2, see ref. # 17 \r\n"))
    assert NasaAmesReader().read(path).attrs["nasa_ames_Comment"] == "Instrument # 2, see ref. # 17"
    caribic = NasaAmesReader().read(shared_data / CARIBIC.format("valid0"))
    assert caribic.attrs["nasa_ames_FlightRoute"] == "CPT MUC"
    assert caribic.attrs["nasa_ames_FileFormatVersionInfo"] == "CARIBIC_NAmes_v02 standard"
    assert "CPT MUC # IATA code" in caribic.attrs["special_comments"]


def test_a_written_value_holding_a_hash_reads_back_whole(tmp_path: Path) -> None:
    attrs = {"references": "Zahn et al. # 2012, AMT 5", "comment": "# not a comment"}
    ds = make_dataset(
        np.array(["2024-01-01T00:00:00"], dtype="datetime64[ns]"),
        {"O3": (np.array([40.1]), {"units": "1e-9", "long_name": "ozone"})},
        attrs=attrs,
    )
    back = NasaAmesReader().read(NasaAmesWriter().write(ds, tmp_path / "hash.na"))
    assert {k: back.attrs.get(k) for k in attrs} == attrs


def test_a_quoted_ebas_tag_value_is_read_whole(shared_data: Path, tmp_path: Path) -> None:
    """'Tag="a, b"' in an EBAS variable name was cut at the comma (the rest became a tag of
    its own) and a quoted value kept its quotes."""
    co = NasaAmesReader().read(shared_data / EBAS)["carbon_monoxide"]
    expl = "sqrt of bkgrd/sig/sens. Data accuracy = +/-2 nmol/mol."
    assert co.attrs["ebas_Measurement uncertainty expl."] == expl
    raw = (shared_data / EBAS).read_bytes()
    old = b"carbon_monoxide, nmol/mol, Statistics=maximum\r\n"
    new = b'carbon_monoxide, nmol/mol, Statistics=maximum, Comment="inlet A, then ""B"""\r\n'
    path = tmp_path / "quoted.nas"
    path.write_bytes(raw.replace(old, new))
    maximum = NasaAmesReader().read(path)["carbon_monoxide_maximum"]
    tags = {k: v for k, v in maximum.attrs.items() if k.startswith("ebas_")}
    assert tags == {"ebas_Statistics": "maximum", "ebas_Comment": 'inlet A, then "B"'}


def test_a_caribic_key_with_its_value_on_the_next_line_keeps_it(shared_data: Path) -> None:
    """'Info on measurement uncertainty:' followed by the sentence was read as empty."""
    ds = NasaAmesReader().read(shared_data / CARIBIC.format("valid0"))
    assert ds.attrs["nasa_ames_Info on measurement uncertainty"].startswith(
        "Uncertainty is estimated to be at least 1 ppb OR 2.0%"
    )
    assert ds.attrs["nasa_ames_Info on adjustments of the independent variable"] == (
        "Measurement time-stamp is synchronized to CARIBIC master PC time."
    )
    assert ds.attrs["nasa_ames_FAIRO eval software version"] == "2019.11.21a"


def test_our_own_attributes_read_back_with_their_types(tmp_path: Path) -> None:
    """NASA Ames comments are text: numbers our writer wrote came back as strings ('3',
    'nan') and lists were not written at all. They read back as the values they were;
    text stays text, even where it looks like a number, and other readers still read it."""
    from stratoflow import write_dataset

    t = np.datetime64("2021-06-14T10:00:00", "ns") + np.arange(2) * np.timedelta64(1, "s")
    typed = {
        "count": 3,
        "ratio": 1.5,
        "levels": [1.0, 2.5, 3],
        "bins": np.array([1, 2, 300], dtype=np.int32),
        "scale": np.float32(0.1),
        "offset": np.float64(-2.25),
        "gap": float("nan"),
        "ceiling": float("-inf"),
        "bounds": np.array([np.nan, np.inf, 1e-300]),
        "empty": [],
        "calibrated": True,
    }
    text = {"revision_label": "1.5", "code": "007", "history": "read\nwritten"}
    ds = make_dataset(t, {"O3": (np.array([40.0, 41.0]), {"units": "1e-9"})})
    ds.attrs.update(typed | text)
    path = write_dataset(ds, tmp_path / "typed.na", writer="nasa_ames")
    back = NasaAmesReader().read(path).attrs
    for key, value in typed.items():
        assert type(back[key]) is type(value), key
        np.testing.assert_array_equal(back[key], value, err_msg=key)
        assert np.asarray(back[key]).dtype == np.asarray(value).dtype, key
    assert {k: back[k] for k in text} == text | {"history": "read | written"}
    assert "TypedAttributes" not in back
    ref = nappy.openNAFile(str(path))
    ref.readData()
    assert "count: 3" in ref.getNormalComments()


def test_a_typed_attributes_line_in_a_provider_file_changes_nothing(
    tmp_path: Path, shared_data: Path
) -> None:
    """Only a file stratoflow wrote has its values decoded: a provider's values stay the
    text it wrote, even under a line that looks like ours."""
    raw = (shared_data / CARIBIC.format("valid0")).read_bytes()
    lines = raw.split(b"\r\n")
    assert lines[0] == b"37 1001" and lines[22] == b"14"
    lines[0], lines[22] = b"38 1001", b"15"
    lines.insert(23, b"TypedAttributes:\tFlightNo")
    path = tmp_path / "caribic.txt"
    path.write_bytes(b"\r\n".join(lines))
    ds = NasaAmesReader().read(path)
    assert ds.attrs["nasa_ames_FlightNo"] == "591"
    assert ds.attrs["flight"] == "591"


def test_a_provider_file_rewritten_by_us_keeps_its_text_values(
    tmp_path: Path, shared_data: Path
) -> None:
    """An EBAS file's metadata (numbers among them, 'Data level: 2') are text when read;
    written by us and read back, they are the same text, not numbers."""
    from stratoflow import write_dataset

    source = NasaAmesReader().read(shared_data / EBAS)
    provided = {k: v for k, v in source.attrs.items() if k.startswith("nasa_ames_")}
    assert provided["nasa_ames_Data level"] == "2"
    back = NasaAmesReader().read(write_dataset(source, tmp_path / "ebas.na", writer="nasa_ames"))
    assert {k: back.attrs[k] for k in provided} == provided


def test_a_damaged_typed_attribute_is_named(tmp_path: Path) -> None:
    from stratoflow import write_dataset

    t = np.datetime64("2021-06-14T10:00:00", "ns") + np.arange(2) * np.timedelta64(1, "s")
    ds = make_dataset(t, {"O3": (np.array([40.0, 41.0]), {"units": "1e-9"})})
    ds.attrs["bins"] = np.array([1, 2], dtype=np.int32)
    path = write_dataset(ds, tmp_path / "typed.na", writer="nasa_ames")
    path.write_text(path.read_text().replace('"<i4"', '"<q9"'))
    with pytest.raises(ReaderError, match=r"typed\.na: attribute 'bins' named in TypedAttributes"):
        NasaAmesReader().read(path)
