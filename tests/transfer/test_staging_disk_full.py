"""A staging area on a full file system (a real 512 KiB tmpfs, mounted for the test).

A full local disk is not the provider's fault: the run stops at once with an error that says
so, naming the staging area, instead of retrying the download and reporting each file as a
failed transfer from the provider.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratoflow.errors import StagingError, TransientTransferError
from stratoflow.transfer import (
    DataProvider,
    FTPServer,
    HttpPortal,
    SFTPServer,
    StagingArea,
    TransferHandler,
    TransferType,
)
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.auth.none import NoAuth
from stratoflow.transfer.auth.ssh import SSHAuth
from stratoflow.transfer.secrets import Secret

from .conftest import FAST_RETRY, FTP_PASSWORD, FTP_USER, SFTP_PASSWORD, SFTP_USER

BIG = os.urandom(2 << 20)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("kind", ["http", "sftp", "ftp"])
def test_a_full_staging_disk_stops_the_run_and_blames_the_disk(
    kind: str, small_disk: Path, remote_root: Path, request: pytest.FixtureRequest
) -> None:
    (remote_root / "a_big.nc").write_bytes(BIG)
    (remote_root / "b_small.nc").write_bytes(b"B" * 100)
    transfer: TransferType
    auth: ConnectionHandler
    if kind == "http":
        portal = request.getfixturevalue("portal_factory")()
        transfer, auth = HttpPortal(base_url=portal.url, list_path="api/files"), NoAuth()
        asked = lambda: portal.requests.count("GET /files/a_big.nc")  # noqa: E731
    elif kind == "sftp":
        server = request.getfixturevalue("sftp_server")
        known = request.getfixturevalue("known_hosts")
        transfer = SFTPServer(host="127.0.0.1", port=server.port, known_hosts=str(known))
        auth = SSHAuth(username=SFTP_USER, password=Secret.from_value(SFTP_PASSWORD))
        asked = lambda: server.opened.count("a_big.nc")  # noqa: E731
    else:
        ftp = request.getfixturevalue("ftp_test_server")
        transfer = FTPServer(host="127.0.0.1", port=ftp.port)
        auth = FTPLoginAuth(username=FTP_USER, password=Secret.from_value(FTP_PASSWORD))
        asked = lambda: ftp.retrieved.count("a_big.nc")  # noqa: E731
    handler = TransferHandler(
        transfer=transfer, auth=auth, provider=DataProvider(name="Big DC"), retry=FAST_RETRY
    )
    staging = StagingArea(small_disk / "staging")
    failed: list[object] = []
    with pytest.raises(StagingError) as info:
        handler.fetch_new(staging, on_failure=lambda item, exc: failed.append(exc))
    assert not isinstance(info.value, TransientTransferError)
    text = str(info.value)
    assert "No space left on device" in text and str(staging.root) in text, text
    assert "a_big.nc" in text
    assert failed == []  # not the provider's file's fault
    assert asked() == 1  # not retried
    assert list((staging.root / ".partial").iterdir()) == []
