"""Shared test fixtures.

``shared_data``: the folder of real public sample files (``../shared/data`` beside the project,
or ``STRATOFLOW_SHARED_DATA``). Tests that need it skip with a clear message when it is absent,
except under ``CI=true``, where its absence is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("STRATOFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared real-data folder (see its MANIFEST.md)."""
    if not (SHARED_DATA / "MANIFEST.md").is_file():
        message = f"real sample data folder {SHARED_DATA} is absent"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required under CI=true)")
        pytest.skip(message)
    return SHARED_DATA
