"""``stratoflow convert -w KEY=VALUE``: the writer options its own errors tell the user to give."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratoflow.cli import main
from stratoflow.readers import IcarttReader

LOG = (
    "time,State,O3\n"
    "2024-01-01T00:00:00Z,ok,40\n"
    "2024-01-01T00:00:01Z,zero,41\n"
    "2024-01-01T00:00:02Z,ok,42\n"
)


@pytest.mark.parametrize("fmt", ["icartt", "nasa-ames"])
def test_text_columns_can_be_dropped_as_the_error_advises(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An instrument log with a text state column (the FAIRO .OMC, .DAT, .T_P) cannot go to
    ICARTT or NASA Ames; the error says to use the writer option text_variables='drop', and
    convert had no way to pass it."""
    source = tmp_path / "log.csv"
    source.write_text(LOG)
    out = tmp_path / f"log.{fmt}"
    argv = ["convert", str(source), str(out), "--format", fmt]
    assert main(argv) == 1
    assert "text_variables='drop'" in capsys.readouterr().err
    assert main([*argv, "-w", "text_variables=drop"]) == 0
    if fmt == "icartt":
        back = IcarttReader().read(out)
        assert "State" not in back.data_vars
        assert back["O3"].values.tolist() == [40, 41, 42]
    assert out.is_file()


def test_writer_options_are_checked_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "log.csv"
    source.write_text(LOG)
    argv = ["convert", str(source), str(tmp_path / "o.ict"), "--format", "icartt"]
    assert main([*argv, "--writer-option", "no_such_option=1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("stratoflow convert: error: writer 'icartt': invalid options: ")
    assert "no_such_option" in err
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "-w", "novalue"])
    assert exit_.value.code == 2
    assert "argument -w/--writer-option: 'novalue' is not KEY=VALUE" in capsys.readouterr().err
    assert main([*argv, "-w", "text_variables=keep"]) == 1
    assert "text_variables" in capsys.readouterr().err
    assert not (tmp_path / "o.ict").exists()
