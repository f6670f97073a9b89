"""The portal behaving as real data portals do: rate limits with ``Retry-After``, redirects,
compressed and chunked bodies, odd file names.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stratoflow.errors import AuthError, TransferError, TransientTransferError
from stratoflow.transfer import (
    DataProvider,
    HttpPortal,
    RetryPolicy,
    StagingArea,
    TransferHandler,
)
from stratoflow.transfer.auth.none import NoAuth

from ._helpers import AUTH_CASES
from ._portal import Portal, PortalServer
from .conftest import FAST_RETRY, SECRET_VALUES
from .test_faults import assert_staging_clean

PROVIDER = DataProvider(name="Busy DC")


def _handler(
    portal: Portal,
    *,
    provider: DataProvider = PROVIDER,
    retry: RetryPolicy = FAST_RETRY,
    **options: object,
) -> TransferHandler:
    """The portal's files without auth; ``options`` are HttpPortal's (timeout 5 s unless
    given)."""
    transfer = HttpPortal(base_url=portal.url, list_path="api/files", **{"timeout": 5, **options})  # type: ignore[arg-type]
    return TransferHandler(transfer=transfer, auth=NoAuth(), provider=provider, retry=retry)


@pytest.mark.parametrize(
    "fault", ["retry-after:429:1", "retry-date:503:2"], ids=["429-seconds", "503-http-date"]
)
def test_retry_after_is_honoured(
    fault: str, portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """The backoff (10-50 ms here) would use up every attempt while the server is busy."""
    (remote_root / "a.nc").write_bytes(b"A" * 100)
    portal = portal_factory(faults={"a.nc": [fault]})
    staging = StagingArea(tmp_path / "staging")
    started = time.monotonic()
    staged = _handler(portal).fetch_new(staging)
    assert [s.name for s in staged] == ["a.nc"]
    assert portal.requests.count("GET /files/a.nc") == 2  # refused once, then served
    assert time.monotonic() - started >= 0.9
    assert_staging_clean(staging)


def test_retry_after_longer_than_max_retry_after_gives_up_at_once(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """Asked to come back in an hour, the run does not hammer the server until it gives up."""
    (remote_root / "a.nc").write_bytes(b"A" * 100)
    portal = portal_factory(faults={"a.nc": ["retry-after:429:3600"]})
    with pytest.raises(TransientTransferError, match=r"HTTP 429 \(the server asks to retry after"):
        _handler(portal).fetch_new(StagingArea(tmp_path / "staging"))
    assert portal.requests.count("GET /files/a.nc") == 1


@pytest.mark.parametrize("checksums", [True, False], ids=["announced", "unannounced"])
def test_a_gz_file_served_with_content_encoding_gzip_is_staged_as_stored(
    checksums: bool, portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """Apache's ``AddEncoding x-gzip .gz`` labels a stored ``.gz`` file as gzip-*encoded*.

    The file to stage is the ``.gz`` file (its size and checksum are in the listing), not
    its decompressed content under a ``.gz`` name.
    """
    stored = gzip.compress(b"flight data\n" * 5000)
    (remote_root / "flight.nc.gz").write_bytes(stored)
    portal = portal_factory(gz_as_encoding=True)
    staging = StagingArea(tmp_path / "staging")
    options = {"sha256_field": "sha256"} if checksums else {"size_field": None}
    [staged] = _handler(portal, **options).fetch_new(staging)
    assert staged.path.read_bytes() == stored
    assert staged.sha256 == hashlib.sha256(stored).hexdigest()


def test_a_portal_that_compresses_on_the_fly_still_gives_the_file(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    data = b"x" * 100_000
    (remote_root / "a.nc").write_bytes(data)
    portal = portal_factory(compress=True)
    [staged] = _handler(portal, sha256_field="sha256").fetch_new(StagingArea(tmp_path / "s"))
    assert staged.path.read_bytes() == data


def _auth_handler(portal: Portal, auth: dict[str, object]) -> TransferHandler:
    return TransferHandler.from_config(
        {
            "provider": {"name": "Moving DC"},
            "transfer": {"type": "http", "base_url": portal.url, "list_path": "api/files"},
            "auth": auth,
            "retry": FAST_RETRY.to_config(),
        }
    )


@pytest.mark.parametrize("mode", sorted(AUTH_CASES))
def test_redirects_keep_credentials_on_the_origin_and_never_carry_them_off(
    mode: str,
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
) -> None:
    (remote_root / "a.nc").write_bytes(b"A" * 10)
    (remote_root / "b.nc").write_bytes(b"B" * 10)
    (remote_root / "moved.dat").write_bytes(b"M" * 10)
    portal = portal_factory(mode)
    other = portal_factory(mode)  # accepts the same credentials: 200 would mean they leaked
    portal.faults = {
        "a.nc": ["redirect:/files/moved.dat"],  # same origin, another path: still authorised
        "b.nc": [f"redirect:{other.url}/files/b.nc"],  # another origin
    }
    handler = _auth_handler(portal, AUTH_CASES[mode](secrets_env))
    staging = StagingArea(tmp_path / "s")
    with pytest.raises(
        AuthError, match=rf"b\.nc: redirected to {other.url}/files/b\.nc: HTTP 401: another origin"
    ) as info:
        handler.fetch_new(staging)
    assert [(s.name, s.path.read_bytes()) for s in staging.files()] == [("a.nc", b"M" * 10)]
    assert other.refused >= 1 and "GET /files/b.nc" in other.requests
    for secret in SECRET_VALUES:
        assert secret not in str(info.value)


def test_an_item_listed_twice_is_fetched_once(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """Page-number paging while files arrive repeats items across pages."""
    for i in range(5):
        (remote_root / f"f{i}.nc").write_bytes(b"F" * (1000 + i))
    portal = portal_factory(overlap=True)
    handler = _handler(portal)
    assert len(handler.list()) == 7  # f1 and f3 twice
    staged = handler.fetch_new(StagingArea(tmp_path / "s"))
    assert sorted(s.name for s in staged) == [f"f{i}.nc" for i in range(5)]
    assert all(portal.requests.count(f"GET /files/f{i}.nc") == 1 for i in range(5))


def test_cursor_paginated_listing(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """``{"items": [...], "next_cursor": "cGFnZS0y"}``, the next page at ``?cursor=cGFnZS0y``."""
    for i in range(5):
        (remote_root / f"f{i}.nc").write_bytes(b"F" * i)
    portal = portal_factory(cursor=True)
    handler = _handler(portal, next_path="next_cursor", cursor_param="cursor")
    assert [i.name for i in handler.list()] == [f"f{i}.nc" for i in range(5)]
    assert len(handler.fetch_new(StagingArea(tmp_path / "s"))) == 5
    assert HttpPortal.from_config(handler.transfer.to_config()).options()["cursor_param"] == (
        "cursor"
    )


def test_portal_on_ipv6_loopback_is_named_as_a_valid_url(remote_root: Path, tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    (remote_root / "a.nc").write_bytes(b"A")
    try:
        server = PortalServer(Portal(root=remote_root, faults={"a.nc": ["404"]}), host="::1")
    except OSError as exc:
        pytest.skip(f"cannot listen on ::1: {exc}")
    with server as portal:
        assert portal.url.startswith("http://[::1]:")
        handler = _handler(portal)
        assert handler.transfer.where == f"{portal.url}/"
        with pytest.raises(TransferError) as info:
            handler.fetch_new(StagingArea(tmp_path / "s"))
        assert f"GET {portal.url}/files/a.nc: HTTP 404" in str(info.value)
        assert [s.name for s in handler.fetch_new(StagingArea(tmp_path / "s"))] == ["a.nc"]


def test_chunked_bodies_without_a_length(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """Whole, or cut before the last chunk: with no size anywhere, the cut one is not staged."""
    data = os.urandom(95_000)
    (remote_root / "a.nc").write_bytes(data)
    (remote_root / "b.nc").write_bytes(data[::-1])
    portal = portal_factory(faults={"a.nc": ["chunked"], "b.nc": ["chunked-cut"]})
    staging = StagingArea(tmp_path / "staging")
    transfer = HttpPortal(base_url=portal.url, list_path="api/files", size_field=None)
    once = TransferHandler(
        transfer=transfer, auth=NoAuth(), provider=PROVIDER, retry=RetryPolicy(attempts=1)
    )
    with pytest.raises(TransientTransferError, match=r"b\.nc"):
        once.fetch_new(staging)
    assert {s.name: s.path.read_bytes() for s in staging.files()} == {"a.nc": data}
    assert_staging_clean(staging, kept=["b.nc"])
    portal.faults["b.nc"] = ["chunked-cut", "chunked"]
    assert [s.name for s in _handler(portal, size_field=None).fetch_new(staging)] == ["b.nc"]
    assert {s.name: s.path.read_bytes() for s in staging.files()}["b.nc"] == data[::-1]


def test_without_a_version_in_the_listing_the_etag_spares_unchanged_files(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """A listing with names only: a HEAD per file (its ETag) instead of downloading every
    file again on every run; a changed ETag is a new version."""
    for i in range(3):
        (remote_root / f"f{i}.nc").write_bytes(os.urandom(50_000))
    portal = portal_factory(ranges=True)
    handler = _handler(portal, size_field=None)
    staging = StagingArea(tmp_path / "staging")
    assert len(handler.fetch_new(staging)) == 3
    downloads = [r for r in portal.requests if r.startswith("GET /files/")]
    assert handler.fetch_new(staging) == []
    assert [r for r in portal.requests if r.startswith("GET /files/")] == downloads
    (remote_root / "f1.nc").write_bytes(b"new version")
    assert [s.name for s in handler.fetch_new(staging)] == ["f1.nc"]
    assert [s.path.read_bytes() for s in staging.versions("f1.nc")][-1] == b"new version"
    assert len(staging.versions("f1.nc")) == 2


@pytest.mark.parametrize("status", [403, 405, 500])
def test_a_portal_refusing_head_still_gets_its_files_fetched(
    status: int, portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """S3 answers HEAD on a URL signed for GET with 403; others 405: then no version."""
    (remote_root / "a.nc").write_bytes(b"A" * 100)
    portal = portal_factory(head_status=status)
    [staged] = _handler(portal, size_field=None).fetch_new(StagingArea(tmp_path / "s"))
    assert staged.path.read_bytes() == b"A" * 100 and staged.version is None


def test_a_server_that_trickles_bytes_is_given_up_as_too_slow(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """A byte now and then is never a timeout; it took hours. Below min_speed over the
    timeout window, the download fails (transiently) and nothing is staged."""
    (remote_root / "slow.nc").write_bytes(b"x" * 50_000)
    portal = portal_factory(faults={"slow.nc": ["trickle"]})
    slow, once = DataProvider(name="Slow DC"), RetryPolicy(attempts=1)
    handler = _handler(portal, provider=slow, retry=once, timeout=1, min_speed=1024)
    staging = StagingArea(tmp_path / "staging")
    started = time.monotonic()
    with pytest.raises(TransientTransferError, match=r"slow\.nc: the server sends too slowly"):
        handler.fetch_new(staging)
    assert time.monotonic() - started < 10
    assert staging.files() == []
    assert_staging_clean(staging, kept=["slow.nc"])  # what did arrive, for the next run


def test_a_portal_preparing_the_file_is_asked_again_and_its_note_never_staged(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """202 Accepted ("being prepared") is no file: retried, and its JSON body is not staged
    in its place (the listing gives no size to catch it)."""
    (remote_root / "made.nc").write_bytes(b"the real file")
    portal = portal_factory(faults={"made.nc": ["202"]})
    handler = _handler(portal, provider=DataProvider(name="Lazy DC"), size_field=None)
    staging = StagingArea(tmp_path / "staging")
    [staged] = handler.fetch_new(staging)
    assert staged.path.read_bytes() == b"the real file"
    assert portal.requests.count("GET /files/made.nc") == 2


def test_a_204_answer_to_a_download_is_not_staged_as_an_empty_file(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "empty.nc").write_bytes(b"data")
    portal = portal_factory(faults={"empty.nc": ["204"]})
    handler = _handler(portal, provider=DataProvider(name="Odd DC"), size_field=None)
    staging = StagingArea(tmp_path / "staging")
    with pytest.raises(TransferError, match=r"HTTP 204: the answer does not carry the file"):
        handler.fetch_new(staging)
    assert staging.files() == []


def test_a_listing_the_server_trickles_is_given_up_as_too_slow(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / "a.nc").write_bytes(b"a")
    portal = portal_factory(trickle_listing=True)
    slow, once = DataProvider(name="Slow DC"), RetryPolicy(attempts=1)
    handler = _handler(portal, provider=slow, retry=once, timeout=1, min_speed=100)
    started = time.monotonic()
    with pytest.raises(TransientTransferError, match=r"api/files: the server sends too slowly"):
        handler.fetch_new(StagingArea(tmp_path / "staging"))
    assert time.monotonic() - started < 10
