"""Fault injection on the portal: the file arrives intact, or the run fails cleanly.

"Cleanly" means: a stratoflow error naming the provider, nothing partial in the staging area
(no temp files left, every file in it is complete and in the manifest) but the bytes a
download given up after transient failures received, kept with their checkpoint for the next
run to resume.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from pathlib import Path

import pytest

from stratoflow.errors import TransferError, TransientTransferError
from stratoflow.transfer import DataProvider, HttpPortal, RetryPolicy, StagingArea, TransferHandler
from stratoflow.transfer.auth.none import NoAuth
from stratoflow.transfer.staging import JOURNAL, MANIFEST

from ._portal import Portal
from .conftest import FAST_RETRY

FILES = {
    "a.nc": b"A" * 70_000,
    "b.nc": bytes(range(256)) * 512,
    "c.nc": b"C" * 10,
}


@pytest.fixture
def seeded(remote_root: Path) -> Path:
    for name, data in FILES.items():
        (remote_root / name).write_bytes(data)
    return remote_root


def _handler(
    portal: Portal, retry: RetryPolicy = FAST_RETRY, timeout: float = 5, checksums: bool = False
) -> TransferHandler:
    transfer = HttpPortal(
        base_url=portal.url,
        list_path="api/files",
        timeout=timeout,
        sha256_field="sha256" if checksums else None,
    )
    return TransferHandler(
        transfer=transfer, auth=NoAuth(), provider=DataProvider(name="Flaky DC"), retry=retry
    )


def assert_staging_clean(staging: StagingArea, *, kept: Collection[str] = ()) -> None:
    """No temp file left; every file is in the manifest with the right size and checksum.

    ``kept``: the items whose download was given up after transient failures; the bytes
    they received wait in ``.partial/`` (each beside its checkpoint) for the next run.
    """
    partial = staging.root / ".partial"
    states = {p.name: json.loads(p.read_text()) for p in partial.glob("*.state")}
    assert sorted(s["identity"] for s in states.values()) == sorted(kept)
    assert sorted(p.name for p in partial.iterdir()) == sorted(
        [*states, *(name.removesuffix(".state") for name in states)]
    )
    assert all(s["size"] > 0 for s in states.values())
    listed = {s.path: s for s in staging.files()}
    for path in staging.root.rglob("*"):
        if path.is_file() and path.parent != partial and path.name not in (MANIFEST, JOURNAL):
            assert path in listed, f"{path} is in staging but not in the manifest"
            data = path.read_bytes()
            assert len(data) == listed[path].size
            assert hashlib.sha256(data).hexdigest() == listed[path].sha256


@pytest.mark.parametrize(
    "faults",
    [["503", "503"], ["drop"], ["truncate"], ["drop", "503", "truncate"]],
    ids=["503-twice", "dropped", "truncated", "mixed"],
)
def test_transient_faults_are_retried_and_the_file_arrives_intact(
    faults: list[str],
    seeded: Path,
    portal_factory: Callable[..., Portal],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    portal = portal_factory(faults={"b.nc": list(faults)})
    staging = StagingArea(tmp_path / "staging")
    staged = _handler(portal).fetch_new(staging)
    assert {s.name: s.path.read_bytes() for s in staged} == FILES
    assert portal.requests.count("GET /files/b.nc") == len(faults) + 1
    assert portal.faults["b.nc"] == []
    assert_staging_clean(staging)
    assert "retrying" in caplog.text


def test_truncated_body_is_detected_without_retry_too(
    seeded: Path, portal_factory: Callable[..., Portal], tmp_path: Path
) -> None:
    portal = portal_factory(faults={"b.nc": ["truncate"]})
    staging = StagingArea(tmp_path / "staging")
    with pytest.raises(TransientTransferError, match=r"Flaky DC.*b\.nc"):
        _handler(portal, retry=RetryPolicy(attempts=1)).fetch_new(staging)
    assert [s.name for s in staging.files()] == ["a.nc"]  # staged before the failure: kept
    assert_staging_clean(staging, kept=["b.nc"])
    # the next run fetches only what is missing
    assert [s.name for s in _handler(portal).fetch_new(staging)] == ["b.nc", "c.nc"]
    assert_staging_clean(staging)


def test_persistent_failure_fails_cleanly_after_the_retries(
    seeded: Path, portal_factory: Callable[..., Portal], tmp_path: Path
) -> None:
    portal = portal_factory(faults={"b.nc": ["drop"] * 10})
    staging = StagingArea(tmp_path / "staging")
    with pytest.raises(TransientTransferError) as info:
        _handler(portal).fetch_new(staging)
    assert "Flaky DC" in str(info.value)
    assert f"{portal.url}/files/b.nc" in str(info.value)
    assert isinstance(info.value.__cause__, TransferError)  # chained, down to httpx
    assert portal.requests.count("GET /files/b.nc") == FAST_RETRY.attempts
    assert "b.nc" not in [s.name for s in staging.files()]
    assert_staging_clean(staging, kept=["b.nc"])  # resumed by the next run


def test_read_timeout_is_transient(
    seeded: Path, portal_factory: Callable[..., Portal], tmp_path: Path
) -> None:
    portal = portal_factory(faults={"c.nc": ["stall"]})
    staging = StagingArea(tmp_path / "staging")
    staged = _handler(portal, timeout=0.3).fetch_new(staging)
    assert sorted(s.name for s in staged) == sorted(FILES)
    assert portal.requests.count("GET /files/c.nc") == 2
    assert_staging_clean(staging)


def test_announced_checksum_is_verified(
    seeded: Path, portal_factory: Callable[..., Portal], tmp_path: Path
) -> None:
    portal = portal_factory()
    staging = StagingArea(tmp_path / "staging")
    staged = _handler(portal, checksums=True).fetch_new(staging)
    assert len(staged) == 3
    # listed checksum known -> nothing downloaded again, even without a version marker
    before = len(portal.requests)
    assert _handler(portal, checksums=True).fetch_new(staging) == []
    assert all(not r.startswith("GET /files/") for r in portal.requests[before:])


def test_unreachable_server_is_transient(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    portal = Portal(root=tmp_path, url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientTransferError, match="ConnectError"):
        _handler(portal).fetch_new(StagingArea(tmp_path / "staging"))


def test_one_failing_file_does_not_hold_back_the_others(
    seeded: Path, portal_factory: Callable[..., Portal], tmp_path: Path
) -> None:
    """With ``on_failure`` a file that cannot be fetched is reported; the rest is staged.

    a.nc: 404 (not retried); b.nc: dropped until the retries give up; after that the server
    may be down, so c.nc (one 503) is tried once, not retried, and fails too; d.nc arrives.
    """
    (seeded / "d.nc").write_bytes(b"D" * 100)
    portal = portal_factory(faults={"a.nc": ["404"], "b.nc": ["drop"] * 10, "c.nc": ["503"]})
    staging = StagingArea(tmp_path / "staging")
    failed: list[tuple[str, TransferError]] = []
    staged = _handler(portal).fetch_new(
        staging, on_failure=lambda item, exc: failed.append((item.identity, exc))
    )
    assert [s.name for s in staged] == ["d.nc"]
    assert [name for name, _ in failed] == ["a.nc", "b.nc", "c.nc"]
    assert not isinstance(failed[0][1], TransientTransferError) and "404" in str(failed[0][1])
    assert isinstance(failed[1][1], TransientTransferError)
    assert all(str(exc).startswith("provider 'Flaky DC'") for _, exc in failed)
    requests = [portal.requests.count(f"GET /files/{n}.nc") for n in "abcd"]
    assert requests == [1, FAST_RETRY.attempts, 1, 1]
    assert_staging_clean(staging, kept=["b.nc"])
    # the next fetch gets what failed, and only that
    portal.faults.clear()
    again = _handler(portal).fetch_new(staging, on_failure=lambda item, exc: failed.append(exc))
    assert sorted(s.name for s in again) == ["a.nc", "b.nc", "c.nc"] and len(failed) == 3
    # without on_failure the first failure stops the fetch, as before
    (seeded / "e.nc").write_bytes(b"E")
    (seeded / "f.nc").write_bytes(b"F")
    portal.faults["e.nc"] = ["404"]
    with pytest.raises(TransferError, match="404"):
        _handler(portal).fetch_new(staging)
    assert "f.nc" not in [s.name for s in staging.files()]
