"""``stratoflow qc --config FILE``: a configuration file that cannot be read is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratoflow.cli import main


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # the data file given as --config by mistake: was a UnicodeDecodeError traceback
        (
            b"\x89HDF\r\n\x1a\n\x00\x00",
            "QC configuration must be YAML text, but this is not UTF-8 (byte 0)",
        ),
        # was PyYAML's four-line message quoting "<unicode string>"
        (
            b"profiles: [ozone\n",
            "QC configuration: line 2, column 1: not valid YAML: did not find expected ',' or ']'",
        ),
    ],
)
def test_a_bad_configuration_file_is_one_line_naming_it(
    content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "o3.csv"
    data.write_text("time,O3\n2024-01-01T00:00:00Z,40\n")
    config = tmp_path / "qc.yaml"
    config.write_bytes(content)
    out = tmp_path / "out.nc"
    assert main(["qc", str(data), "--out", str(out), "--config", str(config)]) == 1
    assert capsys.readouterr().err == f"stratoflow qc: error: {config}: {message}\n"
    assert not out.exists()
