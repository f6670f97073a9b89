"""Shared test fixtures.

``shared_data``: the folder of real public sample files (``../shared/data`` beside the project,
or ``STRATOFLOW_SHARED_DATA``). Tests that need it skip with a clear message when it is absent,
except under ``CI=true``, where its absence is a failure.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import pytest
from hypothesis import settings

# Tests never touch the user's own stratoflow home (database, staging, secret key): the
# pytest plugin stratoflow.testing (loaded by -p in pyproject.toml, before Django reads its
# settings) gives each test session its own temporary STRATOFLOW_HOME.
assert "stratoflow-test-home-" in os.environ.get("STRATOFLOW_HOME", ""), (
    "run with -p stratoflow.testing"
)

# A transfer waits ``settle`` seconds (default 1) before taking a new file, to see that the
# provider is not still writing it; the tests write their files before fetching, and that
# wait in every test that fetches added minutes to the suite. The tests of the guard
# (tests/transfer/test_settle.py) set their own interval, and check the built-in default.
os.environ.setdefault("STRATOFLOW_SETTLE_SECONDS", "0")

# Property tests (hypothesis) explore new examples on every local run; under CI they run a
# fixed set (derandomize), so that main stays green or red for a reason, never by the draw.
# A failure found locally prints its reproduction blob; add it as an explicit test.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

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


@pytest.fixture(autouse=True, scope="session")
def _flush_postgres_by_delete() -> Iterator[None]:
    """After each transactional test (``django_db(transaction=True)``), Django empties every
    table with one ``TRUNCATE`` of all of them. On PostgreSQL a TRUNCATE makes new files for
    each table and index and waits for the disk: about 0.1 s on an idle machine, 0.6 s on a
    busy one, a quarter of the PostgreSQL pass (~200 such tests). The few rows a test leaves
    are deleted in a fraction of that; Django's foreign keys are deferred, so the order of
    the DELETEs does not matter within the flush's transaction. Same end state: empty tables,
    sequences not reset (as Django's test flush)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(
        self: DatabaseOperations,
        style: object,
        tables: Sequence[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if not tables or reset_sequences or allow_cascade:
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        return ["SET CONSTRAINTS ALL DEFERRED;"] + [
            f"DELETE FROM {self.quote_name(table)};" for table in tables
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


ComplianceFindings = dict[str, dict[str, list[str]]]

#: The checkers a data centre runs on our netCDF files.
COMPLIANCE_CHECKS = ("cf:1.8", "acdd:1.3")


class ComplianceRunner(Protocol):
    def __call__(
        self, path: Path, report: Path, checks: Sequence[str] | None = None
    ) -> tuple[ComplianceFindings, str]: ...


@pytest.fixture(scope="session")
def run_compliance_checker() -> ComplianceRunner:
    """``run(path, report)``: compliance-checker (cf:1.8, acdd:1.3) on ``path`` (see below)."""
    return _run_compliance_checker


def _run_compliance_checker(
    path: Path, report: Path, checks: Sequence[str] | None = None
) -> tuple[ComplianceFindings, str]:
    """compliance-checker (``checks``, by default cf:1.8 and acdd:1.3) on ``path`` as a data
    centre runs it: its CLI.

    Returns, per checker and priority, the failed checks as ``"name: messages"`` lines, and
    the checker's stderr (for callers that want to reject warnings). A test that looks at one
    checker's findings only may run only that one: the CF checker takes about a minute on a
    file of 200 variables (it compares every variable with every other), ACDD some seconds.
    """
    import json
    import subprocess
    import sys

    checker = Path(sys.executable).parent / "compliance-checker"
    tests = [arg for check in checks or COMPLIANCE_CHECKS for arg in ("-t", check)]
    result = subprocess.run(
        [str(checker), *tests, "-f", "json", "-o", str(report), str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert report.is_file(), f"compliance-checker failed: {result.stderr[-2000:]}"
    findings: ComplianceFindings = {
        name: {
            priority: [
                f"{c['name']}: {'; '.join(c['msgs'])}"
                for c in checks[priority]
                if c["msgs"] or c["value"][0] < c["value"][1]
            ]
            for priority in ("high_priorities", "medium_priorities", "low_priorities")
        }
        for name, checks in json.loads(report.read_text()).items()
    }
    return findings, result.stderr


#: The lease time of child processes in multi-process tests (short: takeovers happen fast).
CHILD_LEASE = "1.5"


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    """Environment for child processes: the same (test) database, short leases, and their own
    ``STRATOFLOW_HOME`` (``tmp_path/home``: staging under ``home/staging``)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL shared by several processes (PostgreSQL pass)")
    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    if s.get("PASSWORD"):
        url = url.replace("@", f":{s['PASSWORD']}@", 1)
    return {
        **os.environ,
        "STRATOFLOW_DATABASE_URL": url,
        "STRATOFLOW_LEASE_SECONDS": CHILD_LEASE,
        "STRATOFLOW_HOME": str(tmp_path / "home"),
    }


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Child processes a test starts; those still alive at its end are killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
