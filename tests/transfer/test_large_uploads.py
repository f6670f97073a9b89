"""Uploads stream from disk: a 64 MiB export goes out with a few MiB of memory, byte for byte.

Exported netCDF files reach hundreds of MB, and several jobs may upload at once on a small
worker. Memory is measured two ways while ``TransferHandler.put`` runs, servers included (they
run in this process, and stream to disk too):

- the peak of Python allocations (``tracemalloc``, every thread), which is where a
  ``read_bytes()`` of the file would show;
- the growth of the resident set's high-water mark (``VmHWM``, reset through
  ``/proc/self/clear_refs`` first), which also sees buffers allocated in C (OpenSSL, libc).

What arrived is checked on the server's side: its file has the source's SHA-256.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stratoflow.errors import TransferError, TransientTransferError
from stratoflow.transfer import (
    DataProvider,
    FTPServer,
    HttpPortal,
    LocalDirectory,
    SFTPServer,
    TransferHandler,
)
from stratoflow.transfer.auth.basic import BasicAuth
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.auth.hashtoken import HashTokenAuth
from stratoflow.transfer.auth.none import NoAuth
from stratoflow.transfer.auth.ssh import SSHAuth
from stratoflow.transfer.secrets import Secret

from ._portal import Portal
from ._sftp_server import SFTPTestServer
from .conftest import FAST_RETRY, FTP_USER, SFTP_USER

MiB = 1 << 20
SIZE = 64 * MiB
PYTHON_LIMIT = 16 * MiB
RSS_LIMIT = 32 * MiB  # a loaded file would add at least SIZE
PROVIDER = DataProvider(name="Export DC")


@dataclass
class Growth:
    python: int = 0
    rss: int | None = None  # None where the high-water mark cannot be reset


def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert match is not None, field
    return int(match.group(1))


def _reset_high_water_mark() -> bool:
    """Linux resets VmHWM to the current RSS on writing 5 to clear_refs (since 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextmanager
def memory_growth() -> Iterator[Growth]:
    """Peak memory growth of the whole process during the block."""
    growth = Growth()
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        can_reset = _reset_high_water_mark()
        rss_before = _status_kib("VmRSS")
        yield growth
        growth.python = tracemalloc.get_traced_memory()[1] - baseline
        if can_reset:
            growth.rss = (_status_kib("VmHWM") - rss_before) * 1024
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 64 MiB file of random bytes and its SHA-256 (written in blocks, not built in memory)."""
    path = tmp_path_factory.mktemp("export") / "export.nc"
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        for _ in range(SIZE // MiB):
            block = os.urandom(MiB)
            fh.write(block)
            digest.update(block)
    return path, digest.hexdigest()


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _http(portal: Portal, secrets_env: dict[str, str], **options: object) -> TransferHandler:
    transfer = HttpPortal(base_url=portal.url, list_path="api/files", timeout=30, **options)  # type: ignore[arg-type]
    auth = BasicAuth(username="alice", password=Secret(secrets_env["basic"]))
    return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)


@pytest.fixture(params=["http-put", "http-multipart", "sftp", "ftp", "local"])
def uploader(
    request: pytest.FixtureRequest, remote_root: Path, secrets_env: dict[str, str]
) -> TransferHandler:
    kind = request.param
    if kind == "http-put":
        portal = request.getfixturevalue("portal_factory")("basic")
        return _http(portal, secrets_env, upload_path="files/{name}")
    if kind == "http-multipart":
        portal = request.getfixturevalue("portal_factory")("basic")
        return _http(
            portal,
            secrets_env,
            upload_path="upload/{name}",
            upload_method="POST",
            upload_field="file",
        )
    if kind == "sftp":
        server: SFTPTestServer = request.getfixturevalue("sftp_server")
        known_hosts: Path = request.getfixturevalue("known_hosts")
        sftp = SFTPServer(
            host="127.0.0.1", port=server.port, known_hosts=str(known_hosts), timeout=30
        )
        auth = SSHAuth(username=SFTP_USER, password=Secret(secrets_env["sftp"]))
        return TransferHandler(transfer=sftp, auth=auth, provider=PROVIDER, retry=FAST_RETRY)
    if kind == "ftp":
        port: int = request.getfixturevalue("ftp_server")
        ftp = FTPServer(host="127.0.0.1", port=port, timeout=30)
        login = FTPLoginAuth(user=FTP_USER, password=Secret(secrets_env["ftp"]))
        return TransferHandler(transfer=ftp, auth=login, provider=PROVIDER, retry=FAST_RETRY)
    local = LocalDirectory(root=str(remote_root))
    return TransferHandler(transfer=local, auth=NoAuth(), provider=PROVIDER, retry=FAST_RETRY)


def test_upload_streams_from_disk(
    uploader: TransferHandler, export: tuple[Path, str], remote_root: Path
) -> None:
    source, digest = export
    with memory_growth() as growth:
        uploader.put(source, "delivered.nc")
    received = remote_root / "delivered.nc"
    assert received.stat().st_size == SIZE
    assert _sha256(received) == digest
    assert not [p for p in remote_root.iterdir() if p.name.endswith(".part")]
    assert growth.python < PYTHON_LIMIT, f"Python allocations peaked {growth.python / MiB:.1f} MiB"
    if growth.rss is not None:
        assert growth.rss < RSS_LIMIT, f"resident set grew {growth.rss / MiB:.1f} MiB"


def test_memory_probe_sees_a_file_loaded_whole(export: tuple[Path, str]) -> None:
    """The measurement itself: reading the export into memory is caught by both probes."""
    source, digest = export
    with memory_growth() as growth:
        assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    assert growth.python >= SIZE
    if growth.rss is not None:
        assert growth.rss > SIZE * 0.9


@pytest.mark.parametrize("field", [None, "file"], ids=["put", "multipart"])
def test_upload_replayed_by_the_auth_flow_sends_the_whole_file_again(
    field: str | None,
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
) -> None:
    """A clock an hour off: the first request is refused, the hash token flow corrects the
    clock and replays it; the replayed body must be the whole file, not what is left of it."""
    payload = os.urandom(3 * MiB + 17)
    source = tmp_path / "export.nc"
    source.write_bytes(payload)
    portal = portal_factory("hashtoken")
    transfer = HttpPortal(
        base_url=portal.url,
        upload_path="upload/{name}" if field else "files/{name}",
        upload_method="POST" if field else "PUT",
        upload_field=field,
        timeout=10,
    )
    auth = HashTokenAuth(
        passphrase=Secret(secrets_env["passphrase"]),
        clock=lambda: datetime.now(UTC) - timedelta(hours=1),
    )
    handler = TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)
    handler.put(source, "replayed.nc")
    assert portal.refused == 1
    assert (remote_root / "replayed.nc").read_bytes() == payload


def test_missing_export_fails_at_once_naming_the_file(
    uploader: TransferHandler, tmp_path: Path
) -> None:
    missing = tmp_path / "never-written.nc"
    with pytest.raises(TransferError, match=r"never-written\.nc") as info:
        uploader.put(missing, "x.nc")
    assert not isinstance(info.value, TransientTransferError)
    assert "Export DC" in str(info.value)
