"""How the command is started: ``python -m stratoflow`` is the console script."""

from __future__ import annotations

import subprocess
import sys


def test_python_dash_m_runs_the_command() -> None:
    """Where the console script is not on PATH, ``python -m stratoflow`` is the way in."""
    result = subprocess.run(
        [sys.executable, "-m", "stratoflow", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: stratoflow ")
    for command in ("convert", "import", "inspect", "qc"):
        assert f"    {command} " in result.stdout
    version = subprocess.run(
        [sys.executable, "-m", "stratoflow", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("stratoflow ")
