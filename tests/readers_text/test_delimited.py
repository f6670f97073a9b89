"""Delimited reader: the raw FAIRO logs through their presets, checked against the raw text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratoflow.dataset import flags_of
from stratoflow.errors import ConfigError, ReaderError
from stratoflow.flags import Flag
from stratoflow.readers import DelimitedReader

FILES = {
    "fairo_omc": ("11_30_04.OMC", "O3"),
    "fairo_hal": ("11_30_01.HAL", "Stat_Press"),
    "fairo_tp": ("11_30_01.T_P", "p_Inlet"),
    "fairo_dat": ("11_30_01.DAT", "Q_Pump"),
}


def _raw_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_bytes().decode("ascii").split("\r\n")
    rows = [line.split("\t")[1:] for line in lines if line]
    return rows[0], rows[1:]


@pytest.mark.parametrize("preset", sorted(FILES))
def test_fairo_presets_read_every_row(shared_data: Path, preset: str) -> None:
    name, column = FILES[preset]
    path = shared_data / "fairo_raw" / name
    ds = DelimitedReader(preset=preset).read(path)
    header, rows = _raw_rows(path)
    assert ds.sizes["time"] == len(rows)
    col = header.index(column)
    for i in (0, len(rows) // 2, len(rows) - 1):
        assert ds[column].values[i] == float(rows[i][col])
        day, clock = rows[i][0].split()
        d, m, y = day.split(".")
        assert str(ds["time"].values[i]).startswith(f"20{y}-{m}-{d}T{clock}")


def test_fairo_hal_keeps_aircraft_clock(shared_data: Path) -> None:
    ds = DelimitedReader(preset="fairo_hal").read(shared_data / "fairo_raw/11_30_01.HAL")
    halo = ds["HALO_Time"]
    assert halo.attrs["units"] == "seconds since 1970-01-01 00:00:00"
    offset = ds["time"].values[0] - np.datetime64(int(halo.values[0] * 1e6), "us")
    assert np.timedelta64(23, "m") < offset < np.timedelta64(25, "m")  # the 24 min clock offset
    assert ds["Lat"].attrs["units"] == "degree_north"


def test_state_column_is_text(shared_data: Path) -> None:
    ds = DelimitedReader(preset="fairo_omc").read(shared_data / "fairo_raw/11_30_04.OMC")
    assert ds["State"].values[0] == "MS"
    assert ds["O3"].attrs["units"] == "1e-9"


def test_generic_options_decimal_comma(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("# instrument X\nwhen;a\n2024-01-01 00:00:00;1,5\n2024-01-01 00:00:01;2,5\n")
    reader = DelimitedReader(separator=";", decimal=",", header_lines=1, time_column="when",
                             time_format="%Y-%m-%d %H:%M:%S", units={"a": "K"})  # fmt: skip
    ds = reader.read(path)
    assert ds["a"].values.tolist() == [1.5, 2.5]
    assert ds["a"].attrs["units"] == "K"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("t,a\n2024-01-01T00:00:00,1\n2024-01-01T00:00:01\n", "line 3: record has 1 fields"),
        ("t,a\n2024-01-01T00:00:00,1\n2024-01-01T00:00:01,x\n", "line 3: column 'a': not a"),
        ("t,a\n2024-01-01T00:00:01,1\n2024-01-01T00:00:00,2\n", "line 3: time .* does not"),
        ("t,a\n2024-01-01T00:00:00,1\nyesterday,2\n", "line 3: time 'yesterday' does not match"),
        ("x,a\n2024-01-01T00:00:00,1\n", "time column 't' not found"),
    ],
)
def test_defects_are_errors(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(ReaderError, match=message):
        DelimitedReader(time_column="t").read(path)


_OMC = [b"\tTime\tO3", b"\t16.11.22 11:30:04.39\t 71.15", b"\t16.11.22 11:30:08.39\t 71.20"]


def test_one_line_ending_throughout_is_read_either_way(tmp_path: Path) -> None:
    """A log converted as a whole on its way (FTP ASCII mode, git, a Mac: LF or bare CR)
    reads the same; bare CR was refused, though the NASA Ames and ICARTT readers read it."""
    crlf, lf, cr = tmp_path / "crlf.OMC", tmp_path / "lf.OMC", tmp_path / "cr.OMC"
    crlf.write_bytes(b"\r\n".join(_OMC) + b"\r\n")
    lf.write_bytes(b"\n".join(_OMC) + b"\n")
    cr.write_bytes(b"\r".join(_OMC) + b"\r")
    a, b, c = (DelimitedReader(preset="fairo_omc").read(p) for p in (crlf, lf, cr))
    assert a["O3"].values.tolist() == b["O3"].values.tolist() == c["O3"].values.tolist()
    assert a["O3"].values.tolist() == [71.15, 71.20]
    assert (a["time"].values == b["time"].values).all()
    assert (a["time"].values == c["time"].values).all()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_OMC[0] + b"\r\n" + _OMC[1] + b"\n" + _OMC[2] + b"\r\n", r"line 2: mixed line endings"),
        (_OMC[0] + b"\r\n" + _OMC[1][:5] + b"\r" + _OMC[1][5:] + b"\r\n", r"line 2: a CR inside"),
    ],
    ids=["mixed", "stray-cr"],
)
def test_mixed_or_broken_line_endings_are_errors(tmp_path: Path, body: bytes, message: str) -> None:
    path = tmp_path / "broken.OMC"
    path.write_bytes(body)
    with pytest.raises(ReaderError, match=message):
        DelimitedReader(preset="fairo_omc").read(path)


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="fairo_omc"):
        DelimitedReader(preset="nope")


@pytest.mark.parametrize(
    "relative",
    [
        "iagos/IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4",  # flags, errors, process flags
        "fairo_raw/11_30_04.OMC",  # a text column (State)
        "icartt/ACTAMERICA-mrg05-b200_merge_20170121_R0.ict",
    ],
)
def test_our_csv_export_reads_back_as_it_was_written(
    relative: str, shared_data: Path, tmp_path: Path
) -> None:
    """`convert FILE x.csv` and reading x.csv: the same values, units, names and flags."""
    from stratoflow import open_dataset, write_dataset
    from stratoflow.dataset import data_variables

    a = open_dataset(shared_data / relative)
    for delimiter in (",", ";"):
        path = write_dataset(a, tmp_path / "x.csv", writer="csv", delimiter=delimiter)
        b = open_dataset(path)
        assert b.attrs["file_format"] == "stratoflow CSV export"
        assert b.attrs.get("pi") == a.attrs.get("pi")
        assert list(b.data_vars) == list(a.data_vars)
        assert data_variables(b) == data_variables(a)
        np.testing.assert_array_equal(b["time"].values, a["time"].values)
        for name, var in a.data_vars.items():
            np.testing.assert_array_equal(b[name].values, var.values, err_msg=str(name))
            for key in ("units", "long_name", "standard_name"):
                assert b[name].attrs.get(key) == var.attrs.get(key), (name, key)


def test_a_wrong_flag_code_in_our_csv_export_names_its_line(tmp_path: Path) -> None:
    from stratoflow import write_dataset
    from stratoflow.dataset import make_dataset

    t = np.datetime64("2024-01-01T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    ds = make_dataset(
        t, {"O3": (np.array([1.0, 2.0, 3.0]), {"units": "1e-9"})}, flags={"O3": [0, 2, 3]}
    )
    path = write_dataset(ds, tmp_path / "x.csv", writer="csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[-2] = lines[-2].rsplit(",", 1)[0] + ",9"  # the second record's flag: no such code
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ReaderError, match=rf"x\.csv: line {len(lines) - 1}: .*'O3_flag'.*'9'"):
        DelimitedReader().read(path)


@pytest.mark.parametrize(
    "body",
    [
        b"time,O3\n2024-01-01T00:00:00Z,40.5\n2024-01-01T00:00:01Z,41\n\n\n",
        b"\xef\xbb\xbftime,O3\r\n2024-01-01T00:00:00Z,40.5\r\n2024-01-01T00:00:01Z,41\r\n\r\n",
        b"time,O3\n2024-01-01T00:00:00Z,40.5\n2024-01-01T00:00:01Z,41\n \t\n",
        b'"time","O3"\n"2024-01-01T00:00:00Z",40.5\n"2024-01-01T00:00:01Z",41\n',
    ],
    ids=["blank-lines-at-end", "bom-crlf-blank-at-end", "whitespace-line-at-end", "quoted"],
)
def test_harmless_variations_are_read(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(body)
    ds = DelimitedReader().read(path)
    np.testing.assert_array_equal(ds["O3"].values, [40.5, 41.0])
    assert ds.sizes["time"] == 2


def test_quoted_fields_may_hold_the_separator(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        'time,"O3, ppb",site\n'
        '2024-01-01T00:00:00Z,40.5,"Frankfurt, DE"\n'
        '2024-01-01T00:00:01Z,41,"say ""hi"""\n'
    )
    ds = DelimitedReader().read(path)
    np.testing.assert_array_equal(ds["O3, ppb"].values, [40.5, 41.0])
    assert list(ds["site"].values) == ["Frankfurt, DE", 'say "hi"']
    path.write_text('time,O3\n2024-01-01T00:00:00Z,"40,5",1\n')
    with pytest.raises(ReaderError, match="line 2: record has 3 fields"):
        DelimitedReader().read(path)


def test_a_blank_line_between_records_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("time,O3\n2024-01-01T00:00:00Z,40\n\n2024-01-01T00:00:01Z,41\n")
    with pytest.raises(ReaderError, match="line 3: blank line between records"):
        DelimitedReader().read(path)


def test_integers_beyond_float_precision_stay_exact(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "time,counter,O3\n2024-01-01T00:00:00Z,9007199254740993,40\n"
        "2024-01-01T00:00:01Z,9007199254740995,41\n"
    )
    ds = DelimitedReader().read(path)
    assert ds["counter"].dtype == np.int64
    assert ds["counter"].values.tolist() == [9007199254740993, 9007199254740995]
    assert ds["O3"].dtype == np.float64  # small integers stay numbers as before


def test_an_empty_export_reads_back_empty(tmp_path: Path) -> None:
    """Our CSV export of a selection without points is a valid (empty) file, not 'no data'."""
    from stratoflow import write_dataset
    from stratoflow.dataset import make_dataset

    empty = make_dataset(
        np.array([], dtype="datetime64[ns]"), {"O3": (np.array([], float), {"units": "1e-9"})}
    )
    back = DelimitedReader().read(write_dataset(empty, tmp_path / "e.csv", writer="csv"))
    assert back.sizes["time"] == 0 and back["O3"].dtype == np.float64
    assert back["O3"].attrs["units"] == "1e-9"
    plain = tmp_path / "plain.csv"
    plain.write_text("time,O3\n")
    with pytest.raises(ReaderError, match="no data records"):
        DelimitedReader().read(plain)


def _decimal_comma_copy(shared_data: Path, target: Path) -> Path:
    """The real OMC log as a European spreadsheet saves it: ';' between fields, '1,5'."""
    lines = (shared_data / "fairo_raw/11_30_04.OMC").read_text().split("\n")
    out = []
    for line in lines:
        fields = line.split("\t")
        out.append(";".join(fields[:2] + [f.replace(".", ",") for f in fields[2:]]))
    target.write_text("\n".join(out), newline="")
    return target


def test_decimal_comma_is_detected(shared_data: Path, tmp_path: Path) -> None:
    original = DelimitedReader(preset="fairo_omc").read(shared_data / "fairo_raw/11_30_04.OMC")
    path = _decimal_comma_copy(shared_data, tmp_path / "omc_de.csv")
    ds = DelimitedReader(preset="fairo_omc", separator=";").read(path)
    assert ds["O3"].dtype == np.float64 and ds["p"].dtype == np.float64
    for name in original.data_vars:
        np.testing.assert_array_equal(ds[name].values, original[name].values, err_msg=str(name))
    explicit = DelimitedReader(preset="fairo_omc", separator=";", decimal=",").read(path)
    np.testing.assert_array_equal(explicit["O3"].values, original["O3"].values)


def test_decimal_comma_against_an_explicit_point_is_a_clear_error(
    shared_data: Path, tmp_path: Path
) -> None:
    path = _decimal_comma_copy(shared_data, tmp_path / "omc_de.csv")
    reader = DelimitedReader(preset="fairo_omc", separator=";", decimal=".")
    with pytest.raises(ReaderError, match=r"omc_de\.csv: line 2: column 'O3': ' 71,15' has a "
                       r"decimal comma, but decimal='\.' was given"):  # fmt: skip
        reader.read(path)


def test_a_csv_export_cut_short_is_an_error(shared_data: Path, tmp_path: Path) -> None:
    """Cut at a line break (a broken transfer), an export still parses: the record count in
    its header says it is short, even when nothing but the column names is left."""
    from stratoflow import write_dataset

    ds = DelimitedReader(preset="fairo_omc").read(shared_data / "fairo_raw/11_30_04.OMC")
    raw = write_dataset(ds, tmp_path / "omc.csv", writer="csv").read_bytes()
    names_end = raw.index(b"\ntime,") + 1
    names_end = raw.index(b"\n", names_end) + 1
    n = ds.sizes["time"]
    for cut, found in ((names_end, 0), (raw.rindex(b"\n", 0, len(raw) - 1) + 1, n - 1)):
        (tmp_path / "cut.csv").write_bytes(raw[:cut])
        with pytest.raises(ReaderError, match=f"header says {n} records, the file has {found}"):
            DelimitedReader().read(tmp_path / "cut.csv")
    assert DelimitedReader().read(tmp_path / "omc.csv").sizes["time"] == n


def test_column_names_repeated_mid_file_are_skipped_and_said(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A logger restarted and appended to its file writes the column-name line again: the
    records around it are read as in the original (line numbers still those of the file),
    and inspect says which lines were left out. It was refused as a time not matching."""
    from stratoflow.cli import main

    source = shared_data / "fairo_raw/11_30_04.OMC"
    original = DelimitedReader(preset="fairo_omc").read(source)
    lines = source.read_bytes().split(b"\r\n")
    path = tmp_path / "restarted.OMC"
    path.write_bytes(b"\r\n".join([*lines[:10], lines[0], *lines[10:]]))
    ds = DelimitedReader(preset="fairo_omc").read(path)
    np.testing.assert_array_equal(ds["time"].values, original["time"].values)
    np.testing.assert_array_equal(ds["O3"].values, original["O3"].values)
    assert ds.attrs["reader_skipped_lines"] == "11"
    assert main(["inspect", str(path)]) == 0
    assert "not read: lines 11 (the column names repeated)" in capsys.readouterr().out
    # a defect after the repeated names is still named at its line in the file
    lines[20] = lines[20].replace(b"\t 7", b"\tx7", 1)
    path.write_bytes(b"\r\n".join([*lines[:10], lines[0], *lines[10:]]))
    with pytest.raises(ReaderError, match=r"restarted\.OMC: line 22: column 'O3': not a number"):
        DelimitedReader(preset="fairo_omc").read(path)


def test_a_latin1_log_is_read(shared_data: Path, tmp_path: Path) -> None:
    """A German instrument PC writes its code page: 'Küvette' in Latin-1 was refused as
    "'utf-8' codec can't decode byte 0xfc"."""
    source = shared_data / "fairo_raw/11_30_04.OMC"
    path = tmp_path / "latin1.OMC"
    path.write_bytes(source.read_bytes().replace(b"Cuevette", "Küvette".encode("latin-1")))
    ds = DelimitedReader(preset="fairo_omc").read(path)
    original = DelimitedReader(preset="fairo_omc").read(source)
    np.testing.assert_array_equal(ds["Küvette"].values, original["Cuevette"].values)
    assert ds.attrs["file_encoding"] == "latin-1"


def test_a_record_with_an_extra_field_names_its_line(shared_data: Path, tmp_path: Path) -> None:
    """A shifted record with one field too many: our message, not pandas' tokenizer's."""
    lines = (shared_data / "fairo_raw/11_30_04.OMC").read_bytes().split(b"\r\n")
    lines[10] = b"\t" + lines[10]
    path = tmp_path / "shifted.OMC"
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(ReaderError, match=r"line 11: record has 20 fields, the column names"):
        DelimitedReader(preset="fairo_omc").read(path)


def test_local_standard_time_is_moved_to_utc(shared_data: Path, tmp_path: Path) -> None:
    """An instrument PC kept on CET all year (no daylight saving): there was no way to say
    so, and its times were taken as UTC, an hour late."""
    source = shared_data / "fairo_raw/11_30_04.OMC"
    utc = DelimitedReader(preset="fairo_omc").read(source)
    local = DelimitedReader(preset="fairo_omc", utc_offset="+01:00").read(source)
    np.testing.assert_array_equal(local["time"].values, utc["time"].values - np.timedelta64(1, "h"))
    np.testing.assert_array_equal(local["O3"].values, utc["O3"].values)
    assert local.attrs["time_moved_from_utc_offset"] == "+01:00"
    west = DelimitedReader(preset="fairo_omc", utc_offset="-0530").read(source)
    shift = np.timedelta64(5 * 60 + 30, "m")
    np.testing.assert_array_equal(west["time"].values, utc["time"].values + shift)
    with pytest.raises(ConfigError, match="zone names are not accepted"):
        DelimitedReader(preset="fairo_omc", utc_offset="Europe/Berlin")
    # as in a time units string: POSIX reads 'UTC-0530' as 5:30 *east* of UTC
    with pytest.raises(ConfigError, match=r"utc_offset 'UTC-0530': zone 'UTC-0530' is ambiguous"):
        DelimitedReader(preset="fairo_omc", utc_offset="UTC-0530")
    zoned = tmp_path / "zoned.csv"
    zoned.write_text("time,O3\n2022-11-16T11:30:04+01:00,40\n")
    with pytest.raises(ReaderError, match=r"line 2: time .* carries its own zone"):
        DelimitedReader(utc_offset="+01:00").read(zoned)


def test_utc_offset_leaves_the_utc_clock_of_a_log_alone(shared_data: Path, tmp_path: Path) -> None:
    """utc_offset moved every time column: the HAL log's aircraft clock (HALO_Time, UTC)
    became an hour off along with the PC's local V25_Time, and clock_sync against it with
    it. Columns in utc_columns (HALO_Time in the preset) stay as they are."""
    source = shared_data / "fairo_raw/11_30_01.HAL"
    utc = DelimitedReader(preset="fairo_hal").read(source)
    local = DelimitedReader(preset="fairo_hal", utc_offset="+01:00").read(source)
    np.testing.assert_array_equal(local["time"].values, utc["time"].values - np.timedelta64(1, "h"))
    np.testing.assert_array_equal(local["HALO_Time"].values, utc["HALO_Time"].values)
    assert local.attrs["time_kept_in_utc"] == "HALO_Time"
    # without the preset's word for it, both columns are local time and both move
    both = DelimitedReader(preset="fairo_hal", utc_offset="+01:00", utc_columns=()).read(source)
    np.testing.assert_array_equal(both["HALO_Time"].values, utc["HALO_Time"].values - 3600)
    path = tmp_path / "log.csv"
    path.write_text("pc,gps,O3\n2022-11-16 12:30:00,2022-11-16 11:30:05,40\n")
    options = {"time_column": "pc", "datetime_columns": ["gps"], "utc_offset": "+01:00"}
    ds = DelimitedReader(**options, utc_columns=["gps"]).read(path)
    assert str(ds["time"].values[0]) == "2022-11-16T11:30:00.000000000"
    assert ds["gps"].values[0] == np.datetime64("2022-11-16T11:30:05", "s").astype(int)
    with pytest.raises(ConfigError, match=r"utc_columns \['O3'\] are not time columns"):
        DelimitedReader(**options, utc_columns=["O3"])


def test_a_utf16_table_is_read(shared_data: Path, tmp_path: Path) -> None:
    """Excel's "Unicode Text" is UTF-16 with a BOM: refused as "NUL byte in a text file"."""
    source = shared_data / "fairo_raw/11_30_04.OMC"
    path = tmp_path / "unicode.OMC"
    path.write_bytes(source.read_bytes().decode("ascii").encode("utf-16"))
    ds = DelimitedReader(preset="fairo_omc").read(path)
    original = DelimitedReader(preset="fairo_omc").read(source)
    np.testing.assert_array_equal(ds["time"].values, original["time"].values)
    np.testing.assert_array_equal(ds["O3"].values, original["O3"].values)


@pytest.mark.parametrize("time_format", ["%H:%M:%S", "%d.%m. %H:%M:%S", "%Y %H:%M"])
def test_a_time_format_without_a_whole_date_is_refused(tmp_path: Path, time_format: str) -> None:
    """'%H:%M:%S' read every record as 1900-01-01 (pandas' default date), silently."""
    with pytest.raises(ConfigError, match=rf"time_format '{time_format}' has no whole date"):
        DelimitedReader(time_format=time_format)
    path = tmp_path / "t.csv"
    path.write_text("time,O3\n2022-075 11:30:00,40\n2022-075 11:30:01,41\n")
    ds = DelimitedReader(time_format="%Y-%j %H:%M:%S").read(path)
    assert str(ds["time"].values[0]) == "2022-03-16T11:30:00.000000000"


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        # the zone-less stamp is 08:00:05 UTC if local (+02:00), read as 10:00:05 UTC: it
        # still increases, so the two-hour jump went unnoticed
        (["2022-03-27T10:00:00+02:00", "2022-03-27T10:00:05"], 3, "has no zone"),
        (["2022-03-27T10:00:00", "2022-03-27T10:00:05-05"], 3, "has zone"),
    ],
)
def test_a_time_column_mixing_zoned_and_zone_less_stamps_is_refused(
    tmp_path: Path, rows: list[str], line: int, message: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("time,O3\n" + "".join(f"{r},40\n" for r in rows))
    with pytest.raises(ReaderError, match=rf"line {line}: time '{rows[1]}' {message}"):
        DelimitedReader().read(path)
    path.write_text("time,O3\n" + "".join(f"{r[:19]}-05,40\n" for r in rows))
    ds = DelimitedReader().read(path)  # one zone throughout: read, in UTC
    assert str(ds["time"].values[0]) == "2022-03-27T15:00:00.000000000"  # 10:00 at -05


def test_a_blank_in_a_datetime_column_is_a_missing_value(shared_data: Path, tmp_path: Path) -> None:
    """One record without an aircraft clock stamp (HALO_Time) made the whole HAL log
    unreadable ('empty time'); it is a missing value now, as in a numeric column. A blank
    in the time column itself is still an error, naming the column."""
    source = shared_data / "fairo_raw/11_30_01.HAL"
    lines = source.read_bytes().split(b"\r\n")
    fields = lines[5].split(b"\t")
    fields[2] = b""  # HALO_Time of the fifth record
    lines[5] = b"\t".join(fields)
    path = tmp_path / "blank.HAL"
    path.write_bytes(b"\r\n".join(lines))
    ours, original = (DelimitedReader(preset="fairo_hal").read(p) for p in (path, source))
    halo = ours["HALO_Time"].values
    assert np.isnan(halo[4]) and flags_of(ours, "HALO_Time")[4] == Flag.MISSING
    np.testing.assert_array_equal(np.delete(halo, 4), np.delete(original["HALO_Time"].values, 4))
    np.testing.assert_array_equal(ours["time"].values, original["time"].values)
    fields[1] = b""  # and now V25_Time, the time column
    lines[5] = b"\t".join(fields)
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(ReaderError, match=r"line 6: empty time in the time column 'V25_Time'"):
        DelimitedReader(preset="fairo_hal").read(path)


def test_an_export_whose_header_lost_its_record_count_is_not_an_empty_export(
    tmp_path: Path,
) -> None:
    """Found by the fuzz test: a damaged byte in ``# columns:`` hid the ``# records: 4``
    line, and the column names alone were read as a valid export of an empty selection."""
    raw = (
        b"# stratoflow 0.1.0 CSV export; times are ISO 8601 UTC\n# columns\x8c\n"
        b'#   time: time (UTC), ISO 8601\n#   O3: {"units": "1e-9"}\n'
        b"# flags: 0 good, 2 limited, 3 bad, 4 not_validated, 7 missing\n# records: 4\ntime,"
    )
    (tmp_path / "damaged.csv").write_bytes(raw)
    with pytest.raises(ReaderError, match=r"damaged.csv: line 8: no data records"):
        DelimitedReader().read(tmp_path / "damaged.csv")
