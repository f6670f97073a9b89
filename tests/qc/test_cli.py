"""``stratoflow qc FILE --out OUT.nc``: real files in, real netCDF out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xarray as xr

import stratoflow
from stratoflow.cli import main
from stratoflow.flags import Flag
from stratoflow.samples import generate_flight


@pytest.fixture
def flight_file(tmp_path: Path) -> Path:
    flight = generate_flight(4, step_s=4, hours=1.5)
    return stratoflow.write_dataset(flight.dataset, tmp_path / "flight.nc", writer="netcdf")


def test_qc_writes_flags_and_prints_counts(
    flight_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.nc"
    assert main(["qc", str(flight_file), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["evaluation"] == "worst"
    o3 = summary["variables"]["O3"]["flags"]
    assert o3["bad"] > 0 and o3["missing"] > 0 and o3["good"] > 0
    with xr.open_dataset(out) as ds:
        flags = ds["O3_flag"].values
        assert ds["O3_flag"].attrs["flag_meanings"].split()[0] == "good"
        assert int((flags == Flag.BAD).sum()) == o3["bad"]


def test_qc_text_output_and_config_errors(
    flight_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.nc"
    assert main(["qc", str(flight_file), "--out", str(out), "--evaluation", "critical"]) == 0
    text = capsys.readouterr().out
    assert "evaluation: critical" in text and "O3" in text and "not_validated" in text
    bad = tmp_path / "qc.yaml"
    bad.write_text("O3:\n  tests:\n    - test: gross_range\n      bad_max: high\n", "utf-8")
    assert main(["qc", str(flight_file), "--config", str(bad), "--out", str(out)]) == 1
    assert "O3.tests[0].bad_max: must be a number" in capsys.readouterr().err
