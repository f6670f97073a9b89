"""Writers at the edges of what they hold: value ranges, types, one-point flights."""

from __future__ import annotations

from pathlib import Path

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
