"""The export benchmark runs end to end on a tiny flight (numbers are not checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_export.py"


def test_benchmark_smoke() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--points", "4000", "--repeat", "1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "ratio" in out and "xarray" in out and "CPUs" in out
