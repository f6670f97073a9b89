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
from stratoflow.dataset import data_variables, make_dataset
from stratoflow.flags import Flag

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
    flags = ds["O3_flag"].values
    assert flags[1] == Flag.MISSING and set(flags[[0, 2, 3, 4]]) <= {int(f) for f in Flag}


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
