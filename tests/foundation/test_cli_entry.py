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


def test_setting_up_django_leaves_the_heavy_numerics_for_when_they_are_used() -> None:
    """Every command that touches the database (job, worker, scheduler, manage...) sets up
    Django, whose apps reach the processing modules through the QC configuration. scipy's
    signal processing and pint's unit registry cost more than a second of each such start
    (and of each CLI process the tests start); they are imported on first use instead."""
    probe = (
        "import sys; from stratoflow.server import setup; setup(); "
        "import stratoflow.processing, stratoflow.qc; "
        "print(sorted(m for m in ('scipy.signal', 'scipy.stats', 'pint') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    used = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stratoflow.processing import convert; import sys; "
            "print(convert([20.0], 'degC', 'K')[0], 'pint' in sys.modules)",
        ],
        capture_output=True,
        text=True,
    )
    assert used.returncode == 0, used.stderr
    assert used.stdout.split() == ["293.15", "True"]
