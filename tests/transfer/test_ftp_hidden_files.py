"""FTP servers that hide dot-files: the upload clean-up still finds its own hidden leftovers.

An upload's temporary file (``.<name>.<host>-<pid>.<random>.part``) and a file moved aside
for its replacement (``.<name>.<host>-<pid>.<stamp>.old``) have hidden names. vsftpd, ProFTPD
and Pure-FTPd leave such names out of ``NLST`` and ``LIST`` unless asked with ``-a``; the
clean-up listed the folder by ``NLST`` and so never saw what a killed upload left there: the
partner's folder kept every half upload, and a file moved aside was never put back. Here the
loopback server hides dot-files the same way (``MLSD`` lists them, as RFC 3659 says).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratoflow.files import this_host
from stratoflow.transfer import DataProvider, FTPServer, TransferHandler
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.secrets import Secret

from ._ftp_server import FTPTestServer
from ._helpers import dead_pid
from .conftest import FAST_RETRY, FTP_PASSWORD, FTP_USER

PROVIDER = DataProvider(name="Hiding FTP DC")


@pytest.fixture(params=["mlsd", "list-a", "mlsd-hiding"])
def hiding_server(request: pytest.FixtureRequest, remote_root: Path) -> Iterator[FTPTestServer]:
    """A server hiding dot-files from NLST and LIST; ``list-a``: one without MLSD, whose
    ``LIST -a`` shows them (vsftpd); ``mlsd-hiding``: one that hides them from MLSD too."""
    without = ("MLSD", "MLST") if request.param == "list-a" else ()
    with FTPTestServer(remote_root, FTP_USER, FTP_PASSWORD, without=without) as server:
        server.hide_dot_files = True
        server.hide_from_mlsd = request.param == "mlsd-hiding"
        yield server


def _upload(server: FTPTestServer, source: Path) -> None:
    transfer = FTPServer(host="127.0.0.1", port=server.port, remote_dir="/outbox", timeout=5)
    auth = FTPLoginAuth(user=FTP_USER, password=Secret.from_value(FTP_PASSWORD))
    TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY).put(source)


def test_the_server_hides_dot_files_from_a_plain_listing(
    hiding_server: FTPTestServer, remote_root: Path
) -> None:
    """(The premise: a plain NLST does not show them.)"""
    import ftplib

    (remote_root / ".hidden").write_bytes(b"x")
    (remote_root / "shown").write_bytes(b"y")
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", hiding_server.port, timeout=5)
        ftp.login(FTP_USER, FTP_PASSWORD)
        assert ftp.nlst("/") == ["shown"]


def test_an_upload_removes_hidden_temporaries_of_killed_uploads(
    hiding_server: FTPTestServer, remote_root: Path, tmp_path: Path, running_pid: int
) -> None:
    outbox = remote_root / "outbox"
    outbox.mkdir()
    host, dead = this_host(), dead_pid()
    stale = f".export.nc.{host}-{dead}.0123456789ab.part"
    kept = [
        f".export.nc.{host}-{running_pid}.0123456789ab.part",  # an upload running now
        ".export.nc.other-host-1.0123456789ab.part",  # another machine's
    ]
    for name in [stale, *kept]:
        (outbox / name).write_bytes(b"half")
    export = tmp_path / "export.nc"
    export.write_bytes(os.urandom(5_000))
    _upload(hiding_server, export)
    assert sorted(p.name for p in outbox.iterdir()) == sorted(["export.nc", *kept])
    assert (outbox / "export.nc").read_bytes() == export.read_bytes()


def test_an_upload_settles_hidden_files_killed_replacements_moved_aside(
    hiding_server: FTPTestServer, remote_root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """``a.nc`` was moved aside and never renamed back: it goes back; ``b.nc``'s old file
    was left beside the new one: it is removed."""
    outbox = remote_root / "outbox"
    outbox.mkdir()
    host, dead = this_host(), dead_pid()
    stamp = "0000000000000001abcd"
    (outbox / f".a.nc.{host}-{dead}.{stamp}.old").write_bytes(b"a, delivered")
    (outbox / f".b.nc.{host}-{dead}.{stamp}.old").write_bytes(b"b, replaced")
    (outbox / "b.nc").write_bytes(b"b, new")
    export = tmp_path / "export.nc"
    export.write_bytes(os.urandom(5_000))
    _upload(hiding_server, export)
    assert sorted(p.name for p in outbox.iterdir()) == ["a.nc", "b.nc", "export.nc"]
    assert (outbox / "a.nc").read_bytes() == b"a, delivered"
    assert (outbox / "b.nc").read_bytes() == b"b, new"
    if request.node.callspec.params["hiding_server"] != "mlsd":
        assert "-a" in hiding_server.list_args  # found by LIST -a
