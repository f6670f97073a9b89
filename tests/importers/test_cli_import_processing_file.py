"""``stratoflow import --processing FILE``: a bad steps file is one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratoflow.cli import main

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # a netCDF file given by mistake: was a UnicodeDecodeError traceback
        (
            b"\x89HDF\r\n\x1a\n\x00\x00",
            "processing steps must be YAML text, but this is not UTF-8 (byte 0)",
        ),
        # was PyYAML's four-line message quoting "<unicode string>"
        (
            b"- {step: despike\n",
            "processing steps: line 2, column 1: not valid YAML: did not find expected ',' or '}'",
        ),
    ],
)
def test_a_bad_processing_file_is_one_line_naming_it(
    content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "o3.csv"
    data.write_text("time,O3\n2024-01-01T00:00:00Z,40\n")
    steps = tmp_path / "steps.yaml"
    steps.write_bytes(content)
    assert main(["import", str(data), "--processing", str(steps)]) == 1
    err = capsys.readouterr().err
    assert err == f"stratoflow import: error: {steps}: {message}\n"
