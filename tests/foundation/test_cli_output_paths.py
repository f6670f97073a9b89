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


def _argv(command: str, source: Path | str, target: Path | str) -> list[str]:
    if command == "convert":
        return ["convert", str(source), str(target), "--format", "netcdf"]
    return ["qc", str(source), "--out", str(target)]


@pytest.mark.parametrize("command", ["convert", "qc"])
def test_an_output_that_is_the_input_is_a_usage_error(
    command: str,
    source: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`convert o3.csv o3.csv` or `qc o3.csv --out ./o3.csv` would replace the measurements
    by the result: refused before anything is read, as a usage error (status 2, like any other
    bad output path), naming the path -- also when the output reaches the input through a
    relative path, a symbolic link or a hard link. qc was status 1 and missed hard links,
    convert was status 1."""
    hard = source.with_name("hard.csv")
    os.link(source, hard)
    soft = source.with_name("soft.csv")
    soft.symlink_to(source.name)
    monkeypatch.chdir(source.parent)
    cases = {
        str(source): "the input file",
        f"{source.parent}/./{source.name}": f"the input file {source}",
        source.name: f"the input file {source}",
        str(hard): f"the input file {source}",
        str(soft): f"the input file {source}",
    }
    for target, what in cases.items():
        assert main(_argv(command, source, target)) == 2, target
        err = capsys.readouterr().err
        assert err == (
            f"stratoflow {command}: error: {target}: the output is {what}; "
            "write the result elsewhere\n"
        )
    assert source.read_text() == CSV
    assert sorted(p.name for p in source.parent.iterdir()) == ["hard.csv", "o3.csv", "soft.csv"]
    assert soft.is_symlink()


def test_qc_refuses_to_write_over_its_configuration(
    source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The QC configuration is an input too: `--out` naming it would replace it by netCDF."""
    config = source.with_name("qc.yaml")
    config.write_text("O3:\n  tests:\n    - test: gross_range\n      bad_max: 1000\n")
    argv = ["qc", str(source), "--config", str(config), "--out", str(config)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"stratoflow qc: error: {config}: the output is the QC configuration; "
        "write the result elsewhere\n"
    )
    assert config.read_text().startswith("O3:\n")


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
        with pytest.raises(SystemExit) as exit_:
            main(_argv(command, source, target))
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
