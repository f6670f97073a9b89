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
    """A directory given as output, a file used as a folder, or a folder that does not exist
    (a typo: the writers would create it and the result land where nobody looks): a usage
    error naming the path, before anything is read, and nothing left behind."""
    folder = source.parent / "results"
    folder.mkdir()
    cases = {
        folder: f"{folder}: is a directory, not a file",
        source / "out.nc": f"{source / 'out.nc'}: the directory {source} is a file, not a "
        "directory",
        folder / "typo" / "out.nc": f"{folder / 'typo' / 'out.nc'}: the directory "
        f"{folder / 'typo'} does not exist",
    }
    option = "output" if command == "convert" else "--out"
    for target, message in cases.items():
        argv = (
            ["convert", str(source), str(target), "--format", "netcdf"]
            if command == "convert"
            else ["qc", str(source), "--out", str(target)]
        )
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        last = capsys.readouterr().err.splitlines()[-1]
        assert last == f"stratoflow {command}: error: argument {option}: {message}"
    assert sorted(p.name for p in source.parent.iterdir()) == ["o3.csv", "results"]
    assert list(folder.iterdir()) == []
    assert source.read_text() == CSV


def test_the_writers_say_why_an_output_cannot_be_a_file(source: Path) -> None:
    """Library callers (and the export manager) reach the writer directly: a directory as the
    target named our hidden .part file, a file as a folder raised FileExistsError."""
    from stratoflow import open_dataset, write_dataset
    from stratoflow.errors import WriterError

    ds = open_dataset(source)
    folder = source.parent / "results"
    folder.mkdir()
    with pytest.raises(WriterError) as error:
        write_dataset(ds, folder)
    assert str(error.value) == f"{folder}: is a directory, not a file"
    with pytest.raises(WriterError) as error:
        write_dataset(ds, source / "sub" / "out.nc")
    assert str(error.value) == f"{source / 'sub' / 'out.nc'}: {source} is a file, not a directory"
    assert sorted(p.name for p in source.parent.iterdir()) == ["o3.csv", "results"]
