"""A download cut short is resumed where it stopped (HTTP ``Range``, SFTP offset, FTP ``REST``),
never stitched from two versions of a file; what a run that gave up got is resumed by the next.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from stratoflow.errors import GoneError, TransferError, TransientTransferError
from stratoflow.transfer import (
    DataProvider,
    FTPServer,
    HttpPortal,
    RetryPolicy,
    SFTPServer,
    StagingArea,
    TransferHandler,
)
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.auth.none import NoAuth
from stratoflow.transfer.auth.ssh import SSHAuth
from stratoflow.transfer.secrets import Secret

from ._ftp_server import FTPTestServer
from ._portal import Portal
from ._sftp_server import SFTPTestServer
from .conftest import FAST_RETRY, FTP_PASSWORD, FTP_USER, SFTP_PASSWORD, SFTP_USER
from .test_faults import assert_staging_clean

BIG = os.urandom(3 << 20)
CUT = 1 << 20
PROVIDER = DataProvider(name="Flaky Link DC")


def _http(portal: Portal, retry: RetryPolicy = FAST_RETRY, **options: object) -> TransferHandler:
    transfer = HttpPortal(base_url=portal.url, list_path="api/files", timeout=5, **options)  # type: ignore[arg-type]
    return TransferHandler(transfer=transfer, auth=NoAuth(), provider=PROVIDER, retry=retry)


def test_http_download_cut_short_is_resumed_with_a_range_request(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "big.nc").write_bytes(BIG)
    portal = portal_factory(ranges=True, faults={"big.nc": ["drop"]})
    staging = StagingArea(tmp_path / "staging")
    [staged] = _http(portal).fetch_new(staging)
    assert staged.path.read_bytes() == BIG
    first, second = portal.range_requests
    assert first is None
    assert second is not None and second.startswith("bytes=") and second != "bytes=0-"
    assert_staging_clean(staging)


def test_http_resume_never_stitches_two_versions(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """The file changed after the cut: If-Range makes the server send the new one whole."""
    (remote_root / "big.nc").write_bytes(BIG)
    portal = portal_factory(ranges=True, faults={"big.nc": ["drop-and-change"]})
    staging = StagingArea(tmp_path / "staging")
    [staged] = _http(portal).fetch_new(staging)
    assert staged.path.read_bytes() == (remote_root / "big.nc").read_bytes() != BIG
    assert_staging_clean(staging)


def test_http_portal_without_ranges_starts_over(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "big.nc").write_bytes(BIG)
    portal = portal_factory(faults={"big.nc": ["drop", "drop"]})
    staging = StagingArea(tmp_path / "staging")
    [staged] = _http(portal, sha256_field="sha256").fetch_new(staging)
    assert staged.path.read_bytes() == BIG
    assert_staging_clean(staging)


@pytest.mark.parametrize("report", [False, True], ids=["raised", "on_failure"])
def test_a_run_that_gives_up_keeps_the_bytes_and_the_next_run_resumes(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path, report: bool
) -> None:
    """The server keeps cutting the connection until the run gives up on the file (raised, or
    reported to ``on_failure`` as a job does): the bytes that arrived stay with their
    checkpoint, nothing is staged, and the next run asks only for the rest. Dropping them
    made every run start from zero, so a large file over a link that drops never arrived."""
    (remote_root / "big.nc").write_bytes(BIG)
    portal = portal_factory(ranges=True, faults={"big.nc": ["drop"] * 2})
    staging = StagingArea(tmp_path / "staging")
    handler = _http(portal, retry=RetryPolicy(attempts=2, base=0.01))
    failures: list[TransferError] = []
    if report:
        assert handler.fetch_new(staging, on_failure=lambda _, exc: failures.append(exc)) == []
        [failure] = failures
        assert isinstance(failure, TransientTransferError)
    else:
        with pytest.raises(TransientTransferError):
            handler.fetch_new(staging)
    assert staging.files() == []
    kept = sorted(p.name for p in (staging.root / ".partial").iterdir())
    assert len(kept) == 2 and kept[1] == kept[0] + ".state"
    assert portal.range_requests == [None, f"bytes={len(BIG) // 2}-"]
    portal.range_requests.clear()

    again = StagingArea(staging.root)  # the next run
    [staged] = handler.fetch_new(again)
    assert staged.path.read_bytes() == BIG
    assert portal.range_requests == [f"bytes={len(BIG) // 2}-"]
    assert_staging_clean(again)


def test_bytes_kept_by_a_run_that_gave_up_are_dropped_when_the_file_is_gone(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """The next run is told the file is gone (404, confirmed by the listing): no use for them."""
    (remote_root / "big.nc").write_bytes(BIG)
    (remote_root / "other.nc").write_bytes(b"other")
    portal = portal_factory(ranges=True, faults={"big.nc": ["drop", "vanish"]})
    staging = StagingArea(tmp_path / "staging")
    handler = _http(portal, retry=RetryPolicy(attempts=1))
    failures: list[TransferError] = []
    [other] = handler.fetch_new(staging, on_failure=lambda _, exc: failures.append(exc))
    assert other.identity == "other.nc" and len(failures) == 1
    assert list((staging.root / ".partial").iterdir())

    failures.clear()
    again = StagingArea(staging.root)
    assert handler.fetch_new(again, on_failure=lambda _, exc: failures.append(exc)) == []
    [gone] = failures
    assert isinstance(gone, GoneError)
    assert_staging_clean(again)


# paramiko's read-ahead thread dies with EOFError when the server hangs up (see the same mark
# in test_faults_sftp_ftp.py); the download itself fails cleanly in the caller
@pytest.mark.filterwarnings(
    r"ignore:Exception in thread .*\(_prefetch_thread\)"
    ":pytest.PytestUnhandledThreadExceptionWarning"
)
def test_sftp_download_cut_short_is_resumed_at_its_offset(
    remote_root: Path, sftp_server: SFTPTestServer, known_hosts: Path, tmp_path: Path
) -> None:
    (remote_root / "big.nc").write_bytes(BIG)
    sftp_server.faults.queues["big.nc"] = [f"drop:{CUT}"]
    transfer = SFTPServer(
        host="127.0.0.1", port=sftp_server.port, known_hosts=str(known_hosts), timeout=5
    )
    auth = SSHAuth(username=SFTP_USER, password=Secret.from_value(SFTP_PASSWORD))
    handler = TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)
    staging = StagingArea(tmp_path / "staging")
    [staged] = handler.fetch_new(staging)
    assert staged.path.read_bytes() == BIG
    (_, first), (_, second) = sftp_server.faults.first_reads
    assert first == 0 and 0 < second <= CUT
    assert_staging_clean(staging)


def test_ftp_download_cut_short_is_resumed_with_rest(
    remote_root: Path, ftp_test_server: FTPTestServer, tmp_path: Path
) -> None:
    (remote_root / "big.nc").write_bytes(BIG)
    ftp_test_server.faults["big.nc"] = [f"drop:{CUT}"]
    transfer = FTPServer(host="127.0.0.1", port=ftp_test_server.port, timeout=5)
    auth = FTPLoginAuth(username=FTP_USER, password=Secret.from_value(FTP_PASSWORD))
    handler = TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)
    staging = StagingArea(tmp_path / "staging")
    [staged] = handler.fetch_new(staging)
    assert staged.path.read_bytes() == BIG
    assert len(ftp_test_server.rests) == 1 and 0 < int(ftp_test_server.rests[0]) <= CUT
    assert_staging_clean(staging)


@pytest.mark.filterwarnings(
    r"ignore:Exception in thread .*\(_prefetch_thread\)"
    ":pytest.PytestUnhandledThreadExceptionWarning"
)
def test_sftp_connection_closes_quietly_after_the_server_hung_up(
    remote_root: Path, sftp_server: SFTPTestServer, known_hosts: Path, tmp_path: Path
) -> None:
    """Closing right after the server hung up (what a retry does) raised EOFError from
    paramiko now and then, which ended the whole fetch instead of retrying."""
    (remote_root / "big.nc").write_bytes(BIG)
    transfer = SFTPServer(
        host="127.0.0.1", port=sftp_server.port, known_hosts=str(known_hosts), timeout=5
    )
    auth = SSHAuth(username=SFTP_USER, password=Secret.from_value(SFTP_PASSWORD))
    [item] = TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER).list()
    for _ in range(8):  # the race is lost often, not always
        sftp_server.faults.queues["big.nc"] = [f"drop:{CUT}"]
        conn = transfer.connect(auth)
        with pytest.raises(TransientTransferError):
            conn.get(item, io.BytesIO())
        conn.close()


def test_http_resume_from_a_server_that_caps_ranges_fetches_every_part(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """A 206 that stops short of the end (``bytes 1572864-1835007/3145728``) is one part: the
    rest is asked for. Taking it for the whole rest staged a cut file when the listing gave
    no size or checksum to catch it."""
    (remote_root / "big.nc").write_bytes(BIG)
    cap = 256 << 10
    portal = portal_factory(ranges=True, range_cap=cap, faults={"big.nc": ["drop"]})
    staging = StagingArea(tmp_path / "staging")
    [staged] = _http(portal, size_field=None).fetch_new(staging)
    assert staged.path.read_bytes() == BIG
    first, *parts = portal.range_requests
    assert first is None
    assert parts == [f"bytes={n}-" for n in range(len(BIG) // 2, len(BIG), cap)]
    assert_staging_clean(staging)


def test_http_resume_never_stitches_two_versions_when_the_server_ignores_if_range(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """The server answers the Range of its new version despite If-Range; the part's ETag is
    not the one asked for, so the download starts over instead of appending it."""
    (remote_root / "big.nc").write_bytes(BIG)
    portal = portal_factory(
        ranges=True, ignore_if_range=True, faults={"big.nc": ["drop-and-change"]}
    )
    staging = StagingArea(tmp_path / "staging")
    [staged] = _http(portal, size_field=None).fetch_new(staging)
    assert staged.path.read_bytes() == (remote_root / "big.nc").read_bytes() != BIG
    assert_staging_clean(staging)


def test_http_download_cut_after_its_last_byte_is_not_fetched_again(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """Every byte arrived, then the connection broke before the closing chunk: the resume
    asks for the rest, the server answers 416 'bytes */<length>' = what is held, done."""
    (remote_root / "big.nc").write_bytes(BIG)
    portal = portal_factory(ranges=True, faults={"big.nc": ["chunked-no-end"]})
    staging = StagingArea(tmp_path / "staging")
    [staged] = _http(portal, size_field=None).fetch_new(staging)
    assert staged.path.read_bytes() == BIG
    assert portal.range_requests == [None, f"bytes={len(BIG)}-"]
    assert_staging_clean(staging)
