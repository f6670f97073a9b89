"""ICARTT reader: real files against the icartt library and the ORNL DAAC netCDF conversion."""

from __future__ import annotations

from pathlib import Path

import icartt
import numpy as np
import pytest
import xarray as xr

from stratoflow.dataset import flags_of
from stratoflow.errors import ReaderError
from stratoflow.flags import Flag
from stratoflow.readers import IcarttReader
from stratoflow.readers.text_table import TrailingGarbageWarning

MERGE = "icartt/ACTAMERICA-mrg05-b200_merge_20170121_R0.ict"
MERGE_L2 = "icartt/ACTAMERICA-mrg05-b200_merge_20170308_R0_L2.ict"
FLAGS = "icartt/ACTAMERICA-flag-metadata_B200_20170308_R0_L2.ict"
# Variables the ORNL DAAC renamed in its netCDF conversion.
RENAMED = {
    "PotentialTemp": "PotentialTemp_Nav",
    "CH4C13_PFP": "CH4C13_MoleFraction_PFP",
    "CO2C14_PFP": "CO2C14_MoleFraction_PFP",
    "CLHF_MoleFraction_PFP": "CHLF_MoleFraction_PFP",
    **{
        f"H2O_{n}": f"H2O_{n}_Nav"
        for n in ("MixingRatio", "VaporPressure", "SatVaporPressureWater",
                  "SatVaporPressureIce", "RelativeHumidity")
    },
}  # fmt: skip


@pytest.mark.parametrize("name", [MERGE, MERGE_L2])
def test_values_agree_with_icartt_library(shared_data: Path, name: str) -> None:
    path = shared_data / name
    ours = IcarttReader().read(path)
    ref = icartt.Dataset(str(path))
    np.testing.assert_array_equal(ours["time"].values, np.asarray(ref.times))
    for var_name, var in ref.variables.items():
        if var_name == ref.independentVariable.shortname:
            continue
        expected = np.asarray(ref.data[var_name], dtype=float) * float(var.scale)
        expected[expected == float(var.miss)] = np.nan
        np.testing.assert_array_equal(ours[var_name].values, expected, err_msg=var_name)
        assert ours[var_name].attrs["units_original"] == var.units


def test_same_values_as_ornl_netcdf(shared_data: Path) -> None:
    ours = IcarttReader(time_point="mid").read(shared_data / MERGE)
    with xr.open_dataset(shared_data / MERGE.replace(".ict", ".nc")) as nc:
        np.testing.assert_array_equal(ours["time"].values, nc["time"].values)
        compared = 0
        for name in ours.data_vars:
            target = RENAMED.get(str(name), str(name))
            if target not in nc.variables or nc[target].dims != ("time",):
                continue
            expected = nc[target].values.astype(float)
            if nc[target].attrs.get("units") == "m" and ours[name].attrs["units"] == "km":
                expected = expected / 1000.0
            np.testing.assert_allclose(ours[name].values, expected, rtol=1e-12, err_msg=target)
            compared += 1
    assert compared == 95  # all but INDEX and FLIGHT (a string Flight_ID in the netCDF)


def test_header_metadata_and_flags(shared_data: Path) -> None:
    ds = IcarttReader().read(shared_data / MERGE)
    assert ds.attrs["pi"] == "Shook, Michael"
    assert ds.attrs["mission"] == "NASA ACT-AMERICA 2017"
    assert ds.attrs["platform"] == "NASA B200 Aircraft"
    # keywords as the file spells them, the capitals of the ICARTT standard
    assert ds.attrs["icartt_LLOD_FLAG"] == "-888888"
    assert ds.attrs["icartt_PI_CONTACT_INFO"] == "michael.shook@nasa.gov,gao.chen@nasa.gov"
    assert "Units have been standardized" in ds.attrs["icartt_OTHER_COMMENTS"]
    assert "icartt_pi_contact_info" not in ds.attrs
    assert ds["O3_MixingRatio"].attrs["units"] == "1e-9"
    # ICARTT has no validity flags: none are made up (the IAGOS rule reads "not validated")
    assert not [n for n in ds.data_vars if str(n).endswith("_flag")]
    ias = flags_of(ds, "IAS")
    assert (ias[np.isnan(ds["IAS"].values)] == Flag.MISSING).all()
    assert (ias[~np.isnan(ds["IAS"].values)] == Flag.NOT_VALIDATED).all()


def test_nul_terminated_flag_file_warns(shared_data: Path) -> None:
    with pytest.warns(TrailingGarbageWarning, match="NUL bytes"):
        ds = IcarttReader().read(shared_data / FLAGS)
    assert ds.sizes["time"] == 1171
    assert ds["Stop_UTC"].attrs["units"] == "seconds since 2017-03-08 00:00:00"
    mid = IcarttReader(time_point="mid", trailing_garbage="warn")
    with pytest.warns(TrailingGarbageWarning):
        ds_mid = mid.read(shared_data / FLAGS)
    delta = (ds_mid["time"].values - ds["time"].values).astype("timedelta64[ms]")
    assert (delta == np.timedelta64(2500, "ms")).all()


def test_nul_terminated_flag_file_can_be_refused(shared_data: Path) -> None:
    with pytest.raises(ReaderError, match="line 1222: 1 NUL bytes after the last data record"):
        IcarttReader(trailing_garbage="error").read(shared_data / FLAGS)


def _edit(source: Path, target: Path, old: bytes, new: bytes) -> Path:
    raw = source.read_bytes()
    assert old in raw
    target.write_bytes(raw.replace(old, new, 1))
    return target


def test_llod_markers_are_limited_with_ancillary(shared_data: Path, tmp_path: Path) -> None:
    raw = (shared_data / MERGE).read_bytes()
    lines = raw.split(b"\r\n")
    column = [c.strip() for c in lines[135].split(b",")].index(b"O3_MixingRatio")
    fields = lines[137].split(b",")  # the 2nd record: below the detection limit
    fields[column] = b" -888888"
    lines[137] = b",".join(fields)
    path = tmp_path / "lod.ict"
    path.write_bytes(b"\r\n".join(lines))
    ds = IcarttReader().read(path)
    o3 = ds["O3_MixingRatio"]
    assert np.isnan(o3.values[1])
    assert ds["O3_MixingRatio_flag"].values[1] == Flag.LIMITED
    assert ds["O3_MixingRatio_lod"].values.tolist()[:3] == [0, 1, 0]
    assert "O3_MixingRatio_lod" in o3.attrs["ancillary_variables"].split()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"136, 1001", b"135, 1001", "wrong NLHEAD"),
        (b"\r\n61217,   21,", b"\r\n61217,   abc,", "line 139: unexpected character b'b'"),
        (b"\r\n61217,   21,", b"\r\n61217,", "line 139: expected 98 values per data record"),
        (b" UTC, JDAY, INDEX,", b" UTC, JDAY, INDX,", "column name 'INDX' does not match"),
    ],
)
def test_defects_are_errors(
    shared_data: Path, tmp_path: Path, old: bytes, new: bytes, message: str
) -> None:
    path = _edit(shared_data / MERGE, tmp_path / "bad.ict", old, new)
    with pytest.raises(ReaderError, match=message):
        IcarttReader().read(path)


def test_truncated_file_is_an_error(shared_data: Path, tmp_path: Path) -> None:
    raw = (shared_data / MERGE).read_bytes()
    path = tmp_path / "cut.ict"
    path.write_bytes(raw[: len(raw) - 300])
    with pytest.raises(ReaderError, match="truncated file"):
        IcarttReader().read(path)


def test_a_data_column_named_like_a_time_column_stays_data(tmp_path: Path) -> None:
    """Stop_UTC-style names are time offsets only in seconds (found by hypothesis: 'stoputC')."""
    from stratoflow import open_dataset, write_dataset
    from stratoflow.dataset import make_dataset

    t = np.datetime64("2017-01-21T17:00:00", "ns") + np.arange(5) * np.timedelta64(5, "s")
    ds = make_dataset(
        t,
        {
            "StopUTC": (np.arange(5.0), {"units": "ppb", "long_name": "odd name"}),
            "O3": (np.arange(5.0) + 40, {"units": "ppb", "long_name": "ozone"}),
        },
    )
    path = write_dataset(ds, tmp_path / "odd_20170121_R0.ict", writer="icartt")
    back = open_dataset(path)
    assert back["StopUTC"].attrs["units"] == back["O3"].attrs["units"] == "1e-9"  # ppb
    np.testing.assert_array_equal(back["StopUTC"].values, np.arange(5.0))


def test_written_files_are_ascii_whatever_the_source_spelled(tmp_path: Path) -> None:
    """ICARTT is ASCII: a source's 'Özone', 'µg m-3' and 'Zürich' are transliterated, the
    short name made letters, digits and underscores; values and flags are unchanged."""
    import warnings

    import icartt

    from stratoflow.dataset import make_dataset
    from stratoflow.writers import IcarttWriter

    t = np.datetime64("2024-01-01T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    ds = make_dataset(
        t,
        {"Özone (UV)": (np.array([1.5, np.nan, 3.0]), {"units": "µg m-3", "long_name": "Özone"})},
        flags={"Özone (UV)": [0, 7, 2]},
        attrs={"pi": "Müller, Jörg", "organisation": "ETH Zürich — IAC"},
    )
    path = IcarttWriter().write(ds, tmp_path / "x.ict")
    raw = path.read_bytes()
    assert raw.isascii()
    assert b"Muller, Jorg" in raw and b"ETH Zurich - IAC" in raw and b"ug m-3" in raw
    back = IcarttReader().read(path)
    np.testing.assert_array_equal(back["Ozone_UV"].values, ds["Özone (UV)"].values)
    np.testing.assert_array_equal(back["Ozone_UV_flag"].values, ds["Özone (UV)_flag"].values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = icartt.Dataset(str(path))
    np.testing.assert_array_equal(np.asarray(ref.data["Ozone_UV"], dtype=float)[[0, 2]], [1.5, 3.0])


def test_a_zero_scale_factor_is_refused(tmp_path: Path) -> None:
    from stratoflow import write_dataset
    from stratoflow.dataset import make_dataset

    t = np.datetime64("2021-06-14T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    ds = make_dataset(t, {"O3": (np.array([40.0, 41.0, 42.0]), {"units": "1e-9"})})
    path = write_dataset(ds, tmp_path / "TEST-O3_B200_20210614_R0.ict", writer="icartt")
    lines = path.read_text().splitlines()
    at = lines.index("1") + 1  # NV = 1, then the scale factors
    lines[at] = "0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReaderError, match=rf"line {at + 1}: scale factor VSCAL\(1\) is 0"):
        IcarttReader().read(path)


def test_rewriting_keeps_the_source_keywords_and_the_flight(
    shared_data: Path, tmp_path: Path
) -> None:
    """Read -> write -> read: LOCATION, UNCERTAINTY, revision comment... are the source's,
    not N/A; a flight id survives in OTHER_COMMENTS; nothing is repeated on a second pass."""
    from stratoflow import write_dataset

    source = IcarttReader().read(shared_data / MERGE)
    source.attrs["flight_id"] = "2017012117000101"
    once = IcarttReader().read(
        write_dataset(source, tmp_path / "ACT-once_B200_20170121_R0.ict", writer="icartt")
    )
    twice_path = write_dataset(once, tmp_path / "ACT-twice_B200_20170121_R0.ict", writer="icartt")
    twice = IcarttReader().read(twice_path)
    for key in ("icartt_LOCATION", "icartt_UNCERTAINTY", "icartt_DM_CONTACT_INFO", "icartt_R0"):
        assert source.attrs[key] and source.attrs[key] != "N/A"
        assert once.attrs[key] == twice.attrs[key] == source.attrs[key]
    assert once.attrs["flight"] == twice.attrs["flight"] == "2017012117000101"
    text = twice_path.read_text()
    assert "\nREVISION: R0\n" in text
    source.attrs["revision"] = "3.1.0"  # a product version, not an ICARTT revision
    product = write_dataset(source, tmp_path / "ACT-prod_B200_20170121_R0.ict", writer="icartt")
    assert "\nREVISION: R0\n" in product.read_text()
    assert text.count("flags are IAGOS validity codes") == 1
    assert text.count("written by stratoflow from") == 1


def test_rewriting_gives_back_every_keyword_of_the_source(
    shared_data: Path, tmp_path: Path
) -> None:
    """A file written from a read file reads back with the source's keyword attributes,
    spelt as the source spells them; only what the writer decides itself differs: DATA_INFO's
    flag note, OTHER_COMMENTS' provenance, LOD markers sized to the data, Start_UTC."""
    from stratoflow import write_dataset

    source = IcarttReader().read(shared_data / MERGE)
    again = IcarttReader().read(
        write_dataset(source, tmp_path / "ACT-again_B200_20170121_R0.ict", writer="icartt")
    )
    ours = {"DATA_INFO", "OTHER_COMMENTS", "LLOD_FLAG", "ULOD_FLAG", "independent_variable"}
    ours = {f"icartt_{k}" for k in ours}
    kept = {k: v for k, v in source.attrs.items() if k.startswith("icartt_") and k not in ours}
    assert "icartt_PROJECT_INFO" in kept and "icartt_R0" in kept
    assert {k: again.attrs.get(k) for k in kept} == {k: v.strip() for k, v in kept.items()}


def test_lower_case_keyword_attributes_of_an_older_export_are_written(tmp_path: Path) -> None:
    """A Dataset from an older stratoflow netCDF export names the keywords lower-case
    (icartt_pi_contact_info): the writer writes them under the standard's capitals, and a
    capital spelling wins over a lower-case one."""
    from stratoflow import write_dataset
    from stratoflow.dataset import make_dataset

    t = np.datetime64("2021-06-14T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    ds = make_dataset(t, {"O3": (np.array([40.0, 41.0, 42.0]), {"units": "1e-9"})})
    ds.attrs.update(
        icartt_pi_contact_info="jane@example.org",
        icartt_location="Hamburg",
        icartt_uncertainty="5 %",
        icartt_r1="second release",
        revision="R1",
        icartt_DM_CONTACT_INFO="dm@example.org",
        icartt_dm_contact_info="stale@example.org",
    )
    path = write_dataset(ds, tmp_path / "TEST-O3_B200_20210614_R1.ict", writer="icartt")
    lines = path.read_text().splitlines()
    for line in (
        "PI_CONTACT_INFO: jane@example.org",
        "LOCATION: Hamburg",
        "UNCERTAINTY: 5 %",
        "DM_CONTACT_INFO: dm@example.org",
        "REVISION: R1",
        "R1: second release",
    ):
        assert line in lines
    back = IcarttReader().read(path)
    assert back.attrs["icartt_PI_CONTACT_INFO"] == "jane@example.org"
    assert back.attrs["icartt_R1"] == "second release"
    assert icartt.Dataset(str(path)).normalComments.keywords["LOCATION"].data == ["Hamburg"]


def _with_limits(shared_data: Path, target: Path) -> Path:
    """The real merge with per-variable LLOD/ULOD lists and a marker of each kind."""
    lines = (shared_data / MERGE).read_bytes().split(b"\r\n")
    names = [c.strip().decode() for c in lines[135].split(b",")][1:]
    o3, co2 = names.index("O3_MixingRatio"), names.index("CO2_MixingRatio_PICARRO")
    llod = [b"1.5" if i == o3 else b"N/A" for i in range(len(names))]
    ulod = [b"500" if i == co2 else b"N/A" for i in range(len(names))]
    lines[lines.index(b"LLOD_VALUE: N/A")] = b"LLOD_VALUE: " + b", ".join(llod)
    lines[lines.index(b"ULOD_VALUE: N/A")] = b"ULOD_VALUE: " + b", ".join(ulod)
    for row, column, marker in ((137, o3 + 1, b" -888888"), (138, co2 + 1, b" -777777")):
        fields = lines[row].split(b",")
        fields[column] = marker
        lines[row] = b",".join(fields)
    target.write_bytes(b"\r\n".join(lines))
    return target


def test_detection_limits_survive_a_round_trip(shared_data: Path, tmp_path: Path) -> None:
    """Per-variable LLOD/ULOD lists are written for the columns written (flags added, some
    variables left out), as markers and limits that our reader and icartt read back."""
    from stratoflow.writers import IcarttWriter

    source = IcarttReader().read(_with_limits(shared_data, tmp_path / "lod.ict"))
    o3, co2 = source["O3_MixingRatio"], source["CO2_MixingRatio_PICARRO"]
    assert o3.attrs["llod_value"] == 1.5 and o3.values[1] == 1.5
    assert co2.attrs["ulod_value"] == 500 and co2.values[2] == 500
    assert "O3_MixingRatio_flag" in source and "JDAY_flag" not in source  # only where marked
    subset = source.drop_vars(["JDAY", "INDEX"])
    path = IcarttWriter().write(subset, tmp_path / "ACT-lod_B200_20170121_R0.ict")
    back = IcarttReader().read(path)
    for name in subset.data_vars:
        np.testing.assert_array_equal(back[name].values, subset[name].values, err_msg=str(name))
    for name in ("O3_MixingRatio", "CO2_MixingRatio_PICARRO"):
        assert back[name].attrs.get("llod_value") == source[name].attrs.get("llod_value")
        assert back[name].attrs.get("ulod_value") == source[name].attrs.get("ulod_value")
        assert f"{name}_lod" in back[name].attrs["ancillary_variables"].split()
    assert back["O3_MixingRatio_lod"].values.tolist()[:3] == [0, 1, 0]
    assert back["CO2_MixingRatio_PICARRO_lod"].values.tolist()[:3] == [0, 0, 2]
    assert "O3_MixingRatio_lod" not in path.read_text().splitlines()[-len(back["time"]) - 1]
    ref = icartt.Dataset(str(path))  # the reference library accepts the header
    assert len(ref.variables) == len(back.data_vars) - 2 + 1  # no _lod columns; + Start_UTC


def test_bare_cr_line_ends_read_like_the_original(shared_data: Path, tmp_path: Path) -> None:
    """Classic Mac OS line ends (CR only) are read, not reported as a truncated header."""
    raw = (shared_data / MERGE).read_bytes()
    path = tmp_path / "mac.ict"
    path.write_bytes(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r"))
    ours, original = IcarttReader().read(path), IcarttReader().read(shared_data / MERGE)
    np.testing.assert_array_equal(ours["time"].values, original["time"].values)
    for var in original.data_vars:
        np.testing.assert_array_equal(ours[var].values, original[var].values, err_msg=str(var))


def _hours(raw: bytes) -> bytes:
    """The merge with its UTC column written in hours (17.0 for 61200 s), as some files do."""
    head, _, data = raw.partition(b"\r\n61")
    lines = (b"61" + data).split(b"\r\n")
    out = []
    for line in lines:
        seconds, sep, rest = line.partition(b",")
        out.append(f"{float(seconds) / 3600:.8f}".encode() + sep + rest if sep else line)
    return head.replace(b"\r\nUTC,s\r\n", b"\r\nUTC,hours\r\n") + b"\r\n" + b"\r\n".join(out)


def test_the_units_of_the_independent_variable_are_applied(
    shared_data: Path, tmp_path: Path
) -> None:
    """Time in hours was read as seconds (17.0 h became 00:00:17): now as it says; a
    non-time independent variable is refused instead of read as seconds."""
    original = IcarttReader().read(shared_data / MERGE)
    path = tmp_path / "hours.ict"
    path.write_bytes(_hours((shared_data / MERGE).read_bytes()))
    ours = IcarttReader().read(path)
    offset = np.abs(ours["time"].values - original["time"].values)
    assert offset.max() < np.timedelta64(1, "ms")
    np.testing.assert_array_equal(ours["O3_MixingRatio"].values, original["O3_MixingRatio"].values)
    altitude = _edit(shared_data / MERGE, tmp_path / "alt.ict", b"\r\nUTC,s\r\n", b"\r\nUTC,m\r\n")
    with pytest.raises(ReaderError, match=r"line 9: the independent variable 'UTC' is in 'm'"):
        IcarttReader().read(altitude)
    days = _edit(shared_data / MERGE, tmp_path / "d.ict", b"\r\nUTC,s\r\n", b"\r\nUTC,days\r\n")
    with pytest.raises(ReaderError, match=r"line 9: .*starts at 61207, not within the data date"):
        IcarttReader().read(days)


@pytest.mark.parametrize(
    "units",
    [
        b"seconds since 2017-01-21 01:00:00 +01:00",
        b"seconds since 2017-01-20T19:00:00-0500",
        b"Seconds SINCE 2017-01-21 00:00:00",
    ],
)
def test_a_reference_with_an_iso_offset_is_read_in_utc(
    shared_data: Path, tmp_path: Path, units: bytes
) -> None:
    """'+01:00' was refused as local time and 'SINCE' was not seen (times from 0 UTC of
    DATE by chance here; any other reference would have been ignored)."""
    original = IcarttReader().read(shared_data / MERGE)
    new = b"\r\nUTC," + units + b"\r\n"
    path = _edit(shared_data / MERGE, tmp_path / "z.ict", b"\r\nUTC,s\r\n", new)
    np.testing.assert_array_equal(IcarttReader().read(path)["time"], original["time"])


def test_a_reference_in_an_ambiguous_zone_is_refused(shared_data: Path, tmp_path: Path) -> None:
    units = b"seconds since 2017-01-21 01:00:00 UTC+1\r\n"
    path = _edit(shared_data / MERGE, tmp_path / "z.ict", b"\r\nUTC,s\r\n", b"\r\nUTC," + units)
    with pytest.raises(ReaderError, match=r"zone 'UTC\+1' is ambiguous") as info:
        IcarttReader().read(path)
    assert str(info.value).startswith(f"{path}: line 9: the independent variable")


@pytest.mark.parametrize(
    ("start", "stop"), [("Time_Start", "Time_Stop"), ("UTC_Start", "UTC_Stop")]
)
def test_mid_time_from_a_v2_stop_variable(
    shared_data: Path, tmp_path: Path, start: str, stop: str
) -> None:
    """time_point='mid' took only Stop_UTC: with ICARTT 2.0's Time_Stop it fell back to
    start + DX/2 (wrong where DX is not the averaging interval) or refused the file."""
    raw = (shared_data / FLAGS).read_bytes().rstrip(b"\x00\r\n") + b"\r\n"  # no NUL line
    (tmp_path / "v1.ict").write_bytes(raw)
    original = IcarttReader(time_point="mid").read(tmp_path / "v1.ict")  # from its Mid_UTC
    for old, new in ((b"Start_UTC", start.encode()), (b"Stop_UTC", stop.encode()),
                     (b"Mid_UTC", b"Centre_T")):  # fmt: skip
        raw = raw.replace(old, new)
    path = tmp_path / "v2.ict"
    path.write_bytes(raw)
    ours = IcarttReader(time_point="mid").read(path)
    np.testing.assert_array_equal(ours["time"].values, original["time"].values)
    assert ours[stop].attrs["units"] == "seconds since 2017-03-08 00:00:00"


def test_a_keyword_given_twice_keeps_both_values(shared_data: Path, tmp_path: Path) -> None:
    """A second OTHER_COMMENTS line replaced the first: its text was lost."""
    raw = (shared_data / FLAGS).read_bytes()
    first = b"\nDATA_INFO: N/A\n"
    assert first in raw
    raw = raw.replace(first, b"\nDATA_INFO: N/A\nOTHER_COMMENTS: written first\n", 1)
    raw = raw.replace(b"50, 1001", b"51, 1001", 1).replace(b"\n25\n", b"\n26\n", 1)
    path = tmp_path / "twice.ict"
    path.write_bytes(raw)
    with pytest.warns(TrailingGarbageWarning):
        ds = IcarttReader().read(path)
    text = ds.attrs["icartt_OTHER_COMMENTS"]
    assert text.startswith("written first\nThese flags were created") and "Flight Comments" in text


def test_a_dos_end_of_file_mark_is_not_data(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "dos.ict"
    path.write_bytes((shared_data / MERGE).read_bytes() + b"\x1a")
    ours, original = IcarttReader().read(path), IcarttReader().read(shared_data / MERGE)
    np.testing.assert_array_equal(ours["O3_MixingRatio"].values, original["O3_MixingRatio"].values)


def test_the_files_of_one_flight_name_one_flight(shared_data: Path, tmp_path: Path) -> None:
    """The merge and the flag file of leg 2 on 2017-03-08 differ in data ID and location, so
    the flight, named after the whole file name, was a different one for each. It is now
    the header's PLATFORM (its canonical key) and DATE with the time, launch and volume of
    the ICARTT name."""
    from stratoflow.readers.icartt import flight_of

    with pytest.warns(TrailingGarbageWarning):
        flags = IcarttReader().read(shared_data / FLAGS)
    merge = IcarttReader().read(shared_data / MERGE_L2)
    assert flags.attrs["flight"] == merge.attrs["flight"] == "nasa-b-200-aircraft_20170308_L2"
    assert IcarttReader().read(shared_data / MERGE).attrs["flight"] == (
        "nasa-b-200-aircraft_20170121"
    )
    # another take-off, start time or volume is another flight; a revision or comment is not
    platform = "NASA B200 Aircraft"
    assert flight_of("X-O3_B200_20170308_R1_L2_final.ict", platform, "20170308") == (
        "nasa-b-200-aircraft_20170308_L2"
    )
    assert flight_of("X-O3_B200_20170308_RA_L1.ict", platform, "20170308").endswith("_L1")
    assert flight_of("X-O3_B200_2017030814_R0.ict", platform, "20170308").endswith("_2017030814")
    assert flight_of("X-O3_B200_20170308_R0_V2.ict", platform, "20170308").endswith("_V2")
    # not guessed: a name outside the ICARTT rule, another date than the header's, no platform
    for name, where, day in (
        ("leg2_flags.ict", platform, "20170308"),
        ("X-O3_B200_20170309_R0.ict", platform, "20170308"),
        ("X-O3_B200_20170308_R0.ict", " ", "20170308"),
    ):
        assert flight_of(name, where, day) is None, name
    renamed = tmp_path / "leg2-flags.ict"
    renamed.write_bytes((shared_data / MERGE_L2).read_bytes())
    assert "flight" not in IcarttReader().read(renamed).attrs
