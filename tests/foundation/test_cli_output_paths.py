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


@pytest.mark.parametrize("command", ["convert", "qc"])
def test_an_output_path_that_cannot_be_a_file_says_why(
    command: str, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory given as output, or a file used as a folder: one line, no traceback, and
    no temporary file named in it or left behind."""
    folder = source.parent / "results"
    folder.mkdir()
    cases = {
        folder: f"{folder}: is a directory, not a file",
        source / "out.nc": f"{source / 'out.nc'}: {source} is a file, not a directory",
        source / "sub" / "out.nc": f"{source / 'sub' / 'out.nc'}: {source} is a file, not a "
        "directory",
    }
    for target, message in cases.items():
        argv = (
            ["convert", str(source), str(target), "--format", "netcdf"]
            if command == "convert"
            else ["qc", str(source), "--out", str(target)]
        )
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err == f"stratoflow {command}: error: {message}"
    assert sorted(p.name for p in source.parent.iterdir()) == ["o3.csv", "results"]
    assert list(folder.iterdir()) == []
    assert source.read_text() == CSV
