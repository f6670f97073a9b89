"""The text-reader benchmark runs end to end on a tiny file (numbers are not checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_readers_text.py"


def test_benchmark_smoke() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--rows", "200", "--vars", "3", "--repeat", "1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "faster than nappy" in out
    assert "faster than icartt" in out
