"""``stratoflow export -w KEY=VALUE``: the writer option its own error advises can be given."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratoflow.cli import main
from stratoflow.readers import IcarttReader

pytestmark = pytest.mark.django_db(transaction=True)

LOG = (
    "time,State,O3\n"
    "2024-01-01T00:00:00Z,ok,40\n"
    "2024-01-01T00:00:01Z,zero,41\n"
    "2024-01-01T00:00:02Z,ok,42\n"
)


def test_text_columns_can_be_left_out_of_an_icartt_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FAIRO log (text State column) imported, then exported as ICARTT: refused with the
    advice "writer option text_variables='drop'", which export had no way to take."""
    source = tmp_path / "fairo.csv"
    source.write_text(LOG)
    assert main(["import", str(source), "--no-qc"]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    argv = ["export", "--flight", "fairo", "--level", "any", "--format", "icartt"]
    assert main([*argv, "--out", str(out)]) == 1
    assert "text_variables='drop'" in capsys.readouterr().err
    assert main([*argv, "--out", str(out), "-w", "text_variables=drop"]) == 0
    (written,) = out.iterdir()
    back = IcarttReader().read(written)
    assert "State" not in back.data_vars
    assert back["O3"].values.tolist() == [40, 41, 42]


def test_export_checks_writer_options_before_touching_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["export", "--format", "icartt", "--out", str(tmp_path / "out")]
    assert main([*argv, "-w", "no_such_option=1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("stratoflow export: error: writer 'icartt': invalid options: ")
    assert "no_such_option" in err
    assert not (tmp_path / "out").exists()
