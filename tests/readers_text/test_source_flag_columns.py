"""A file's own ``<var>_flag`` column is kept, not overwritten by ``<var>``'s validity flags.

Instruments and providers often ship a status column named like that (``O3_flag`` with 0/1/9).
Every text reader used to let the validity flags it derives for ``O3`` replace it silently.
The files are made with stratoflow's writers and the column renamed in the bytes, so each
format's own reader path is exercised, ICARTT and NASA Ames alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratoflow import open_dataset, write_dataset
from stratoflow.dataset import data_variables, flags_of, make_dataset

STATUS = np.array([1.0, 9.0, 1.0, 1.0, 9.0])
O3 = np.array([40.0, np.nan, 42.0, 43.5, 44.0])


def _file(tmp_path: Path, writer: str, name: str) -> Path:
    t = np.datetime64("2021-06-14T10:00:00", "ns") + np.arange(5) * np.timedelta64(1, "s")
    ds = make_dataset(
        t,
        {
            "O3": (O3, {"units": "1e-9", "long_name": "ozone"}),
            "O3QQQQ": (STATUS, {"units": "1", "long_name": "instrument status"}),
        },
    )
    if writer == "generic-csv":  # a plain table, not stratoflow's export convention
        path = tmp_path / name
        rows = [f"{str(ti)[:19]}Z,{o},{s:g}" for ti, o, s in zip(t, O3, STATUS, strict=True)]
        path.write_text("time,O3,O3_flag\n" + "\n".join(rows).replace("nan", "") + "\n")
        return path
    path = write_dataset(ds, tmp_path / name, writer=writer)
    path.write_bytes(path.read_bytes().replace(b"O3QQQQ", b"O3_flag"))
    return path


@pytest.mark.parametrize(
    ("writer", "name"),
    [("icartt", "TEST-O3_B200_20210614_R0.ict"), ("nasa_ames", "O3_20210614.na"),
     ("generic-csv", "o3.csv")],
)  # fmt: skip
def test_a_status_column_named_like_flags_is_kept(tmp_path: Path, writer: str, name: str) -> None:
    ds = open_dataset(_file(tmp_path, writer, name))
    assert data_variables(ds) == ["O3"]
    np.testing.assert_array_equal(ds["O3_flag_original"].values, STATUS)
    assert ds["O3_flag_original"].attrs["original_name"] == "O3_flag"
    assert "O3_flag_original" in ds["O3"].attrs["ancillary_variables"].split()
    assert "O3_flag" not in ds  # the file gives O3 no validity flags: none are made up
    assert flags_of(ds, "O3").tolist() == [4, 7, 4, 4, 4]


def test_a_column_holding_validity_codes_is_still_read_as_flags() -> None:
    """Our own writers' ``<var>_flag`` columns (IAGOS codes) stay the flags."""
    t = np.datetime64("2021-06-14T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    codes = np.array([0, 3, 7], dtype=np.uint8)
    ds = make_dataset(
        t,
        {
            "O3": (np.array([1.0, 2.0, np.nan]), {"units": "1e-9"}),
            "O3_flag": (codes, {"units": "1"}),
        },
    )
    np.testing.assert_array_equal(ds["O3_flag"].values, codes)
    assert "O3_flag_original" not in ds


def test_a_column_named_time_that_is_not_the_time_is_kept(tmp_path: Path) -> None:
    """``time`` is the coordinate's name; a data column of that name becomes time_original."""
    from stratoflow.readers import DelimitedReader

    path = tmp_path / "t.csv"
    path.write_text("Start_UTC,time,O3\n2024-01-01T00:00:00Z,5,40\n2024-01-01T00:00:01Z,6,41\n")
    ds = DelimitedReader(time_column="Start_UTC").read(path)
    np.testing.assert_array_equal(ds["time_original"].values, [5.0, 6.0])
    assert ds["time_original"].attrs["original_name"] == "time"
    assert str(ds["time"].values[0]) == "2024-01-01T00:00:00.000000000"
    assert sorted(data_variables(ds)) == ["O3", "time_original"]


CODES_BY_CHANCE = np.array([0.0, 2.0, 3.0, 0.0, 4.0])  # a status whose codes are IAGOS ones


def _foreign(tmp_path: Path, writer: str, name: str, column: np.ndarray) -> Path:
    """A file as another provider writes it: no word that its flag columns are IAGOS codes."""
    t = np.datetime64("2021-06-14T10:00:00", "ns") + np.arange(5) * np.timedelta64(1, "s")
    ds = make_dataset(
        t,
        {
            "O3": (O3, {"units": "1e-9", "long_name": "ozone"}),
            "O3QQQQ": (column, {"units": "1", "long_name": "instrument status"}),
        },
    )
    path = write_dataset(ds, tmp_path / name, writer=writer)
    raw = path.read_bytes().replace(b"O3QQQQ", b"O3_flag")
    raw = raw.replace(b"stratoflow NASA Ames 1001", b"CARIBIC_NAmes_v02")
    raw = raw.replace(b"N/A; flags are IAGOS validity", b"N/A; flags are other validity")
    raw = raw.replace(b"DATA_INFO: flags are IAGOS validity", b"DATA_INFO: flags are some valid")
    assert b"IAGOS" not in raw and b"stratoflow NASA Ames" not in raw
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize(
    ("writer", "name"),
    [("icartt", "TEST-O3_B200_20210614_R0.ict"), ("nasa_ames", "O3_20210614.na")],
)
def test_status_codes_that_merely_look_like_iagos_codes_are_kept(
    tmp_path: Path, writer: str, name: str
) -> None:
    """0/2/3/4 beside an ozone gap that the column does not call missing: not IAGOS flags."""
    ds = open_dataset(_foreign(tmp_path, writer, name, CODES_BY_CHANCE))
    assert data_variables(ds) == ["O3"]
    np.testing.assert_array_equal(ds["O3_flag_original"].values, CODES_BY_CHANCE)
    assert "O3_flag" not in ds  # no validity flags in the file, none made up
    consistent = np.array([0.0, 7.0, 2.0, 3.0, 4.0])  # the IAGOS scheme: 7 exactly at the gap
    ds = open_dataset(_foreign(tmp_path, writer, "2" + name, consistent))
    np.testing.assert_array_equal(ds["O3_flag"].values, consistent)
    assert "O3_flag_original" not in ds


def test_a_column_with_another_schemes_meanings_is_not_validity_flags() -> None:
    """flag_meanings decide over codes that happen to be IAGOS ones (a cloud type)."""
    t = np.datetime64("2021-06-14T10:00:00", "ns") + np.arange(3) * np.timedelta64(1, "s")
    codes = np.array([0, 3, 7], dtype=np.uint8)
    cloud = {
        "units": "1",
        "flag_values": np.array([0, 2, 3, 4, 7], dtype=np.uint8),
        "flag_meanings": "clear cirrus cumulus stratus unknown",
    }
    ds = make_dataset(
        t,
        {"O3": (np.array([1.0, 2.0, np.nan]), {"units": "1e-9"}), "O3_flag": (codes, cloud)},
    )
    np.testing.assert_array_equal(ds["O3_flag_original"].values, codes)
    assert "O3_flag" not in ds
    iagos = {**cloud, "flag_meanings": "good limited erroneous not_validated missing_values"}
    ds = make_dataset(
        t,
        {"O3": (np.array([1.0, 2.0, np.nan]), {"units": "1e-9"}), "O3_flag": (codes, iagos)},
    )
    np.testing.assert_array_equal(ds["O3_flag"].values, codes)
