"""SFTP and FTP specifics: both SSH login kinds, host-key verification, refused logins."""

from __future__ import annotations

import logging
from pathlib import Path

import paramiko
import pytest

from stratoflow.errors import AuthError, ConfigError
from stratoflow.transfer import DataProvider, FTPServer, SFTPServer, TransferHandler
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.auth.none import NoAuth
from stratoflow.transfer.auth.ssh import SSHAuth
from stratoflow.transfer.secrets import Secret

from ._helpers import assert_nowhere, chain_texts
from ._sftp_server import SFTPTestServer
from .conftest import FAST_RETRY, FTP_USER, SFTP_USER, write_known_hosts

PROVIDER = DataProvider(name="Partner SFTP")


def _sftp(server: SFTPTestServer, auth: SSHAuth, **options: object) -> TransferHandler:
    transfer = SFTPServer(host="127.0.0.1", port=server.port, timeout=5, **options)  # type: ignore[arg-type]
    return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)


@pytest.fixture
def seeded(remote_root: Path) -> Path:
    (remote_root / "flight.nc").write_bytes(b"netcdf bytes")
    sub = remote_root / "2024"
    sub.mkdir()
    (sub / "deep.nc").write_bytes(b"deeper")
    (remote_root / "notes.txt").write_bytes(b"ignore me")
    return remote_root


def test_password_login_and_recursive_pattern(
    seeded: Path, sftp_server: SFTPTestServer, known_hosts: Path, secrets_env: dict[str, str]
) -> None:
    auth = SSHAuth(username=SFTP_USER, password=Secret(secrets_env["sftp"]))
    handler = _sftp(sftp_server, auth, known_hosts=str(known_hosts), pattern="*.nc", recursive=True)
    assert [i.identity for i in handler.list()] == ["2024/deep.nc", "flight.nc"]


def test_wrong_password_is_an_auth_error(
    seeded: Path, sftp_server: SFTPTestServer, known_hosts: Path
) -> None:
    auth = SSHAuth(username=SFTP_USER, password=Secret.from_value("not-the-password"))
    with pytest.raises(AuthError, match=rf"Partner SFTP.*127\.0\.0\.1:{sftp_server.port}.*refused"):
        _sftp(sftp_server, auth, known_hosts=str(known_hosts)).list()


def test_unknown_key_is_refused(
    seeded: Path, sftp_server: SFTPTestServer, known_hosts: Path
) -> None:
    stranger = paramiko.ECDSAKey.generate()
    auth = SSHAuth(username=SFTP_USER, key=Secret.from_value(_pem(stranger)))
    with pytest.raises(AuthError):
        _sftp(sftp_server, auth, known_hosts=str(known_hosts)).list()


def test_wrong_host_key_is_refused(
    seeded: Path, sftp_server: SFTPTestServer, tmp_path: Path, client_key_ref: str
) -> None:
    impostor = write_known_hosts(
        tmp_path / "kh_wrong", sftp_server.port, paramiko.ECDSAKey.generate()
    )
    auth = SSHAuth(username=SFTP_USER, key=Secret(client_key_ref))
    with pytest.raises(AuthError, match="host key mismatch") as info:
        _sftp(sftp_server, auth, known_hosts=str(impostor)).list()
    assert f"127.0.0.1:{sftp_server.port}" in str(info.value)
    assert isinstance(info.value.__cause__, AuthError)
    assert isinstance(info.value.__cause__.__cause__, paramiko.BadHostKeyException)


def test_unknown_host_is_refused_unless_explicitly_opted_out(
    seeded: Path,
    sftp_server: SFTPTestServer,
    tmp_path: Path,
    client_key_ref: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    empty = tmp_path / "kh_empty"
    empty.write_text("")
    auth = SSHAuth(username=SFTP_USER, key=Secret(client_key_ref))
    with pytest.raises(AuthError, match="host key unknown"):
        _sftp(sftp_server, auth, known_hosts=str(empty)).list()
    with caplog.at_level(logging.WARNING, logger="stratoflow.transfer.sftp"):
        items = _sftp(sftp_server, auth, insecure_skip_host_key_check=True).list()
    assert [i.name for i in items] == ["flight.nc", "notes.txt"]
    assert "NOT verified" in caplog.text


def _pem(key: paramiko.PKey) -> str:
    import io

    buf = io.StringIO()
    key.write_private_key(buf)
    return buf.getvalue()


def test_encrypted_key_needs_its_passphrase(
    seeded: Path,
    sftp_server: SFTPTestServer,
    known_hosts: Path,
    client_key: paramiko.PKey,
    tmp_path: Path,
) -> None:
    path = tmp_path / "id_encrypted"
    client_key.write_private_key_file(str(path), password="kp-Xy12")
    without = SSHAuth(username=SFTP_USER, key=Secret(f"file:{path}"))
    with pytest.raises(ConfigError, match="encrypted"):
        _sftp(sftp_server, without, known_hosts=str(known_hosts)).list()
    with_pass = SSHAuth(
        username=SFTP_USER, key=Secret(f"file:{path}"), key_passphrase=Secret.from_value("kp-Xy12")
    )
    assert len(_sftp(sftp_server, with_pass, known_hosts=str(known_hosts)).list()) == 2
    wrong = SSHAuth(
        username=SFTP_USER,
        key=Secret(f"file:{path}"),
        key_passphrase=Secret.from_value("kp-Wrong-Yz34"),
    )
    with pytest.raises(
        ConfigError, match="or key_passphrase <literal> is not its passphrase"
    ) as info:
        _sftp(sftp_server, wrong, known_hosts=str(known_hosts)).list()
    assert_nowhere("kp-Wrong-Yz34", texts=chain_texts(info.value))


def test_ftp_wrong_password_and_anonymous_are_refused(seeded: Path, ftp_server: int) -> None:
    transfer = FTPServer(host="127.0.0.1", port=ftp_server, timeout=5)
    for auth in (FTPLoginAuth(user=FTP_USER, password=Secret.from_value("nope")), NoAuth()):
        handler = TransferHandler(
            transfer=transfer, auth=auth, provider=DataProvider(name="FTP DC"), retry=FAST_RETRY
        )
        with pytest.raises(AuthError, match=rf"FTP DC.*127\.0\.0\.1:{ftp_server}.*530"):
            handler.list()


def test_ftp_recursive_listing(seeded: Path, ftp_server: int, secrets_env: dict[str, str]) -> None:
    transfer = FTPServer(host="127.0.0.1", port=ftp_server, pattern="*.nc", recursive=True)
    auth = FTPLoginAuth(user=FTP_USER, password=Secret(secrets_env["ftp"]))
    handler = TransferHandler(transfer=transfer, auth=auth, provider=DataProvider(name="FTP DC"))
    assert [i.identity for i in handler.list()] == ["2024/deep.nc", "flight.nc"]


def test_a_file_name_that_is_not_utf8_is_named_in_the_error(
    seeded: Path, sftp_server: SFTPTestServer, known_hosts: Path, secrets_env: dict[str, str]
) -> None:
    """paramiko cannot decode such a name: a clear TransferError, not a UnicodeDecodeError."""
    import os

    from stratoflow.errors import TransferError

    os.close(os.open(os.fsencode(seeded) + b"/Messfl\xfcge.nc", os.O_CREAT | os.O_WRONLY))
    auth = SSHAuth(username=SFTP_USER, password=Secret(secrets_env["sftp"]))
    handler = _sftp(sftp_server, auth, known_hosts=str(known_hosts), pattern="*.nc")
    with pytest.raises(TransferError, match=r"not UTF-8 \(b'Messfl\\xfcge.nc'\); rename"):
        handler.list()
