"""Usage errors: a wrong option value ends with argparse's usage line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratoflow.cli import main


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("99999", "argument --port: 99999 is not a port number (0-65535)"),
        ("-1", "argument --port: -1 is not a port number (0-65535)"),
        ("http", "argument --port: 'http' is not a port number"),
    ],
)
def test_serve_rejects_a_port_out_of_range(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: 99999 reached the socket's bind() and ended in an OverflowError traceback."""
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--port", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"stratoflow serve: error: {message}"
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["--from", "--to"])
def test_export_names_the_defect_of_a_bad_instant(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: "argument --from: invalid parse_instant value: 'yesterday'", the name of our
    function instead of what is wrong with the value."""
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--format", "csv", "--out", str(tmp_path), option, "yesterday"])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(
        f"stratoflow export: error: argument {option}: 'yesterday' is not an ISO 8601 date/time"
    )
    assert "parse_instant" not in last


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scheduler", "--workers", "0"], "argument --workers: 0 must be at least 1"),
        (["scheduler", "--drivers", "-2"], "argument --drivers: -2 must be at least 1"),
        (["scheduler", "--tick", "0"], "argument --tick: 0 must be a number of seconds above 0"),
        (
            ["scheduler", "--tick", "nan"],
            "argument --tick: nan must be a number of seconds above 0",
        ),
        (["scheduler", "--tick", "soon"], "argument --tick: 'soon' is not a number of seconds"),
        (["worker", "--concurrency", "0"], "argument --concurrency: 0 must be at least 1"),
        (["demo", "--flights", "-1"], "argument --flights: -1 must be at least 1"),
        (["job", "run", "x", "--workers", "0"], "argument --workers: 0 must be at least 1"),
        (["job", "show", "x", "-n", "0"], "argument -n: 0 must be at least 1"),
        (["job", "next", "x", "-n", "many"], "argument -n: 'many' is not a whole number"),
    ],
)
def test_counts_and_durations_that_cannot_work_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: `scheduler --workers 0` started a scheduler with no thread to run its tasks,
    `--tick 0` one that never paused, `demo --flights -1` a demo of nothing."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {message}")


@pytest.mark.parametrize("command", ["inspect", "qc", "convert", "import"])
@pytest.mark.parametrize("item", ["novalue", "=1"])
def test_a_reader_option_that_is_not_key_value_is_a_usage_error(
    command: str, item: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: exit status 1, as if the file had been at fault, after the import command had
    already set up (and migrated) the database."""
    extra = {"qc": ["--out", str(tmp_path / "o.nc")], "convert": [str(tmp_path / "o.nc")]}
    fmt = ["--format", "netcdf"] if command == "convert" else []
    with pytest.raises(SystemExit) as exit_:
        main([command, str(tmp_path / "in.csv"), *extra.get(command, []), *fmt, "-o", item])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == f"stratoflow {command}: error: argument -o/--option: {item!r} is not KEY=VALUE"


def test_an_unknown_evaluation_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: exit status 1 (as if the file were at fault), after the file had been read."""
    status = main(
        [
            "qc",
            str(tmp_path / "absent.csv"),
            "--out",
            str(tmp_path / "o.nc"),
            "--evaluation",
            "wrost",
        ]
    )
    assert status == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("stratoflow qc: error: --evaluation: unknown evaluation 'wrost'; ")
    assert "worst" in last
