"""What a target shows of an upload (``find_upload``): the file, its size (and SHA-256 for a
local directory), and the unfinished uploads of it, on real servers on 127.0.0.1.

An export whose uploader died before it heard the answer is settled by this
(stratoflow.exporters.unconfirmed), so it must tell a whole file from a cut one and see the
hidden temporary names servers leave out of plain listings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from stratoflow.files import partial_name
from stratoflow.transfer import (
    DataProvider,
    FTPServer,
    HttpPortal,
    LocalDirectory,
    SFTPServer,
    TransferHandler,
)
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.auth.none import NoAuth
from stratoflow.transfer.auth.ssh import SSHAuth
from stratoflow.transfer.base import upload_leftovers
from stratoflow.transfer.secrets import Secret

from ._ftp_server import FTPTestServer
from ._portal import Portal
from ._sftp_server import SFTPTestServer
from .conftest import FAST_RETRY, FTP_USER, SFTP_USER

PROVIDER = DataProvider(name="data centre")
NAME = "IAGOS_timeseries_2026112901_L1_v1.nc"


@pytest.fixture(params=["local", "sftp", "ftp"])
def target(
    request: pytest.FixtureRequest, remote_root: Path, tmp_path: Path, secrets_env: dict[str, str]
) -> tuple[str, TransferHandler]:
    """(protocol, a handler delivering into ``remote_root``) for each listable protocol."""
    if request.param == "local":
        transfer = LocalDirectory(root=str(remote_root))
        return "local", TransferHandler(transfer=transfer, auth=NoAuth(), provider=PROVIDER)
    if request.param == "sftp":
        server: SFTPTestServer = request.getfixturevalue("sftp_server")
        known_hosts = request.getfixturevalue("known_hosts")
        sftp = SFTPServer(
            host="127.0.0.1", port=server.port, timeout=5, known_hosts=str(known_hosts)
        )
        auth = SSHAuth(username=SFTP_USER, password=Secret(secrets_env["sftp"]))
        return "sftp", TransferHandler(
            transfer=sftp, auth=auth, provider=PROVIDER, retry=FAST_RETRY
        )
    ftp_server: FTPTestServer = request.getfixturevalue("ftp_test_server")
    ftp_server.hide_dot_files = True  # as vsftpd, ProFTPD, Pure-FTPd do in NLST/LIST
    ftp = FTPServer(host="127.0.0.1", port=ftp_server.port, timeout=5)
    login = FTPLoginAuth(username=FTP_USER, password=Secret(secrets_env["ftp"]))
    return "ftp", TransferHandler(transfer=ftp, auth=login, provider=PROVIDER, retry=FAST_RETRY)


def _export(tmp_path: Path, content: bytes = b"exported flight " * 4096) -> Path:
    path = tmp_path / "outbox" / NAME
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return path


def test_a_delivered_file_is_found_whole(
    target: tuple[str, TransferHandler], tmp_path: Path
) -> None:
    protocol, handler = target
    source = _export(tmp_path)
    handler.put(source)
    trace = handler.find_upload(NAME)
    assert trace is not None
    assert trace.name == NAME and trace.exists and trace.size == source.stat().st_size
    assert trace.leftovers == ()
    if protocol == "local":  # read where it lies: its checksum costs no download
        assert trace.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    else:
        assert trace.sha256 is None


def test_nothing_delivered_is_found_absent(
    target: tuple[str, TransferHandler], remote_root: Path
) -> None:
    (remote_root / "another.nc").write_bytes(b"someone else's")
    (remote_root / f".{NAME}x.host-1.abc.part").write_bytes(b"of another name")
    trace = target[1].find_upload(NAME)
    assert trace is not None and not trace.exists and trace.leftovers == ()


@pytest.mark.parametrize(
    "leftover",
    [
        f".{NAME}.worker-7.example.org-4242.0123456789ab.part",  # another machine's upload
        f".{NAME}.worker-7-4242.0000018f2c3a4b5cabcd.old",  # a file moved aside
        f".{NAME}.part",  # the temporary name of older versions
    ],
)
def test_an_unfinished_upload_is_found_beside_a_missing_file(
    target: tuple[str, TransferHandler], remote_root: Path, leftover: str
) -> None:
    (remote_root / leftover).write_bytes(b"the first half of the ")
    trace = target[1].find_upload(NAME)
    assert trace is not None and not trace.exists and trace.leftovers == (leftover,)


def test_a_file_of_another_size_is_told_with_its_size(
    target: tuple[str, TransferHandler], remote_root: Path, tmp_path: Path
) -> None:
    (remote_root / NAME).write_bytes(b"short")
    leftover = partial_name(NAME)  # this machine's: a process killed mid-upload
    (remote_root / leftover).write_bytes(b"half")
    trace = target[1].find_upload(NAME)
    assert trace is not None and trace.exists and trace.size == 5
    assert trace.leftovers == (leftover,)


def test_a_missing_folder_is_nothing_delivered(
    target: tuple[str, TransferHandler], remote_root: Path
) -> None:
    trace = target[1].find_upload(f"2026/11/{NAME}")
    assert trace is not None and not trace.exists and trace.leftovers == ()


def test_a_rest_endpoint_cannot_tell_and_is_not_even_asked(
    portal_factory: Callable[..., Portal],
) -> None:
    portal = portal_factory()
    before = len(portal.requests)
    handler = TransferHandler(
        transfer=HttpPortal(base_url=portal.url + "/", upload_path="upload/{name}"),
        auth=NoAuth(),
        provider=PROVIDER,
    )
    assert handler.find_upload(NAME) is None
    assert len(portal.requests) == before


def test_upload_leftovers_are_only_those_of_the_name() -> None:
    names = [
        NAME,
        f".{NAME}.host-1.0a1b2c.part",
        f".{NAME}.host-1.0000018f2c3a4b5cabcd.old",
        f".{NAME}.part",
        f".{NAME}.0123456789ab.old",
        f".{NAME}.host-1.0a1b2c.part.txt",  # not a temporary name
        f".x{NAME}.host-1.0a1b2c.part",  # another file's
        f".{NAME}2.host-1.0a1b2c.part",
        f"{NAME}.part",  # not hidden: someone's own file
    ]
    assert upload_leftovers(names, NAME) == tuple(sorted(names[1:5]))
