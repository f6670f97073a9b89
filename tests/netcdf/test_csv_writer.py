"""CSV writer: metadata header, ISO 8601 UTC times, values read back identically by pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stratoflow.errors import ConfigError
from stratoflow.writers.csv import CsvWriter, iso_times


def _read(path: Path, sep: str = ",") -> pd.DataFrame:
    return pd.read_csv(path, comment="#", sep=sep)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_read_back_with_pandas(flight: xr.Dataset, tmp_path: Path, delimiter: str) -> None:
    path = CsvWriter(delimiter=delimiter).write(flight, tmp_path / "flight.csv")
    frame = _read(path, delimiter)
    times = pd.to_datetime(frame["time"], utc=True).dt.tz_localize(None).to_numpy()
    np.testing.assert_array_equal(times, flight["time"].values)
    for name in flight.data_vars:
        np.testing.assert_array_equal(frame[str(name)].to_numpy(), flight[name].values)
    assert list(frame.columns) == ["time", *map(str, flight.data_vars)]


def test_csv_header_and_time_format(flight: xr.Dataset, tmp_path: Path) -> None:
    text = CsvWriter().write(flight, tmp_path / "flight.csv").read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert "# platform: Aircraft, IAGOS-01, D-AIGT, Lufthansa" in header
    assert "# licence: CC-BY-4.0" in header
    assert any(
        line.startswith("#   O3: units=ppb; long_name=ozone mole fraction") for line in header
    )
    assert "# flags: 0 good, 2 limited, 3 bad, 4 not_validated, 7 missing" in header
    first_row = text.splitlines()[len(header) + 1]
    assert first_row.startswith("2024-03-01T23:50:00Z,")
    assert ",," in text  # missing values are empty fields


def test_csv_without_header(flight: xr.Dataset, tmp_path: Path) -> None:
    text = CsvWriter(header=False).write(flight, tmp_path / "f.csv").read_text()
    assert text.startswith("time,O3,")


def test_iso_times_keep_sub_second_precision() -> None:
    times = np.array(["2024-01-01T00:00:00.250", "2024-01-01T00:00:01"], dtype="datetime64[ns]")
    assert iso_times(times).tolist() == ["2024-01-01T00:00:00.250Z", "2024-01-01T00:00:01.000Z"]


def test_csv_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="delimiter"):
        CsvWriter(delimiter="|")
