"""Every transfer type passes the shared conformance suite (see conformance.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

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
from stratoflow.transfer.auth.none import NoAuth
from stratoflow.transfer.auth.ssh import SSHAuth
from stratoflow.transfer.secrets import Secret

from ._portal import Portal
from ._sftp_server import SFTPTestServer
from .conformance import TransferConformance
from .conftest import FAST_RETRY, FTP_USER, SFTP_USER

PROVIDER = DataProvider(name="Conformance DC", licence="CC-BY-4.0")


class TestLocal(TransferConformance):
    @pytest.fixture
    def handler(self, remote_root: Path) -> TransferHandler:
        transfer = LocalDirectory(root=str(remote_root), pattern="*")
        return TransferHandler(
            transfer=transfer, auth=NoAuth(), provider=PROVIDER, retry=FAST_RETRY
        )


class TestHttp(TransferConformance):
    @pytest.fixture
    def handler(
        self, portal_factory: Callable[..., Portal], secrets_env: dict[str, str]
    ) -> TransferHandler:
        portal = portal_factory("basic")
        transfer = HttpPortal(
            base_url=portal.url,
            list_path="api/files",
            sha256_field="sha256",
            version_field="modified",
            upload_path="files/{name}",
            timeout=5,
        )
        auth = BasicAuth(username="alice", password=Secret(secrets_env["basic"]))
        return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)


class TestSFTP(TransferConformance):
    @pytest.fixture
    def handler(
        self, sftp_server: SFTPTestServer, known_hosts: Path, client_key_ref: str
    ) -> TransferHandler:
        transfer = SFTPServer(
            host="127.0.0.1", port=sftp_server.port, known_hosts=str(known_hosts), timeout=5
        )
        auth = SSHAuth(username=SFTP_USER, key=Secret(client_key_ref))
        return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)


class TestFTP(TransferConformance):
    @pytest.fixture
    def handler(self, ftp_server: int, secrets_env: dict[str, str]) -> TransferHandler:
        transfer = FTPServer(host="127.0.0.1", port=ftp_server, timeout=5)
        auth = FTPLoginAuth(user=FTP_USER, password=Secret(secrets_env["ftp"]))
        return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)
