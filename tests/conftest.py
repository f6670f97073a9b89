"""Shared test fixtures.

``shared_data``: the folder of real public sample files (``../shared/data`` beside the project,
or ``STRATOFLOW_SHARED_DATA``). Tests that need it skip with a clear message when it is absent,
except under ``CI=true``, where its absence is a failure.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Tests never touch the user's own stratoflow home (database, staging, secret key).
os.environ.setdefault("STRATOFLOW_HOME", tempfile.mkdtemp(prefix="stratoflow-test-home-"))

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


@pytest.fixture(autouse=True, scope="session")
def _require_postgres_when_asked(django_db_setup: None, django_db_blocker: object) -> None:
    """In the PostgreSQL pass, prove the tests really run on PostgreSQL (never a silent skip)."""
    if os.environ.get("STRATOFLOW_REQUIRE_POSTGRES") == "1":
        from django.db import connection

        assert connection.vendor == "postgresql", (
            f"PostgreSQL pass is running on {connection.vendor}; check STRATOFLOW_DATABASE_URL"
        )
