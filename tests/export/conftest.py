"""Fixtures for the export tests: flights imported into the test database, the checker."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import LazySettings

from ._flights import Imported, import_sample

CHECKER = Path(sys.executable).parent / "compliance-checker"


@pytest.fixture
def home(tmp_path: Path, settings: LazySettings) -> Path:
    """A stratoflow home of the test's own (outboxes, staging)."""
    settings.HOME = tmp_path / "home"
    settings.STAGING_DIR = tmp_path / "home" / "staging"
    return tmp_path / "home"


@pytest.fixture
def imported(tmp_path: Path) -> Imported:
    """One half-hour 1 Hz flight imported with QC (not yet reviewed)."""
    return import_sample(tmp_path, seed=11)


Findings = dict[str, dict[str, list[str]]]


@pytest.fixture(scope="session")
def compliance() -> Callable[[Path], Findings]:
    """Run compliance-checker (cf:1.8, acdd:1.3) as a data centre would: its command line."""

    def run(path: Path) -> Findings:
        report = path.with_suffix(".report.json")
        result = subprocess.run(
            [
                str(CHECKER),
                "-t",
                "cf:1.8",
                "-t",
                "acdd:1.3",
                "-f",
                "json",
                "-o",
                str(report),
                str(path),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=240,
        )
        assert report.is_file(), f"compliance-checker failed: {result.stderr[-2000:]}"
        data = json.loads(report.read_text())
        out: Findings = {}
        for checker, checks in data.items():
            out[checker] = {
                priority: [
                    f"{c['name']}: {'; '.join(c['msgs'])}"
                    for c in checks[priority]
                    if c["msgs"] or c["value"][0] < c["value"][1]
                ]
                for priority in ("high_priorities", "medium_priorities", "low_priorities")
            }
        return out

    return run
