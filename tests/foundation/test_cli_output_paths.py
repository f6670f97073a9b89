"""Where a command writes: a bad output path is one clear line, and never costs the input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stratoflow.cli import main

CSV = "time,O3\n2024-01-01T00:00:00Z,40\n2024-01-01T00:00:01Z,41\n"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "o3.csv"
    path.write_text(CSV)
    return path


def test_convert_refuses_to_write_over_its_input(
    source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`convert o3.csv o3.csv` would replace the measurements by the converted copy."""
    link = source.with_name("same.csv")
    os.link(source, link)
    for target in (source, source.parent / "." / source.name, link):
        assert main(["convert", str(source), str(target), "--format", "netcdf"]) == 1
        err = capsys.readouterr().err.strip()
        assert err == (
            f"stratoflow convert: error: {target}: the output is the input file; "
            "write the result elsewhere"
        )
    assert source.read_text() == CSV
