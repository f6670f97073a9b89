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
