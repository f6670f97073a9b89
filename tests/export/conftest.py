"""Fixtures for the export tests: flights imported into the test database, the checker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import LazySettings

from _jobs import join_abandoned

from ._flights import Imported, import_sample


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
def compliance(
    run_compliance_checker: Callable[[Path, Path], tuple[Findings, str]],
) -> Callable[[Path], Findings]:
    """Run compliance-checker (cf:1.8, acdd:1.3) as a data centre would: its command line."""

    def run(path: Path) -> Findings:
        return run_compliance_checker(path, path.with_suffix(".report.json"))[0]

    return run


@pytest.fixture
def leases(settings: LazySettings) -> Iterator[None]:
    """Short leases (an abandoned task is noticed in a few seconds, not a minute); the task
    threads the run left behind are joined before the database goes. Not much shorter: at
    0.6 s (a beat every 0.2 s) two missed beats on a loaded machine let a lease lapse while
    its upload still runs, and the upload is taken for stopped (this module failed twice so
    under load, for reasons not pinned down; 1.5 s costs each test under a second)."""
    from stratoflow.server.workflow import leases

    settings.STRATOFLOW_LEASE_SECONDS = 1.5
    leases.heartbeat().stop()  # a fresh heartbeat beats at that pace from the start
    leases._heartbeat = None
    before = set(threading.enumerate())
    yield
    join_abandoned(before)
