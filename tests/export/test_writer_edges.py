"""Writers at the edges of what they hold: value ranges, types, one-point flights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stratoflow import open_dataset, write_dataset
from stratoflow.dataset import make_dataset


def test_nasa_ames_float32_column_beside_huge_values_is_written_without_overflow(
    tmp_path: Path,
) -> None:
    """One missing value serves all columns: beside values up to 1e200 it has 202 digits,
    beyond float32. Casting it to a float32 column's type overflowed, a RuntimeWarning that
    fails any run with warnings as errors (the test suite's, a strict ops job)."""
    times = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:04"], dtype="datetime64[ns]")
    ds = make_dataset(
        times,
        {
            "big": (np.array([1e200, np.nan]), {"units": "1", "long_name": "huge"}),
            "T": (np.array([np.nan, 215.25], dtype=np.float32), {"units": "K", "long_name": "T"}),
        },
        attrs={"flight_id": "F1"},
    )
    for writer, suffix in (("nasa_ames", ".na"), ("icartt", ".ict")):
        back = open_dataset(write_dataset(ds, tmp_path / f"edge{suffix}", writer=writer))
        np.testing.assert_array_equal(back["big"].values, ds["big"].values)
        np.testing.assert_array_equal(back["T"].values.astype(np.float32), ds["T"].values)


def test_text_writers_stream_the_data_block_instead_of_holding_the_file_as_text(
    tmp_path: Path,
) -> None:
    """A 10 Hz day of 20 variables is hundreds of MB of text: the NASA Ames and ICARTT writers
    built the whole data block as one string, joined it to the header and wrote that, holding
    the file in memory about three times. They write it in pandas' chunks now."""
    import tracemalloc

    n = 10_000
    times = np.datetime64("2024-01-01T00:00:00", "ns") + np.arange(n) * np.timedelta64(100, "ms")
    rng = np.random.default_rng(3)
    variables = {
        f"v{i}": (rng.normal(250.0, 20.0, n), {"units": "K", "long_name": f"value {i}"})
        for i in range(20)
    }
    ds = make_dataset(times, variables, attrs={"flight_id": "F1"})

    def traced(part: Any, path: Path, writer: str) -> tuple[int, int]:
        """(peak bytes allocated while writing ``part``, size of the file)."""
        tracemalloc.start()
        try:
            write_dataset(part, path, writer=writer)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return peak, path.stat().st_size

    for writer, suffix in (("nasa_ames", ".na"), ("icartt", ".ict")):
        path = tmp_path / f"big{suffix}"
        write_dataset(ds.isel(time=slice(0, 2)), path, writer=writer)  # imports done first
        # what a short flight costs (the chunks being formatted, the header) is the same for
        # a long one: what the extra 8000 rows cost is what grows with a flight's length
        short_peak, short_size = traced(ds.isel(time=slice(0, 2000)), path, writer)
        peak, size = traced(ds, path, writer)
        # the numbers are copied (gaps written as the missing value, into one frame), the
        # text is not held: 0.5 bytes more per byte of file here (0.6 for 40000 rows); it
        # was 5 (2.6 for 40000 rows) when the whole block was built as text
        growth = (peak - short_peak) / (size - short_size)
        assert growth < 1.5, (writer, peak, short_peak, size, short_size)
        back = open_dataset(path)
        np.testing.assert_array_equal(back["v7"].values, ds["v7"].values)


def test_icartt_keeps_the_standard_names_of_its_source(tmp_path: Path) -> None:
    """ICARTT 2.0 variable lines are ``name, units, standard name, long name``. The writer
    put the short name in the standard-name field whatever the source said, so reading an
    ICARTT file and writing it again replaced its standard names by short names."""
    times = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:05"], dtype="datetime64[ns]")
    ds = make_dataset(
        times,
        {"O3": (np.array([41.5, 42.0]), {"units": "1e-9", "long_name": "ozone"})},
        attrs={"flight_id": "F1"},
    )
    first = write_dataset(ds, tmp_path / "TEST-O3_B200_20240101_R0.ict", writer="icartt")
    text = first.read_text().replace("O3, 1e-9, O3, ozone", "O3, 1e-9, Ozone_InSitu_ppbv, ozone")
    source = tmp_path / "SRC-O3_B200_20240101_R0.ict"
    source.write_text(text)
    read = open_dataset(source)
    assert read["O3"].attrs["icartt_standard_name"] == "Ozone_InSitu_ppbv"
    again = write_dataset(read, tmp_path / "AGAIN-O3_B200_20240101_R0.ict", writer="icartt")
    assert "O3, 1e-9, Ozone_InSitu_ppbv, ozone" in again.read_text().splitlines()
    assert open_dataset(again)["O3"].attrs["icartt_standard_name"] == "Ozone_InSitu_ppbv"


def test_nasa_ames_keeps_multi_line_attributes_such_as_the_export_history(
    tmp_path: Path,
) -> None:
    """An export's ``history`` names, one line each, the series versions and QC runs that
    went out; the NASA Ames writer left out every attribute of several lines, so the file
    said nothing of its provenance (nor kept the IAGOS ``summary``)."""
    times = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:04"], dtype="datetime64[ns]")
    history = "O3 v2: f.nc read by iagos_netcdf, QC run 7 (auto)\n\nexported by stratoflow 1.0"
    ds = make_dataset(
        times,
        {"O3": (np.array([41.5, 42.0]), {"units": "1e-9", "long_name": "ozone"})},
        attrs={"flight_id": "F1", "history": history, "summary": "first line\r\nsecond line"},
    )
    back = open_dataset(write_dataset(ds, tmp_path / "history.na", writer="nasa_ames"))
    assert back.attrs["history"].split(" | ") == [
        "O3 v2: f.nc read by iagos_netcdf, QC run 7 (auto)",
        "exported by stratoflow 1.0",
    ]
    assert back.attrs["summary"] == "first line | second line"
