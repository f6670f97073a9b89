"""FTPS (explicit TLS) against a real pyftpdlib TLS server with a private CA.

The test PKI is made here with ``cryptography``: a CA, a server certificate it signs for
``IP:127.0.0.1`` and ``DNS:localhost``, and one for another name (host-name check). The server
insists on TLS for control and data channels and records the commands it receives, so the tests
can show that a client which does not trust the server never sends the password.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stratoflow.errors import AuthError, ConfigError, StratoflowError, TransferError
from stratoflow.transfer import DataProvider, FTPServer, StagingArea, TransferHandler
from stratoflow.transfer.auth.ftp_login import FTPLoginAuth
from stratoflow.transfer.secrets import Secret

from .conformance import TransferConformance
from .conftest import FAST_RETRY, FTP_PASSWORD, FTP_USER

PROVIDER = DataProvider(name="FTPS DC")


# --- test PKI -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PKI:
    ca: Path  # the private CA certificate (what a client is given as ca_file)
    server: Path  # server key + certificate for 127.0.0.1 / localhost
    wrong_name: Path  # server key + certificate, same CA, for another host name
    other_ca: Path  # a CA that did not sign anything the server uses


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    sans: list[x509.GeneralName],
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, signer = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(sans), critical=False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    out = b""
    if key is not None:
        out += key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return out + cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("stratoflow test CA", ca_key, None, [])
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert("some other CA", other_key, None, [])
    server_key = ec.generate_private_key(ec.SECP256R1())
    good = _cert(
        "127.0.0.1",
        server_key,
        ("stratoflow test CA", ca_key),
        [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")],
    )
    wrong = _cert(
        "ftp.elsewhere.example",
        server_key,
        ("stratoflow test CA", ca_key),
        [x509.DNSName("ftp.elsewhere.example")],
    )
    paths = PKI(
        ca=root / "ca.pem",
        server=root / "server.pem",
        wrong_name=root / "wrong_name.pem",
        other_ca=root / "other_ca.pem",
    )
    paths.ca.write_bytes(_pem(ca))
    paths.server.write_bytes(_pem(good, server_key))
    paths.wrong_name.write_bytes(_pem(wrong, server_key))
    paths.other_ca.write_bytes(_pem(other))
    return paths


# --- the server -----------------------------------------------------------------------------


@dataclass
class FTPSTestServer:
    port: int
    commands: list[str]  # command names the server received, in order (never arguments)


@contextmanager
def _serve(root: Path, certfile: Path) -> Iterator[FTPSTestServer]:
    with warnings.catch_warnings():
        # pyftpdlib imports asynchat/asyncore, deprecated on Python 3.11 (stdlib, not ours)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import TLS_FTPHandler
        from pyftpdlib.servers import FTPServer as PyFTPServer

    commands: list[str] = []

    class Handler(TLS_FTPHandler):  # type: ignore[misc]
        tls_control_required = True
        tls_data_required = True
        timeout = 10
        auth_failed_timeout = 0.01

        def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
            commands.append(cmd.upper())
            super().pre_process_command(line, cmd, arg)

    authorizer = DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, str(root), perm="elradfmwMT")
    Handler.authorizer = authorizer
    Handler.certfile = str(certfile)
    server = PyFTPServer(("127.0.0.1", 0), Handler)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield FTPSTestServer(port=server.address[1], commands=commands)
    finally:
        stop.set()
        thread.join(timeout=5)


@pytest.fixture
def ftps_server(remote_root: Path, pki: PKI) -> Iterator[FTPSTestServer]:
    with _serve(remote_root, pki.server) as server:
        yield server


def _handler(
    server: FTPSTestServer, password: Secret, *, host: str = "127.0.0.1", **options: object
) -> TransferHandler:
    transfer = FTPServer(host=host, port=server.port, timeout=5, **options)  # type: ignore[arg-type]
    auth = FTPLoginAuth(user=FTP_USER, password=password)
    return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=FAST_RETRY)


def _chain(exc: BaseException | None) -> list[BaseException]:
    found = []
    while exc is not None:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


# --- the tests ------------------------------------------------------------------------------


class TestFTPS(TransferConformance):
    """The shared suite, over TLS with the private CA."""

    @pytest.fixture
    def handler(
        self, ftps_server: FTPSTestServer, pki: PKI, secrets_env: dict[str, str]
    ) -> TransferHandler:
        return _handler(ftps_server, Secret(secrets_env["ftp"]), tls=True, ca_file=str(pki.ca))


def test_round_trip_over_tls_with_the_private_ca(
    ftps_server: FTPSTestServer,
    pki: PKI,
    remote_root: Path,
    secrets_env: dict[str, str],
    tmp_path: Path,
) -> None:
    payload = os.urandom(300_000)
    (remote_root / "flight.nc").write_bytes(payload)
    handler = _handler(ftps_server, Secret(secrets_env["ftp"]), tls=True, ca_file=str(pki.ca))
    assert [(i.name, i.size) for i in handler.list()] == [("flight.nc", len(payload))]
    staged = handler.fetch_new(StagingArea(tmp_path / "staging"))
    assert [s.path.read_bytes() for s in staged] == [payload]
    upload = tmp_path / "export.nc"
    upload.write_bytes(payload[::-1])
    assert handler.put(upload) == "export.nc"
    assert (remote_root / "export.nc").read_bytes() == payload[::-1]
    # TLS came first, then the login; data went over protected channels only
    assert ftps_server.commands[:4] == ["AUTH", "USER", "PASS", "PBSZ"]
    assert "PROT" in ftps_server.commands


def test_host_name_localhost_is_in_the_certificate(
    ftps_server: FTPSTestServer, pki: PKI, remote_root: Path, secrets_env: dict[str, str]
) -> None:
    (remote_root / "a.nc").write_bytes(b"x")
    handler = _handler(
        ftps_server, Secret(secrets_env["ftp"]), host="localhost", tls=True, ca_file=str(pki.ca)
    )
    assert [i.name for i in handler.list()] == ["a.nc"]


@pytest.mark.parametrize("trust", ["system store", "other CA"])
def test_untrusted_certificate_is_refused_before_the_password(
    trust: str, ftps_server: FTPSTestServer, pki: PKI, secrets_env: dict[str, str]
) -> None:
    ca_file = None if trust == "system store" else str(pki.other_ca)
    handler = _handler(ftps_server, Secret(secrets_env["ftp"]), tls=True, ca_file=ca_file)
    with pytest.raises(AuthError, match="certificate not trusted") as info:
        handler.list()
    message = str(info.value)
    assert message.startswith("provider 'FTPS DC'")
    assert f"127.0.0.1:{ftps_server.port}" in message
    assert "ca_file" in message and ("other" not in trust or pki.other_ca.name in message)
    chain = _chain(info.value)
    assert isinstance(chain[1], AuthError)  # not retried: one attempt, translated once
    assert isinstance(chain[2], ssl.SSLCertVerificationError)
    assert "PASS" not in ftps_server.commands and "USER" not in ftps_server.commands


def test_certificate_for_another_host_name_is_refused(
    remote_root: Path, pki: PKI, secrets_env: dict[str, str]
) -> None:
    with _serve(remote_root, pki.wrong_name) as server:
        handler = _handler(server, Secret(secrets_env["ftp"]), tls=True, ca_file=str(pki.ca))
        with pytest.raises(
            AuthError, match=r"certificate not trusted.*mismatch.*not issued for '127\.0\.0\.1'"
        ):
            handler.list()
        assert "PASS" not in server.commands


def test_plain_ftp_against_a_tls_only_server_fails_cleanly(
    ftps_server: FTPSTestServer, secrets_env: dict[str, str]
) -> None:
    handler = _handler(ftps_server, Secret(secrets_env["ftp"]))
    with pytest.raises(TransferError, match=r"550.*TLS.*set tls=true") as info:
        handler.list()
    assert not isinstance(info.value, AuthError)
    assert f"127.0.0.1:{ftps_server.port}" in str(info.value)
    assert "PASS" not in ftps_server.commands  # refused at USER, the password stayed home


def test_wrong_password_over_tls_is_an_auth_error(ftps_server: FTPSTestServer, pki: PKI) -> None:
    handler = _handler(ftps_server, Secret.from_value("not-it"), tls=True, ca_file=str(pki.ca))
    with pytest.raises(AuthError, match=rf"FTPS 127\.0\.0\.1:{ftps_server.port}.*530"):
        handler.list()


def test_missing_ca_file_is_a_clear_error(
    ftps_server: FTPSTestServer, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    handler = _handler(ftps_server, Secret(secrets_env["ftp"]), tls=True, ca_file=str(missing))
    with pytest.raises(AuthError, match=f"cannot load ca_file {re.escape(str(missing))}"):
        handler.list()


def test_certificate_options_need_tls() -> None:
    with pytest.raises(ConfigError, match="need tls=true"):
        FTPServer(host="127.0.0.1", ca_file="/etc/ca.pem")
    with pytest.raises(ConfigError, match="need tls=true"):
        FTPServer(host="127.0.0.1", insecure_skip_tls_verify=True)


def test_config_round_trip_keeps_the_ca_file(pki: PKI) -> None:
    config = {
        "provider": {"name": "FTPS DC"},
        "transfer": {"type": "ftp", "host": "127.0.0.1", "tls": True, "ca_file": str(pki.ca)},
        "auth": {"method": "ftp_login", "username": FTP_USER, "password": "env:SF_TEST_FTP_PW"},
    }
    handler = TransferHandler.from_config(config)
    assert isinstance(handler.transfer, FTPServer)
    assert handler.transfer.ca_file == str(pki.ca)
    again = handler.to_config()
    assert again["transfer"]["ca_file"] == str(pki.ca)
    assert again["transfer"]["insecure_skip_tls_verify"] is False
    assert TransferHandler.from_config(again).to_config() == again
    assert handler.transfer.where.startswith("ftps://127.0.0.1:")


def test_skipping_verification_needs_the_explicit_opt_out_and_warns(
    ftps_server: FTPSTestServer,
    remote_root: Path,
    secrets_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (remote_root / "a.nc").write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="stratoflow.transfer.ftp"):
        items = _handler(
            ftps_server, Secret(secrets_env["ftp"]), tls=True, insecure_skip_tls_verify=True
        ).list()
    assert [i.name for i in items] == ["a.nc"]
    assert "NOT verified" in caplog.text
    assert f"127.0.0.1:{ftps_server.port}" in caplog.text


def test_password_never_in_logs_or_errors(
    ftps_server: FTPSTestServer,
    pki: PKI,
    remote_root: Path,
    secrets_env: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, pyftpdlib's included
    (remote_root / "f.nc").write_bytes(b"data")
    password = Secret(secrets_env["ftp"])
    texts: list[str] = []
    attempts: list[Callable[[], object]] = [
        _handler(ftps_server, password, tls=True, ca_file=str(pki.ca)).list,
        lambda: _handler(ftps_server, password, tls=True, ca_file=str(pki.ca)).fetch_new(
            StagingArea(tmp_path / "staging")
        ),
        _handler(ftps_server, password, tls=True).list,  # untrusted
        _handler(ftps_server, password).list,  # plain FTP
        _handler(
            ftps_server, Secret.from_value(FTP_PASSWORD + "-wrong"), tls=True, ca_file=str(pki.ca)
        ).list,
    ]
    for attempt in attempts:
        try:
            attempt()
        except StratoflowError as exc:
            texts += [t for e in _chain(exc) for t in (str(e), repr(e))]
    assert len(texts) >= 3 * 2  # three of the attempts failed, with chains
    texts += [caplog.text, *(r.getMessage() for r in caplog.records)]
    texts.append(repr(_handler(ftps_server, password, tls=True, ca_file=str(pki.ca))))
    assert "PASS" in ftps_server.commands  # the password was sent (to the trusted server) ...
    for text in texts:
        assert FTP_PASSWORD not in text, f"password leaked into: {text[:200]!r}"
