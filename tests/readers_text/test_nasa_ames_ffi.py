"""NASA Ames FFIs beyond 1001: each spec file read (values equal nappy's) or refused precisely.

nappy is the reference: it reads every spec file into nested lists (X, V, A); where our reader
refuses a file (not a time series), the refusal is checked to name the file, the FFI and the
reason, and our header parser is still checked against nappy's. Hand-written 1010/1020/2160
files round-trip, and truncated or corrupted variants give a ReaderError naming the file.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import nappy
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratoflow.cli import main
from stratoflow.dataset import flags_of
from stratoflow.errors import ReaderError
from stratoflow.readers import NasaAmesReader
from stratoflow.readers.nasa_ames import locate_header
from stratoflow.readers.nasa_ames_ffi import parse_header

SPEC = "nasa_ames_spec"
NDACC = f"{SPEC}/2160_ndacc.na"

# file -> (line of the refusal, what the message must say after "NASA Ames FFI <ffi>: ")
REFUSED = {
    "1010": (9, r"the independent variable 'Altitude \(km\)' is not a time: stratoflow reads "),
    "1020": (10, r"the independent variable 'Altitude \(km\)' is not a time"),
    "2010": (12, r"bounded independent variable 'Latitude \(degrees North\)' is not a time"),
    "2110": (9, r"bounded independent variable 'Latitude \(degrees North\)' is not a time"),
    "2310": (9, r"bounded independent variable 'Latitude \(degrees North\)' is not a time"),
    "2160": (10, r"counts from the auxiliary variable 'Local time at t = 0', which is a local"),
    "3010": (13, r"'Latitude \(degrees\)' x 'Altitude \(km\)' grid at one 'Day number'"),
    "4010": (14, r"'Longitude \(degrees\)' x 'Latitude \(degrees\)' x 'Altitude \(km\)' grid"),
}


def _nappy(path: Path) -> dict[str, Any]:
    na = nappy.openNAFile(str(path))
    na.readData()
    result: dict[str, Any] = na.getNADict()
    return result


def _scaled(raw: Any, scale: Any, missing: Any) -> npt.NDArray[np.float64]:
    values = np.asarray(raw, dtype=np.float64).ravel()
    out: npt.NDArray[np.float64] = values * float(scale)
    out[values == float(missing)] = np.nan
    return out


@pytest.mark.parametrize("ffi", sorted(REFUSED))
def test_spec_files_that_are_no_time_series_are_refused_precisely(
    shared_data: Path, ffi: str
) -> None:
    path = shared_data / SPEC / f"{ffi}.na"
    line, reason = REFUSED[ffi]
    with pytest.raises(ReaderError) as info:
        NasaAmesReader().read(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line {line}: NASA Ames FFI {ffi}: "), message
    assert re.search(reason, message), message
    assert info.value.line == line


@pytest.mark.parametrize("ffi", sorted(REFUSED))
def test_header_of_every_ffi_agrees_with_nappy(shared_data: Path, ffi: str) -> None:
    path = shared_data / SPEC / f"{ffi}.na"
    h = parse_header(path.read_bytes(), path=path)
    ref = _nappy(path)
    assert h.ffi == int(ffi) and h.nlhead == ref["NLHEAD"]
    assert list(h.vname) == ref["VNAME"]
    assert list(h.vscal) == [float(v) for v in ref["VSCAL"]]
    assert list(h.vmiss) == [float(v) for v in ref["VMISS"]]
    assert list(h.aname) == (ref.get("ANAME") or [])
    assert sorted(h.xnames) == sorted(ref["XNAME"])
    if ffi != "2310":  # nappy reads more DX values than line 8 holds for 2310
        # nappy lists X (and their DX) from the slowest varying, the file from the fastest
        dx = [float(v) for v in ref["DX"]]
        assert list(h.dx) == dx[::-1]
    assert [c.strip() for c in h.ncom] == ref["NCOM"]


@pytest.mark.parametrize("ffi", ["1010", "1020"])
def test_1010_1020_values_equal_nappy_when_x_is_declared_time(shared_data: Path, ffi: str) -> None:
    # The spec examples have altitude as X; declaring it seconds exercises the record parsing
    # of the real spec files (auxiliary line + wrapped primary lines, NVPM expansion).
    path = shared_data / SPEC / f"{ffi}.na"
    ds = NasaAmesReader(time_unit="s").read(path)
    ref = _nappy(path)
    x = np.asarray(ref["X"], dtype=float)
    if ffi == "1020":
        nvpm, dx = int(ref["NVPM"]), float(ref["DX"][0])
        x = (x[:, None] + np.arange(nvpm) * dx).ravel()
    expected_time = np.datetime64("1976-01-01", "ns") + (x * 1e9).astype("timedelta64[ns]")
    np.testing.assert_array_equal(ds["time"].values, expected_time)
    primary = [n for n in ds.data_vars if "nasa_ames_vname" in ds[n].attrs]
    aux = [n for n in ds.data_vars if "nasa_ames_aname" in ds[n].attrs]
    assert len(primary) == 4 and len(aux) == 2
    for i, name in enumerate(primary):
        expected = _scaled(ref["V"][i], ref["VSCAL"][i], ref["VMISS"][i])
        np.testing.assert_array_equal(ds[name].values, expected)
    for i, name in enumerate(aux):
        per_record = _scaled(ref["A"][i], ref["ASCAL"][i], ref["AMISS"][i])
        repeat = int(ref["NVPM"]) if ffi == "1020" else 1
        np.testing.assert_array_equal(ds[name].values, np.repeat(per_record, repeat))
    ozone = ds["Ozone_concentration"]
    assert ozone.attrs["units"] == "cm-3" and np.isnan(ozone.values).any()


def test_2110_profiles_with_declared_time_overlap_and_are_refused(shared_data: Path) -> None:
    path = shared_data / SPEC / "2110.na"
    with pytest.raises(ReaderError, match=r"record block 2 \('Altitude \(km\)' = 10\.0 at line "
                       r"44\).*several overlapping time series") as info:  # fmt: skip
        NasaAmesReader(time_unit="s").read(path)
    assert str(info.value).startswith(f"{path}: line 45: NASA Ames FFI 2110: ")


@pytest.mark.parametrize("ffi", ["2010", "2310"])
def test_2010_2310_with_time_as_x1_say_not_implemented(shared_data: Path, ffi: str) -> None:
    with pytest.raises(ReaderError, match=f"FFI {ffi}: time as the bounded variable X1 .* not "):
        NasaAmesReader(time_unit="s").read(shared_data / SPEC / f"{ffi}.na")


# --- the NDACC ozonesonde (FFI 2160 with a line before the header) ---------------------------
def test_ndacc_ozonesonde_is_read_with_launch_time_and_levels(shared_data: Path) -> None:
    path = shared_data / NDACC
    assert locate_header(path.read_bytes(), path=path) == (1, 2160)
    assert NasaAmesReader.guess_can_open(path)
    ds = NasaAmesReader().read(path)
    assert ds.sizes["time"] == 4929 == ds.attrs["aux_number_of_levels"]
    # launch 18.82888889 UT hours = 18:49:44 (also written in the NDACC line before the header)
    launch = np.datetime64("2017-06-09T18:49:44", "ns")
    assert abs(int(ds["time"].values[0] - launch)) < 1_000_000  # under 1 ms
    assert ds.attrs["nasa_ames_preamble"].split()[-2].endswith("18:49:4409-JUN-2017")
    last = ds["time"].values[-1] - ds["time"].values[0]
    assert last == np.timedelta64(5603_100_000_000, "ns")
    assert ds.attrs["station"] == "Boulder"
    assert ds.attrs["aux_ozonesonde_type"] == "ECC"
    assert ds.attrs["aux_station_height"] == 1743.0
    assert "aux_comment_on_transfer_function_applied" not in ds.attrs  # its missing value
    assert ds.attrs["file_format"] == "NASA Ames FFI 2160"
    assert ds["Ozone_partial_pressure"].attrs["units"] == "mPa"
    assert ds["Horizontal_wind_direction"].attrs["units"] == "degree"
    assert ds["GPS_latitude"].attrs["units"] == "degree_north"


def test_ndacc_line_endings_and_suffix_do_not_matter(shared_data: Path, tmp_path: Path) -> None:
    raw = (shared_data / NDACC).read_bytes()
    assert b"\r\n" in raw
    path = tmp_path / "bu20170609.b17"  # NDACC-like name: recognised by content
    path.write_bytes(raw.replace(b"\r\n", b"\n"))
    assert NasaAmesReader.guess_can_open(path)
    lf, crlf = NasaAmesReader().read(path), NasaAmesReader().read(shared_data / NDACC)
    np.testing.assert_array_equal(lf["time"].values, crlf["time"].values)
    np.testing.assert_array_equal(lf["Ozone_partial_pressure"], crlf["Ozone_partial_pressure"])
    assert lf.attrs["aux_serial_number_of_radiosonde"] == "47791A"


def test_ndacc_values_equal_nappy(shared_data: Path, tmp_path: Path) -> None:
    # nappy cannot read the line before the header: give it the file without that line
    raw = (shared_data / NDACC).read_bytes()
    stripped = tmp_path / "ndacc.na"
    stripped.write_bytes(raw[raw.index(b"\n") + 1 :])
    ref = _nappy(stripped)
    ours = NasaAmesReader().read(shared_data / NDACC)
    again = NasaAmesReader().read(stripped)
    x1 = np.asarray(ref["X"][0][1], dtype=np.float64)
    launch_ns = round(float(ref["A"][6][0]) * 3_600e9)
    expected = np.datetime64("2017-06-09", "ns") + launch_ns + np.rint(x1 * 1e9).astype(np.int64)
    # the launch time is written in hours (18.828889): its float error (4 us) is not a time
    # anyone measured; the instants are snapped to the grid of X1 (0.1 s) instead
    off = (ours["time"].values - expected).astype(np.int64)
    assert np.abs(off).max() <= 5_000
    assert (ours["time"].values.astype(np.int64) % 100_000_000 == 0).all()
    primary = [n for n in ours.data_vars if "nasa_ames_vname" in ours[n].attrs]
    assert len(primary) == 16
    for i, name in enumerate(primary):
        v = ref["V"][i][0]
        expected_values = _scaled(v, ref["VSCAL"][i], ref["VMISS"][i])
        np.testing.assert_array_equal(ours[name].values, expected_values)
        np.testing.assert_array_equal(again[name].values, expected_values)
    np.testing.assert_array_equal(again["time"].values, ours["time"].values)


# --- hand-written files: round trips ---------------------------------------------------------
def _file(ffi: int, body: list[str], data: list[str], date: str = "2024 03 01") -> bytes:
    head = ["Test, Pia", "Test Org", "test source", "test mission", "1 1", f"{date} 2024 03 02"]
    lines = [*head, *body, "0", "1", "a normal comment"]
    return ("\n".join([f"{len(lines) + 1} {ffi}", *lines, *data]) + "\n").encode()


def _fmt(values: Any) -> str:
    return " ".join(repr(float(v)) for v in np.atleast_1d(np.asarray(values)))


def _write_1010(
    path: Path,
    x: npt.NDArray[np.float64],
    aux: npt.NDArray[np.float64],
    v: npt.NDArray[np.float64],
    vscal: list[float],
) -> None:
    nv, na = v.shape[1], aux.shape[1]
    body = [
        "1", "Time (seconds from 0 UT)", str(nv), _fmt(vscal), _fmt([99999] * nv),
        *[f"V{i} (ppb)" for i in range(nv)], str(na), _fmt([1] * na), _fmt([-1] * na),
        *[f"A{i} (hPa)" for i in range(na)],
    ]  # fmt: skip
    data = []
    for r in range(len(x)):
        data += [f"{float(x[r])!r} {_fmt(aux[r])}", _fmt(v[r])]
    path.write_bytes(_file(1010, body, data))


records_1010 = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 86_000), min_size=n, max_size=n, unique=True),
        st.integers(1, 3),
        st.integers(1, 3),
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n * 6, max_size=n * 6),
        st.lists(st.booleans(), min_size=n * 3, max_size=n * 3),
    )
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records_1010, st.sampled_from([1.0, 0.1, 1e-3]))
def test_1010_round_trip(
    case: tuple[list[int], int, int, list[float], list[bool]], scale: float
) -> None:
    offsets, nv, na, pool, missing = case
    n = len(offsets)
    x = np.sort(np.array(offsets, dtype=float))
    v = np.array(pool[: n * nv]).reshape(n, nv)
    v[np.array(missing[: n * nv]).reshape(n, nv)] = 99999.0
    aux = np.array(pool[n * 3 : n * 3 + n * na]).reshape(n, na)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.na"
        _write_1010(path, x, aux, v, [scale] * nv)
        ds = NasaAmesReader().read(path)
    expected_time = np.datetime64("2024-03-01", "ns") + (x * 1e9).astype("timedelta64[ns]")
    np.testing.assert_array_equal(ds["time"].values, expected_time)
    for i in range(nv):
        expected = np.where(v[:, i] == 99999.0, np.nan, v[:, i] * scale)
        np.testing.assert_array_equal(ds[f"V{i}"].values, expected)
        assert ds[f"V{i}"].attrs["units"] == "1e-9"
        assert f"V{i}_flag" not in ds  # the file gives no flags: none are made up
        assert ((flags_of(ds, f"V{i}") == 7) == np.isnan(expected)).all()
    for i in range(na):
        expected = np.where(aux[:, i] == -1.0, np.nan, aux[:, i])
        np.testing.assert_array_equal(ds[f"A{i}"].values, expected)
        assert ds[f"A{i}"].attrs["units"] == "hPa"


def test_1020_round_trip_expands_records(tmp_path: Path) -> None:
    body = ["2", "3", "Time (s)", "1", "1", "999", "O3 (ppb)", "1", "1", "-1", "Pressure (hPa)"]
    data = ["0 900", "40 41 42", "60 800", "43 999 45"]
    path = tmp_path / "a.na"
    path.write_bytes(_file(1020, body, data))
    ds = NasaAmesReader().read(path)
    offsets = np.array([0, 2, 4, 60, 62, 64]) * 1_000_000_000
    np.testing.assert_array_equal(
        ds["time"].values.astype(np.int64) - np.datetime64("2024-03-01", "ns").astype(np.int64),
        offsets,
    )
    np.testing.assert_array_equal(ds["O3"].values, [40, 41, 42, 43, np.nan, 45])
    np.testing.assert_array_equal(ds["Pressure"].values, [900, 900, 900, 800, 800, 800])


def _ndacc_like(blocks: list[tuple[str, float, str, list[tuple[float, float, float]]]]) -> bytes:
    """FFI 2160: site (X2), [NX, launch UT hours, height], text aux 'sonde', then NX levels."""
    body = [
        "0", "20", "Time after launch [s]", "Station name", "2", "1 0.01", "9999 9999",
        "Pressure [hPa]", "Ozone partial pressure [mPa] (1 sigma)", "4", "1", "1 1 1",
        "99999 99999 99999", "20", "zzzz", "Number of levels",
        "Launch time [decimal UT hours from 0 hours on day given by DATE]",
        "Station height [m]", "Sonde serial number",
    ]  # fmt: skip
    data = []
    for site, launch, serial, levels in blocks:
        data += [site, f"{len(levels)} {launch!r} 1743", serial]
        data += [f"{t!r} {p!r} {o!r}" for t, p, o in levels]
    return _file(2160, body, data, date="2017 06 09")


def test_2160_round_trip_two_soundings(tmp_path: Path) -> None:
    path = tmp_path / "two.na"
    path.write_bytes(
        _ndacc_like(
            [
                ("Boulder", 6.5, "S1", [(0.0, 820.0, 480), (1.5, 819.5, 9999), (3.0, 819.0, 470)]),
                ("Hilo", 12.25, "zzzz", [(0.0, 1000.0, 300), (10.0, 990.0, 310)]),
            ]
        )
    )
    ds = NasaAmesReader().read(path)
    day = np.datetime64("2017-06-09", "ns")
    expected = [day + np.timedelta64(int(6.5 * 3600e9 + s * 1e9), "ns") for s in (0, 1.5, 3)] + [
        day + np.timedelta64(int(12.25 * 3600e9 + s * 1e9), "ns") for s in (0, 10)
    ]
    np.testing.assert_array_equal(ds["time"].values, np.array(expected))
    np.testing.assert_array_equal(ds["Pressure"].values, [820, 819.5, 819, 1000, 990])
    np.testing.assert_allclose(ds["Ozone_partial_pressure"].values, [4.8, np.nan, 4.7, 3, 3.1])
    assert ds["Ozone_partial_pressure"].attrs["units"] == "mPa"
    # values that differ between soundings are variables; the same in all are attributes
    assert ds["station_name"].values.tolist() == ["Boulder"] * 3 + ["Hilo"] * 2
    assert ds["Number_of_levels"].values.tolist() == [3, 3, 3, 2, 2]
    assert ds["Launch_time"].values.tolist() == [6.5] * 3 + [12.25] * 2
    assert ds["Launch_time"].attrs["units"] == "hour since 2017-06-09 00:00:00"
    assert ds["sonde_serial_number"].values.tolist() == ["S1"] * 3 + [""] * 2
    assert ds.attrs["aux_station_height"] == 1743.0
    assert "station" not in ds.attrs


def test_2160_wrapped_records_are_read(tmp_path: Path) -> None:
    # a record too long for one line (G&H: 132 characters) continues on the next
    raw = _ndacc_like([("A", 6.0, "x", [(0.0, 820.0, 480.0), (1.0, 819.0, 470.0)])])
    raw = raw.replace(b"0.0 820.0 480.0", b"0.0 820.0\n 480.0").replace(
        b"1.0 819.0 ", b"1.0\n819.0 "
    )
    path = tmp_path / "wrapped.na"
    path.write_bytes(raw)
    ds = NasaAmesReader().read(path)
    np.testing.assert_array_equal(ds["Pressure"].values, [820.0, 819.0])
    np.testing.assert_array_equal(ds["Ozone_partial_pressure"].values, [4.8, 4.7])


def test_2160_overlapping_blocks_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "overlap.na"
    levels = [(0.0, 820.0, 480.0), (10.0, 819.0, 470.0)]
    path.write_bytes(_ndacc_like([("A", 6.0, "x", levels), ("B", 6.0, "y", levels)]))
    with pytest.raises(ReaderError, match=r"record block 2 .*'B' at line .*overlapping"):
        NasaAmesReader().read(path)


def test_2160_time_of_day_ignores_the_launch_time(tmp_path: Path) -> None:
    levels = [(68000.0, 820.0, 480.0), (68001.0, 819.0, 470.0)]
    raw = _ndacc_like([("A", 18.9, "x", levels)])
    path = tmp_path / "tod.na"
    path.write_bytes(raw.replace(b"Time after launch [s]", b"UT seconds from 0 hours on DATE"))
    ds = NasaAmesReader().read(path)
    assert str(ds["time"].values[0]) == "2017-06-09T18:53:20.000000000"


def test_2160_relative_time_without_start_is_refused(tmp_path: Path) -> None:
    raw = _ndacc_like([("A", 6.0, "x", [(0.0, 1.0, 2.0)])]).replace(b"Launch time", b"Sonde id")
    path = tmp_path / "rel.na"
    path.write_bytes(raw)
    with pytest.raises(ReaderError, match="counts from the start of each record block, but no"):
        NasaAmesReader().read(path)


# --- truncated and corrupted files -----------------------------------------------------------
def _ndacc_variant(shared_data: Path, tmp_path: Path, edit: str) -> Path:
    raw = (shared_data / NDACC).read_bytes()
    lines = raw.split(b"\n")
    first_data = 117  # 0-based index of the first level ("    0.0  820.26 ...")
    if edit == "cut_in_data":
        raw = raw[: len(raw) // 2]
    elif edit == "cut_in_aux":
        raw = b"\n".join(lines[:106])
    elif edit == "cut_in_header":
        raw = b"\n".join(lines[:50])
    elif edit == "value_missing":
        lines[first_data + 10] = lines[first_data + 10].rsplit(b" ", 1)[0]
        raw = b"\n".join(lines)
    elif edit == "letter_in_data":
        lines[first_data + 3] = lines[first_data + 3].replace(b"819", b"8l9", 1)
        raw = b"\n".join(lines)
    elif edit == "levels_too_many":
        lines[104] = lines[104].replace(b"4929", b"4930", 1)
        raw = b"\n".join(lines)
    elif edit == "levels_not_integer":
        lines[104] = lines[104].replace(b"4929", b"49.5", 1)
        raw = b"\n".join(lines)
    path = tmp_path / f"{edit}.na"
    path.write_bytes(raw)
    return path


NDACC_DEFECTS = {
    "cut_in_data": r"the data end inside record 2446 of the 4929 data records of block 1: 13 of "
    r"its 17 values are present \(truncated",
    "cut_in_aux": r"file ends where text auxiliary \d+ was expected \(truncated",
    "cut_in_header": r"file ends inside the header",
    "value_missing": r"line 128: the 4929 data records of block 1: record 11 does not line up "
    r"with the lines: a value missing or too many on line 128 or 129\?",
    "letter_in_data": r"line 121: unexpected character b'l' in the 4929 data records",
    "levels_too_many": r"line 5048: the data end inside record 4930 of the 4930 data records",
    "levels_not_integer": r"'Number of levels' must be the number of X1 values NX",
}


@pytest.mark.parametrize("edit", sorted(NDACC_DEFECTS))
def test_corrupted_ndacc_files_name_file_and_defect(
    shared_data: Path, tmp_path: Path, edit: str
) -> None:
    path = _ndacc_variant(shared_data, tmp_path, edit)
    with pytest.raises(ReaderError) as info:
        NasaAmesReader().read(path)
    assert str(info.value).startswith(f"{path}: "), str(info.value)
    assert re.search(NDACC_DEFECTS[edit], str(info.value)), str(info.value)


@pytest.mark.parametrize(
    ("edit", "defect"),
    [
        ("truncate", r"line 2\d: the data end inside record 3 of the data records of FFI 1010"),
        (
            "extra",
            r"line 23: the data records of FFI 1010: record 1 does not line up with the "
            r"lines: a value missing or too many on line 23\? \(a record is 2 \+ 2 values",
        ),
        ("nauxv", r"line 22: the data records of FFI 1010: record 1 does not line up"),
        ("text", r"not a number in the data records of FFI 1010: 'nana'"),
    ],
)
def test_corrupted_1010_files_name_file_and_defect(tmp_path: Path, edit: str, defect: str) -> None:
    path = tmp_path / f"{edit}.na"
    x, aux = np.array([0.0, 1, 2]), np.array([[1.0], [2], [3]])
    v = np.array([[5.0, 6], [7, 8], [9, 10]])
    _write_1010(path, x, aux, v, [1.0, 1.0])
    lines = path.read_bytes().decode().splitlines()
    if edit == "truncate":
        lines = lines[:-1]
    elif edit == "extra":
        lines[-5] += " 11"
    elif edit == "nauxv":  # header says 1 auxiliary variable, the records hold 2
        lines = [*lines[:-6], *[f"{line} 4" if i % 2 == 0 else line for i, line in
                                enumerate(lines[-6:])]]  # fmt: skip
    elif edit == "text":
        lines[-1] = "nana 10"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReaderError) as info:
        NasaAmesReader().read(path)
    assert str(info.value).startswith(f"{path}: "), str(info.value)
    assert re.search(defect, str(info.value)), str(info.value)


def test_unknown_ffi_and_missing_header_line(tmp_path: Path) -> None:
    path = tmp_path / "x.na"
    path.write_bytes(b"preamble\n12 2222\n")
    with pytest.raises(ReaderError, match=r"x.na: line 2: unsupported FFI 2222: NASA Ames"):
        NasaAmesReader().read(path)
    path.write_bytes(b"no\nheader\nhere\n")
    with pytest.raises(ReaderError, match=r"x.na: line 1: expected 'NLHEAD FFI'"):
        NasaAmesReader().read(path)


# --- the CLI ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*sorted(REFUSED), "1001", "2160_ndacc"])
def test_inspect_prints_each_spec_file_sensibly(
    shared_data: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = shared_data / SPEC / f"{name}.na"
    status = main(["inspect", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if name in REFUSED:
        assert status == 1
        assert err.strip().count("\n") == 0
        assert f"{path}: line {REFUSED[name][0]}: NASA Ames FFI {name}: " in err
    else:
        assert status == 0, err
        assert "(reader: nasa_ames)" in out
        assert ("4929 time steps" if name == "2160_ndacc" else "3 time steps") in out


@pytest.mark.parametrize(
    ("launch_time", "launch"),
    [
        ("Launch time [hours since 2017-06-08 12:00:00]", "2017-06-08T18:30:00"),
        ("Launch time [hours since 2017-06-09 03:00:00 +02:00]", "2017-06-09T07:30:00"),
    ],
)
def test_a_launch_time_with_its_own_reference_counts_from_it(
    tmp_path: Path, launch_time: str, launch: str
) -> None:
    """'hours since <date>' on the launch time was read as hours from midnight of DATE: the
    soundings were 12 h late for a reference of 12:00 the day before."""
    levels = [(0.0, 820.0, 480.0), (1.0, 819.0, 470.0)]
    raw = _ndacc_like([("A", 6.5, "x", levels), ("B", 7.5, "y", levels)])
    old = b"Launch time [decimal UT hours from 0 hours on day given by DATE]"
    path = tmp_path / "own.na"
    path.write_bytes(raw.replace(old, launch_time.encode()))
    ds = NasaAmesReader().read(path)
    first = np.datetime64(launch, "ns")
    second = first + np.timedelta64(1, "h")
    one = np.timedelta64(1, "s")
    np.testing.assert_array_equal(ds["time"].values, [first, first + one, second, second + one])
    reference = np.datetime64(launch, "ns") - np.timedelta64(6 * 60 + 30, "m")
    expected = f"hour since {str(reference).replace('T', ' ')[:19]}"
    assert ds["Launch_time"].attrs["units"] == expected


def test_a_launch_time_in_an_ambiguous_zone_is_refused(tmp_path: Path) -> None:
    raw = _ndacc_like([("A", 6.5, "x", [(0.0, 820.0, 480.0), (1.0, 819.0, 470.0)])])
    old = b"Launch time [decimal UT hours from 0 hours on day given by DATE]"
    path = tmp_path / "zone.na"
    path.write_bytes(raw.replace(old, b"Launch time [hours since 2017-06-09 00:00:00 UTC+2]"))
    with pytest.raises(ReaderError, match=r"line 10: auxiliary variable .*'UTC\+2' is ambiguous"):
        NasaAmesReader().read(path)
