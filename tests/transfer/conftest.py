"""Fixtures: real servers on 127.0.0.1 (REST portal, SFTP, FTP) and secrets in the environment."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest
from django.conf import LazySettings

from stratoflow.transfer import RetryPolicy

from . import _portal
from ._ftp_server import FTPTestServer
from ._portal import Portal, PortalServer
from ._sftp_server import SFTPTestServer

SFTP_USER, SFTP_PASSWORD = "bob", "pw-sftp-Hn40"
FTP_USER, FTP_PASSWORD = "carol", "pw-ftp-Vd27"

#: Every secret the tests use: a leak test greps logs, messages and reprs for these.
SECRET_VALUES = (
    _portal.PASSWORD,
    _portal.BEARER,
    _portal.API_KEY,
    _portal.CLIENT_SECRET,
    _portal.PASSPHRASE,
    SFTP_PASSWORD,
    FTP_PASSWORD,
)

FAST_RETRY = RetryPolicy(attempts=4, base=0.01, max_delay=0.05)


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Secret references (``env:``/``file:``) for every credential the servers accept."""
    monkeypatch.setenv("SF_TEST_BASIC_PW", _portal.PASSWORD)
    monkeypatch.setenv("SF_TEST_BEARER", _portal.BEARER)
    monkeypatch.setenv("SF_TEST_API_KEY", _portal.API_KEY)
    monkeypatch.setenv("SF_TEST_PASSPHRASE", _portal.PASSPHRASE)
    monkeypatch.setenv("SF_TEST_SFTP_PW", SFTP_PASSWORD)
    monkeypatch.setenv("SF_TEST_FTP_PW", FTP_PASSWORD)
    secret_file = tmp_path / "oauth_client_secret"
    secret_file.write_text(_portal.CLIENT_SECRET + "\n")
    return {
        "basic": "env:SF_TEST_BASIC_PW",
        "bearer": "env:SF_TEST_BEARER",
        "apikey": "env:SF_TEST_API_KEY",
        "passphrase": "env:SF_TEST_PASSPHRASE",
        "oauth2": f"file:{secret_file}",
        "sftp": "env:SF_TEST_SFTP_PW",
        "ftp": "env:SF_TEST_FTP_PW",
    }


@pytest.fixture
def staging_dir(tmp_path: Path, settings: LazySettings) -> Path:
    """The server's staging folder (``settings.STAGING_DIR``), ``tmp_path/staging``: where
    jobs and stored transfers stage (not the ``staging`` StagingArea of conformance.py)."""
    settings.STAGING_DIR = tmp_path / "staging"
    return settings.STAGING_DIR  # type: ignore[no-any-return]


@pytest.fixture
def remote_root(tmp_path: Path) -> Path:
    """The server side's directory."""
    root = tmp_path / "remote"
    root.mkdir()
    return root


@pytest.fixture
def portal_factory(remote_root: Path) -> Iterator[Callable[..., Portal]]:
    servers: list[PortalServer] = []

    def start(auth: str = "none", **options: object) -> Portal:
        server = PortalServer(Portal(root=remote_root, auth=auth, **options))  # type: ignore[arg-type]
        servers.append(server)
        return server.__enter__()

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def host_key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


@pytest.fixture(scope="session")
def client_key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


@pytest.fixture
def client_key_ref(client_key: paramiko.PKey, tmp_path: Path) -> str:
    path = tmp_path / "id_ecdsa"
    client_key.write_private_key_file(str(path))
    return f"file:{path}"


@pytest.fixture
def sftp_server(
    remote_root: Path, host_key: paramiko.PKey, client_key: paramiko.PKey
) -> Iterator[SFTPTestServer]:
    with SFTPTestServer(
        remote_root,
        host_key,
        passwords={SFTP_USER: SFTP_PASSWORD},
        keys={SFTP_USER: client_key},
    ) as server:
        yield server


def write_known_hosts(path: Path, port: int, key: paramiko.PKey) -> Path:
    hosts = paramiko.HostKeys()
    hosts.add(f"[127.0.0.1]:{port}", key.get_name(), key)
    hosts.save(str(path))
    return path


@pytest.fixture
def known_hosts(tmp_path: Path, sftp_server: SFTPTestServer, host_key: paramiko.PKey) -> Path:
    return write_known_hosts(tmp_path / "known_hosts", sftp_server.port, host_key)


@pytest.fixture
def ftp_test_server(remote_root: Path) -> Iterator[FTPTestServer]:
    """The FTP server with its fault hooks (``faults``, ``retrieved``, ``authorizer``)."""
    with FTPTestServer(remote_root, FTP_USER, FTP_PASSWORD) as server:
        yield server


@pytest.fixture
def ftp_server(ftp_test_server: FTPTestServer) -> int:
    """The FTP server's port."""
    return ftp_test_server.port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port where the TCP handshake succeeds but nothing is ever said: a hung server."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as sock:
        yield sock.getsockname()[1]


@pytest.fixture
def running_pid() -> Iterator[int]:
    """The id of a process of this machine that runs while the test does (an upload or a
    replacement still at work)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()
