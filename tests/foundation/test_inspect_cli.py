"""``stratoflow inspect`` on real files: guessing, reader options, warnings, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stratoflow.cli import main


def test_fairo_logs_are_read_with_their_preset_by_suffix(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, points in [("11_30_04.OMC", 450), ("11_30_01.HAL", 1800), ("11_30_01.T_P", 900)]:
        assert main(["inspect", str(shared_data / "fairo_raw" / name), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["reader"] == "delimited"
        assert summary["points"] == points


def test_reader_options_are_checked(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    omc = str(shared_data / "fairo_raw" / "11_30_04.OMC")
    assert main(["inspect", omc, "-o", "preset=fairo_omc", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["points"] == 450
    assert main(["inspect", omc, "-o", "no_such_option=1"]) == 1
    assert "no_such_option" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # a malformed argument: a usage error
        main(["inspect", omc, "-o", "novalue"])
    assert exit_.value.code == 2
    assert "argument -o/--option: 'novalue' is not KEY=VALUE" in capsys.readouterr().err


def test_defective_file_gives_one_line_naming_file_and_line(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = shared_data / "caribic_nasa_ames" / "OM_20200304_591_CPT_MUC_V01_invalid2.txt"
    assert main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "invalid2.txt" in err
    assert "line" in err


def test_warnings_are_one_readable_line(shared_data: Path) -> None:
    flags = shared_data / "icartt" / "ACTAMERICA-flag-metadata_B200_20170308_R0_L2.ict"
    stratoflow = str(Path(sys.executable).parent / "stratoflow")
    result = subprocess.run([stratoflow, "inspect", str(flags)], capture_output=True, text=True)
    assert result.returncode == 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("stratoflow: warning: ")
    assert "trailing garbage" in lines[0]


@pytest.mark.parametrize("command", ["inspect", "qc"])
def test_a_path_that_is_no_file_says_what_it_is(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out", str(tmp_path / "out.nc")] if command == "qc" else []
    cases = {
        str(tmp_path): f"{tmp_path}: is a directory, not a file",
        str(tmp_path / "nope.nc"): f"{tmp_path / 'nope.nc'}: no such file",
        str(tmp_path / "nope.unknown"): f"{tmp_path / 'nope.unknown'}: no such file",
        "": "no file given (the path is empty)",
    }
    for path, message in cases.items():
        assert main([command, path, *out]) == 1
        err = capsys.readouterr().err.strip()
        assert err.endswith(message), err
        assert ": :" not in err
    for path in (str(tmp_path), str(tmp_path / "nope.nc")):  # a named reader says the same
        assert main([command, path, "--reader", "iagos_netcdf", *out]) == 1
        assert capsys.readouterr().err.strip().endswith(cases[path])
    assert not (tmp_path / "out.nc").exists()


def test_a_closed_pipe_ends_the_command_quietly(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`stratoflow inspect F | head -1`: the reader of the pipe leaves early; that is no error
    of ours, so no traceback, and the shell's usual status for it (128 + SIGPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w", buffering=1) as closed:
        monkeypatch.setattr(sys, "stdout", closed)
        status = main(["inspect", str(shared_data / "fairo_raw" / "11_30_01.T_P")])
        monkeypatch.undo()
    assert status == 141
    assert "Traceback" not in capsys.readouterr().err


def test_a_converted_file_is_shown_by_its_own_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "o3.csv"
    source.write_text("time,O3\n2024-01-01T00:00:00Z,40\n2024-01-01T00:00:01Z,41\n")
    assert main(["convert", "--format", "netcdf", str(source), str(tmp_path / "o3.nc")]) == 0
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "o3.nc")]) == 0
    assert capsys.readouterr().out.startswith("o3.nc  (reader: cf_netcdf, converted from o3.csv)")
    assert main(["inspect", "--json", str(tmp_path / "o3.nc")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["file"], info["converted_from"]) == ("o3.nc", "o3.csv")
    assert main(["inspect", "--json", str(source)]) == 0
    assert "converted_from" not in json.loads(capsys.readouterr().out)
