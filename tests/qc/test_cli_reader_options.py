"""``stratoflow qc`` reads its file like ``inspect`` and ``convert``: ``--reader`` and ``-o``."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from stratoflow.cli import main


def test_qc_passes_reader_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A reader error tells the user to pass an option such as time_unit=...; the command they
    ran must take it."""
    source = tmp_path / "o3.csv"
    source.write_text("time,O3\n2024-01-01T00:00:00Z,40\n2024-01-01T00:00:01Z,41\n")
    out = tmp_path / "o3_qc.nc"
    argv = ["qc", str(source), "--out", str(out), "--reader", "delimited"]
    assert main([*argv, "-o", 'long_names={"O3": "ozone at the inlet"}', "--json"]) == 0
    capsys.readouterr()
    with xr.open_dataset(out) as written:
        assert written["O3"].attrs["long_name"] == "ozone at the inlet"
    assert main([*argv, "--option", "no_such_option=1"]) == 1
    assert "no_such_option" in capsys.readouterr().err
