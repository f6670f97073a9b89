"""A file the provider deletes between listing and download: its "not found" (HTTP 404/410,
FTP 550, SFTP no such file) is confirmed by a fresh listing and ends as "gone at provider",
at once, instead of failing on every retry; a transient error before it is still retried, and
a file that is still listed (a broken link, an unreadable file) still fails.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stratoflow.errors import GoneError, TransferError
from stratoflow.samples import write_sample_flights
from stratoflow.transfer import (
    DataProvider,
    HttpPortal,
    LocalDirectory,
    RemoteItem,
    StagingArea,
    TransferHandler,
)
from stratoflow.transfer.auth.none import NoAuth

from ._helpers import import_job, portal_options, tasks_by_subject
from ._portal import Portal
from .conftest import FAST_RETRY
from .test_faults import assert_staging_clean
from .test_faults_sftp_ftp import Remote, remote, seeded  # noqa: F401 (fixtures)

PROVIDER = DataProvider(name="Tidy DC")


def _http(portal: Portal) -> TransferHandler:
    transfer = HttpPortal(base_url=portal.url, list_path="api/files", timeout=5)
    return TransferHandler(transfer=transfer, auth=NoAuth(), provider=PROVIDER, retry=FAST_RETRY)


def _fetch(handler: TransferHandler, staging: StagingArea) -> tuple[list[str], dict[str, Any]]:
    failures: dict[str, TransferError] = {}

    def failed(item: RemoteItem, exc: TransferError) -> None:
        failures[item.identity] = exc

    staged = handler.fetch_new(staging, on_failure=failed)
    return sorted(s.identity for s in staged), failures


@pytest.mark.parametrize("fault", ["vanish", "vanish-410"])
def test_http_file_deleted_after_listing_is_gone_at_provider(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path, fault: str
) -> None:
    (remote_root / "a.nc").write_bytes(b"a")
    (remote_root / "b.nc").write_bytes(b"b")
    portal = portal_factory(faults={"a.nc": [fault]})
    staging = StagingArea(tmp_path / "staging")
    staged, failures = _fetch(_http(portal), staging)
    assert staged == ["b.nc"]
    exc = failures["a.nc"]
    assert isinstance(exc, GoneError), repr(exc)
    assert "gone at provider" in str(exc) and "Tidy DC" in str(exc)
    assert ("HTTP 410" if fault.endswith("410") else "HTTP 404") in str(exc)
    assert portal.requests.count("GET /files/a.nc") == 1  # not retried
    assert_staging_clean(staging)


def test_a_transient_error_is_retried_before_the_file_is_found_gone(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "a.nc").write_bytes(b"a")
    portal = portal_factory(faults={"a.nc": ["503", "vanish"]})
    staged, failures = _fetch(_http(portal), StagingArea(tmp_path / "staging"))
    assert staged == [] and isinstance(failures["a.nc"], GoneError)
    assert portal.requests.count("GET /files/a.nc") == 2


def test_a_file_still_listed_that_answers_404_is_not_gone(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "a.nc").write_bytes(b"a")
    portal = portal_factory(faults={"a.nc": ["404"]})
    _, failures = _fetch(_http(portal), StagingArea(tmp_path / "staging"))
    exc = failures["a.nc"]
    assert type(exc) is TransferError, repr(exc)
    assert "HTTP 404" in str(exc) and "still lists it" in str(exc)


def test_without_on_failure_a_gone_file_is_skipped(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "a.nc").write_bytes(b"a")
    (remote_root / "b.nc").write_bytes(b"b")
    portal = portal_factory(faults={"a.nc": ["vanish"]})
    staged = _http(portal).fetch_new(StagingArea(tmp_path / "staging"))
    assert [s.identity for s in staged] == ["b.nc"]


def test_sftp_ftp_file_deleted_after_listing_is_gone_at_provider(
    remote: Remote,  # noqa: F811
    seeded: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    remote.faults["b.nc"] = ["vanish"]
    staging = StagingArea(tmp_path / "staging")
    staged, failures = _fetch(remote.handler(), staging)
    assert staged == ["a.nc", "c.nc"]
    exc = failures["b.nc"]
    assert isinstance(exc, GoneError), repr(exc)
    assert "gone at provider" in str(exc)
    assert ("550" if remote.kind == "ftp" else "No such file") in str(exc)
    assert remote.asked.count("b.nc") == 1
    assert_staging_clean(staging)


# -- the job: the task of a file gone at the provider ends as such --


@pytest.mark.django_db(transaction=True)
def test_the_task_of_a_file_gone_at_provider_is_skipped_not_failed(
    remote_root: Path, portal_factory: Callable[..., Portal], staging_dir: Path
) -> None:
    from stratoflow.server.workflow.services import job_run
    from stratoflow.server.workflow.transfers import GONE

    names = sorted(p.name for p in write_sample_flights(remote_root, 2))
    portal = portal_factory(faults={names[0]: ["vanish"]})
    job = import_job("tidy", "http", portal_options(portal.url))
    report = job_run(job)
    assert report.state == "succeeded", report.managers[0].errors
    tasks = tasks_by_subject(job)
    gone = tasks[names[0]]
    assert gone.state == "skipped" and gone.details["outcome"] == GONE
    assert names[0] in gone.details["note"] and "404" in gone.details["note"]
    assert tasks[names[1]].state == "done"


@pytest.mark.django_db(transaction=True)
def test_a_retry_ends_the_task_of_a_file_deleted_since_it_failed_as_gone(
    remote_root: Path, portal_factory: Callable[..., Portal], staging_dir: Path
) -> None:
    """404 while still listed fails the task; the provider then deletes the file: the retry
    sees that (fresh listing) instead of failing with the old 404 again and again."""
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.services import job_run, run_execute, run_retry_failed
    from stratoflow.server.workflow.transfers import GONE

    names = sorted(p.name for p in write_sample_flights(remote_root, 2))
    portal = portal_factory(faults={names[0]: ["404"]})
    job = import_job("tidy", "http", portal_options(portal.url))
    report = job_run(job)
    assert report.state == "failed"
    failed = tasks_by_subject(job)[names[0]]
    assert failed.state == "failed" and "still lists it" in failed.error
    (remote_root / names[0]).unlink()  # the provider cleans up
    run = JobRun.objects.get(pk=report.run_id)
    assert run_retry_failed(run) == 1
    again = run_execute(run)
    assert again.state == "succeeded", again.managers[0].errors
    task = tasks_by_subject(job)[names[0]]
    assert task.state == "skipped" and task.details["outcome"] == GONE


def test_a_local_file_deleted_after_listing_is_gone(tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "a.nc").write_bytes(b"a")
    transfer = LocalDirectory(root=str(folder))
    with transfer.connect(NoAuth()) as conn:
        [item] = conn.list()
        (folder / "a.nc").unlink()
        with pytest.raises(GoneError, match=r"cannot read a\.nc"):
            conn.get(item, io.BytesIO())
