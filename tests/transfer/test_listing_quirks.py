"""Listings as real servers produce them: FTP servers without MLSD, SFTP servers that report
symbolic links as links (OpenSSH), directories that vanish while they are being listed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import paramiko
import pytest

from stratoflow.errors import AuthError, TransferError
from stratoflow.transfer import DataProvider, FTPServer, SFTPServer, StagingArea, TransferHandler
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.auth.ssh import SSHAuth
from stratoflow.transfer.secrets import Secret

from ._ftp_server import FTPTestServer
from ._sftp_server import SFTPTestServer
from .conftest import FAST_RETRY, FTP_PASSWORD, FTP_USER, SFTP_PASSWORD, SFTP_USER

PROVIDER = DataProvider(name="Old FTP DC")


def _ftp(port: int, **options: object) -> TransferHandler:
    transfer = FTPServer(host="127.0.0.1", port=port, timeout=5, **options)  # type: ignore[arg-type]
    auth = FTPLoginAuth(username=FTP_USER, password=Secret.from_value(FTP_PASSWORD))
    return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)


def test_ftp_server_without_mlsd_is_listed_with_list(remote_root: Path, tmp_path: Path) -> None:
    """vsftpd and many older servers answer MLSD with ``500 Unknown command``: LIST is used."""
    (remote_root / "flight 1.nc").write_bytes(b"A" * 1234)
    (remote_root / "notes.txt").write_bytes(b"ignored")
    sub = remote_root / "2024"
    sub.mkdir()
    (sub / "deep.nc").write_bytes(b"deeper")
    with FTPTestServer(remote_root, FTP_USER, FTP_PASSWORD, without=("MLSD", "MLST")) as server:
        handler = _ftp(server.port, pattern="*.nc", recursive=True)
        items = handler.list()
        assert [(i.identity, i.name, i.size) for i in items] == [
            ("2024/deep.nc", "deep.nc", 6),
            ("flight 1.nc", "flight 1.nc", 1234),
        ]
        assert all(i.version for i in items)
        staging = StagingArea(tmp_path / "staging")
        staged = handler.fetch_new(staging)
        assert {s.name: s.path.read_bytes() for s in staged} == {
            "deep.nc": b"deeper",
            "flight 1.nc": b"A" * 1234,
        }
        # unchanged files are recognised by their version marker: nothing fetched again
        before = len(server.retrieved)
        assert handler.fetch_new(staging) == []
        assert len(server.retrieved) == before
        # a changed file is fetched again
        (remote_root / "flight 1.nc").write_bytes(b"B" * 1235)
        assert [s.name for s in handler.fetch_new(staging)] == ["flight 1.nc"]


def test_ftp_listing_same_marker_with_and_without_mlsd(remote_root: Path) -> None:
    """A server that gains or loses MLSD (an upgrade) must not make every file look new."""
    (remote_root / "a.nc").write_bytes(b"A" * 10)
    seen = []
    for without in ((), ("MLSD", "MLST")):  # one at a time: pyftpdlib has one global loop
        with FTPTestServer(remote_root, FTP_USER, FTP_PASSWORD, without=without) as server:
            seen += _ftp(server.port).list()
    assert len(seen) == 2 and seen[0] == seen[1]


def _sftp(server: SFTPTestServer, known_hosts: Path, **options: object) -> TransferHandler:
    transfer = SFTPServer(
        host="127.0.0.1",
        port=server.port,
        known_hosts=str(known_hosts),
        timeout=5,
        **options,  # type: ignore[arg-type]
    )
    auth = SSHAuth(username=SFTP_USER, password=Secret.from_value(SFTP_PASSWORD))
    return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)


def test_sftp_symbolic_links_to_files_are_fetched(
    remote_root: Path, sftp_server: SFTPTestServer, known_hosts: Path, tmp_path: Path
) -> None:
    """OpenSSH lists a link as a link; a link to a file is a file to fetch ("latest.nc").

    A dangling link is no file; a link to a directory is not descended into (as ``find``
    does not), so a link back up the tree cannot make the listing endless.
    """
    (remote_root / "a.nc").write_bytes(b"A")
    data = remote_root / "data"
    data.mkdir()
    (data / "real.nc").write_bytes(b"real data")
    (remote_root / "latest.nc").symlink_to("data/real.nc")
    (remote_root / "gone.nc").symlink_to("data/removed.nc")
    (remote_root / "mirror").symlink_to("data")
    (data / "loop").symlink_to("..")
    handler = _sftp(sftp_server, known_hosts, pattern="*.nc", recursive=True)
    items = handler.list()
    assert [(i.identity, i.size) for i in items] == [
        ("a.nc", 1),
        ("data/real.nc", 9),
        ("latest.nc", 9),
    ]
    staged = handler.fetch_new(StagingArea(tmp_path / "staging"))
    assert {s.identity: s.path.read_bytes() for s in staged} == {
        "a.nc": b"A",
        "data/real.nc": b"real data",
        "latest.nc": b"real data",
    }


def test_sftp_directory_that_vanishes_while_listing_is_skipped(
    remote_root: Path, sftp_server: SFTPTestServer, known_hosts: Path
) -> None:
    (remote_root / "a.nc").write_bytes(b"A")
    for sub in ("2024", "2025"):
        (remote_root / sub).mkdir()
        (remote_root / sub / f"{sub}.nc").write_bytes(sub.encode())

    def remove(path: str) -> None:  # the provider cleans up 2024/ just as we get to it
        if path.endswith("2024"):
            shutil.rmtree(path, ignore_errors=True)

    sftp_server.faults.on_list = remove
    handler = _sftp(sftp_server, known_hosts, recursive=True)
    assert [i.identity for i in handler.list()] == ["2025/2025.nc", "a.nc"]
    # the directory to fetch from itself missing is still an error
    with pytest.raises(TransferError, match="list"):
        _sftp(sftp_server, known_hosts, remote_dir="/2024").list()


def test_ftp_directory_that_vanishes_while_listing_is_skipped(
    remote_root: Path, ftp_test_server: FTPTestServer
) -> None:
    (remote_root / "a.nc").write_bytes(b"A")
    for sub in ("2024", "2025"):
        (remote_root / sub).mkdir()
        (remote_root / sub / f"{sub}.nc").write_bytes(sub.encode())

    def remove(arg: str) -> None:
        if arg.endswith("2024"):
            shutil.rmtree(remote_root / arg.lstrip("/"), ignore_errors=True)

    ftp_test_server.on_list = remove
    handler = _ftp(ftp_test_server.port, recursive=True)
    assert [i.identity for i in handler.list()] == ["2025/2025.nc", "a.nc"]
    with pytest.raises(TransferError, match="550"):
        _ftp(ftp_test_server.port, remote_dir="/2024").list()


def test_ftp_unreadable_directory_still_fails_the_listing(
    remote_root: Path, ftp_test_server: FTPTestServer
) -> None:
    """Only a directory that is gone is skipped; one we may not read is an error to act on."""
    (remote_root / "a.nc").write_bytes(b"A")
    (remote_root / "private").mkdir()
    (remote_root / "private" / "p.nc").write_bytes(b"P")
    ftp_test_server.authorizer.override_perm(
        FTP_USER, str(remote_root / "private"), perm="", recursive=True
    )
    with pytest.raises(TransferError, match="550"):
        _ftp(ftp_test_server.port, recursive=True).list()


def test_sftp_and_ftp_servers_on_ipv6_loopback_are_named_as_valid_urls(
    remote_root: Path, host_key: paramiko.PKey, tmp_path: Path
) -> None:
    (remote_root / "a.nc").write_bytes(b"A")
    try:
        ftp = FTPTestServer(remote_root, FTP_USER, FTP_PASSWORD, host="::1")
    except OSError as exc:
        pytest.skip(f"cannot listen on ::1: {exc}")
    with ftp:
        transfer = FTPServer(host="::1", port=ftp.port, timeout=5)
        assert transfer.where == f"ftp://[::1]:{ftp.port}/"
        missing = FTPServer(host="::1", port=ftp.port, remote_dir="/missing", timeout=5)
        login = FTPLoginAuth(username=FTP_USER, password=Secret.from_value(FTP_PASSWORD))
        handler = TransferHandler(transfer=missing, auth=login, provider=PROVIDER)
        with pytest.raises(TransferError, match=rf"ftp://\[::1\]:{ftp.port}/missing: list"):
            handler.list()
    with SFTPTestServer(
        remote_root, host_key, passwords={SFTP_USER: SFTP_PASSWORD}, keys={}, host="::1"
    ) as sftp:
        hosts = paramiko.HostKeys()
        hosts.add(f"[::1]:{sftp.port}", host_key.get_name(), host_key)
        hosts.save(str(tmp_path / "known_hosts6"))
        sftp_transfer = SFTPServer(
            host="::1", port=sftp.port, known_hosts=str(tmp_path / "known_hosts6"), timeout=5
        )
        assert sftp_transfer.where == f"sftp://[::1]:{sftp.port}/."
        auth = SSHAuth(username=SFTP_USER, password=Secret.from_value("wrong"))
        wrong = TransferHandler(transfer=sftp_transfer, auth=auth, provider=PROVIDER)
        with pytest.raises(AuthError, match=rf"SFTP \[::1\]:{sftp.port}: user 'bob' was refused"):
            wrong.list()
