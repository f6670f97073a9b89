"""Notifications through a real site's SMTP server: STARTTLS or implicit TLS, a login whose
password is a secret reference, a private CA. A real aiosmtpd server on 127.0.0.1 with a
certificate made here; the ``stratoflow`` command itself is run where the settings are read
from the environment (as a site runs it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import os
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import LazySettings
from django.core.mail import send_mail

import stratoflow.server.settings as settings_module
from stratoflow.errors import ConfigError, MailError, StratoflowError
from stratoflow.server.mail import email_server

from .conftest import Review

USER = "pi@example.org"
PASSWORD = "s3cret-Passw0rd-for-smtp"
PASSWORD_VAR = "STRATOFLOW_TEST_SMTP_PASSWORD"


@dataclass
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for localhost and 127.0.0.1 (its own CA)."""
    folder = tmp_path_factory.mktemp("smtp-cert")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stratoflow test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class Server:
    """What the SMTP server saw: messages, and how each login went."""

    port: int = 0
    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # mechanism, user, TLS

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        secure = session.ssl is not None or server.transport.get_extra_info("sslcontext")
        self.logins.append((mechanism, user, bool(secure)))
        # handled=False: aiosmtpd answers 235 or 535 itself
        return AuthResult(success=user == USER and password == PASSWORD, handled=False)


@pytest.fixture
def start_server(certificate: Certificate) -> Iterator[Any]:
    """Start a real SMTP server on 127.0.0.1: ``start_server("starttls"|"implicit", ...)``."""
    loops: list[tuple[asyncio.AbstractEventLoop, Any, threading.Thread]] = []

    def start(tls: str, exclude: tuple[str, ...] = ()) -> Server:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert, certificate.key)
        inbox = Server()
        loop = asyncio.new_event_loop()

        def protocol() -> SMTP:
            return SMTP(
                inbox,
                hostname="localhost",
                tls_context=context if tls == "starttls" else None,
                require_starttls=tls == "starttls",
                # Implicit TLS is secure from the start, but aiosmtpd only knows STARTTLS: it
                # would offer AUTH before it (and warn if AUTH were required).
                auth_required=tls == "starttls",
                auth_require_tls=tls == "starttls",
                auth_exclude_mechanism=exclude,
                authenticator=inbox.authenticate,
                loop=loop,
            )

        server = loop.run_until_complete(
            loop.create_server(protocol, "127.0.0.1", 0, ssl=context if tls == "implicit" else None)
        )
        inbox.port = server.sockets[0].getsockname()[1]
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        loops.append((loop, server, thread))
        return inbox

    yield start
    for loop, server, thread in loops:

        async def shut(server: Any = server) -> None:
            server.close()
            # Sessions a client left mid-way (an untrusted certificate) end here, not as
            # "Task was destroyed but it is pending" when the loop closes.
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _configure(
    settings: LazySettings, url: str, *, password: str = f"env:{PASSWORD_VAR}", ca: str = ""
) -> None:
    """The settings STRATOFLOW_EMAIL_URL & co. give, through the same parser."""
    server = email_server(url, password=password, ca_file=ca)
    settings.EMAIL_BACKEND = "stratoflow.server.mail.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = server.user
    settings.EMAIL_USE_TLS = server.starttls
    settings.EMAIL_USE_SSL = server.implicit_tls
    settings.EMAIL_TIMEOUT = 10
    settings.STRATOFLOW_EMAIL_PASSWORD = server.password
    settings.STRATOFLOW_EMAIL_CA_FILE = server.ca_file


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_VAR, PASSWORD)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def _send() -> int:
    return send_mail("[stratoflow] test", "body", "stratoflow@example.org", ["pi@example.org"])


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_and_login_with_a_private_ca(
    mechanism: str,
    start_server: Any,
    certificate: Certificate,
    settings: LazySettings,
    password_env: None,
    all_logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    server = start_server("starttls", exclude=(other,))
    user = USER.replace("@", "%40")
    _configure(
        settings, f"smtp+starttls://{user}@127.0.0.1:{server.port}", ca=str(certificate.cert)
    )

    assert _send() == 1

    assert server.logins == [(mechanism, USER, True)]  # over TLS, after STARTTLS
    [(to, message)] = server.messages
    assert to == ["pi@example.org"] and message["Subject"] == "[stratoflow] test"
    out, err = capsys.readouterr()
    assert PASSWORD not in all_logs.text + out + err


def test_implicit_tls(
    start_server: Any, certificate: Certificate, settings: LazySettings, password_env: None
) -> None:
    server = start_server("implicit")
    _configure(settings, f"smtps://{USER.replace('@', '%40')}@localhost:{server.port}",
               ca=str(certificate.cert))  # fmt: skip

    assert _send() == 1

    assert [(user, tls) for _, user, tls in server.logins] == [(USER, True)]
    assert len(server.messages) == 1


def test_wrong_password_names_the_server_not_the_password(
    start_server: Any,
    certificate: Certificate,
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    wrong = "not-the-Right-passw0rd"
    monkeypatch.setenv(PASSWORD_VAR, wrong)
    server = start_server("starttls")
    _configure(settings, f"smtp+starttls://pi%40example.org@127.0.0.1:{server.port}",
               ca=str(certificate.cert))  # fmt: skip

    with pytest.raises(MailError) as raised:
        _send()

    message = str(raised.value)
    assert f"e-mail server smtp+starttls://pi%40example.org@127.0.0.1:{server.port}" in message
    assert "535" in message and f"env:{PASSWORD_VAR}" in message
    assert wrong not in message and wrong not in all_logs.text
    assert isinstance(raised.value, StratoflowError)  # one line from a command
    assert isinstance(raised.value, OSError)  # what callers tolerating mail trouble catch
    assert server.messages == []


def test_certificate_verification_is_always_on(
    start_server: Any, settings: LazySettings, password_env: None
) -> None:
    server = start_server("starttls")
    _configure(settings, f"smtp+starttls://pi%40example.org@127.0.0.1:{server.port}")

    with pytest.raises(MailError, match=r"certificate is not trusted.*STRATOFLOW_EMAIL_CA_FILE"):
        _send()
    assert server.logins == [] and server.messages == []


def test_missing_ca_file_is_named(
    settings: LazySettings, tmp_path: Path, password_env: None
) -> None:
    missing = tmp_path / "no-ca.pem"
    _configure(settings, "smtps://pi@127.0.0.1:1", ca=str(missing))

    with pytest.raises(MailError, match=f"STRATOFLOW_EMAIL_CA_FILE {re.escape(str(missing))}"):
        _send()


@pytest.mark.parametrize(
    ("url", "host", "port", "starttls", "implicit"),
    [
        ("smtp://relay.example.org", "relay.example.org", 25, False, False),
        ("smtp+starttls://mail.example.org", "mail.example.org", 587, True, False),
        ("SMTPS://mail.example.org", "mail.example.org", 465, False, True),
        ("smtp+starttls://[::1]:2525", "::1", 2525, True, False),
    ],
)
def test_url_schemes_and_default_ports(
    url: str, host: str, port: int, starttls: bool, implicit: bool
) -> None:
    server = email_server(url)
    assert (server.host, server.port, server.starttls, server.implicit_tls, server.user) == (
        host,
        port,
        starttls,
        implicit,
        "",
    )


@pytest.mark.parametrize(
    ("url", "password", "error"),
    [
        ("imap://mail.example.org", "", "unknown scheme 'imap'"),
        ("mail.example.org:587", "", "unknown scheme"),
        ("smtp+starttls://pi@mail.example.org", "", "no STRATOFLOW_EMAIL_PASSWORD"),
        ("smtp+starttls://mail.example.org", "env:X", "names no user"),
        ("smtp://pi@mail.example.org", "env:X", "password in clear"),
        ("smtp+starttls://mail.example.org/?password=hunter22", "", "path, query"),
        ("smtp+starttls://mail.example.org:99999", "", "not a number"),
        ("smtp+starttls://pi@mail.example.org", "hunter22", "STRATOFLOW_EMAIL_PASSWORD: invalid"),
    ],
)
def test_bad_configuration_is_refused_clearly(url: str, password: str, error: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)) as raised:
        email_server(url, password=password)
    assert "hunter22" not in str(raised.value)


def test_plain_login_to_a_local_relay_is_accepted() -> None:
    server = email_server("smtp://pi@127.0.0.1", password="env:X")
    assert (server.user, server.port, server.starttls, server.implicit_tls) == (
        "pi",
        25,
        False,
        False,
    )


def _stratoflow(env: dict[str, str], home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``stratoflow`` command as a site does: settings from the environment only."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRATOFLOW_EMAIL", "DJANGO_SETTINGS", "STRATOFLOW_HOME"))
    }
    environment |= {"STRATOFLOW_HOME": str(home), **env}
    return subprocess.run(
        [sys.executable, "-m", "stratoflow.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_password_in_the_url_is_refused_at_startup_unseen(tmp_path: Path) -> None:
    secret = "Url-Pass-w0rd-9"
    done = _stratoflow(
        {"STRATOFLOW_EMAIL_URL": f"smtp+starttls://pi:{secret}@mail.example.org"},
        tmp_path,
        "manage",
        "check",
    )
    assert done.returncode == 1
    assert "STRATOFLOW_EMAIL_URL holds a password (not shown)" in done.stderr
    assert "STRATOFLOW_EMAIL_PASSWORD" in done.stderr
    assert "Traceback" not in done.stderr
    assert secret not in done.stderr + done.stdout


def test_the_command_sends_over_starttls_and_a_missing_secret_fails_only_sending(
    start_server: Any, certificate: Certificate, tmp_path: Path
) -> None:
    server = start_server("starttls")
    env = {
        "STRATOFLOW_EMAIL_URL": f"smtp+starttls://pi%40example.org@localhost:{server.port}",
        "STRATOFLOW_EMAIL_PASSWORD": f"file:{tmp_path / 'smtp-password'}",
        "STRATOFLOW_EMAIL_CA_FILE": str(certificate.cert),
    }

    # The secret file is not there yet: commands that send nothing work ...
    assert _stratoflow(env, tmp_path, "manage", "check").returncode == 0
    # ... and sending says which secret is missing, on one line.
    failed = _stratoflow(env, tmp_path, "manage", "sendtestemail", "pi@example.org")
    assert failed.returncode == 1
    assert f"STRATOFLOW_EMAIL_PASSWORD: secret file:{tmp_path / 'smtp-password'}" in failed.stderr
    assert "Traceback" not in failed.stderr

    (tmp_path / "smtp-password").write_text(PASSWORD + "\n")
    sent = _stratoflow(env, tmp_path, "manage", "sendtestemail", "pi@example.org")

    assert sent.returncode == 0, sent.stderr
    assert server.logins == [("PLAIN", USER, True)]
    [(to, _)] = server.messages
    assert to == ["pi@example.org"]
    assert PASSWORD not in sent.stdout + sent.stderr


def test_every_variable_of_the_settings_is_in_its_table() -> None:
    source = Path(settings_module.__file__).read_text()
    read = set(re.findall(r'environ\.get\("(STRATOFLOW_[A-Z_]+)"', source))
    read -= {name for name in read if name.startswith("STRATOFLOW_TEST_")}  # the test runner's
    table = settings_module.__doc__ or ""
    missing = sorted(name for name in read if not re.search(rf"^{name}\s", table, re.M))
    assert missing == []
    assert {"STRATOFLOW_EMAIL_PASSWORD", "STRATOFLOW_FROM_EMAIL", "STRATOFLOW_BASE_URL"} <= read


def test_an_unset_secret_fails_sending_with_its_name(
    settings: LazySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_VAR, raising=False)
    _configure(settings, "smtps://pi@127.0.0.1:1")
    with pytest.raises(MailError, match=f"environment variable {PASSWORD_VAR} is not set"):
        _send()


@pytest.mark.django_db
def test_a_missing_secret_does_not_fail_the_run(
    review: Review,
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    """The run's review notice cannot be sent: logged, and the run is not failed by it."""
    from django.utils import timezone

    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.notify import review_awaiting

    monkeypatch.delenv(PASSWORD_VAR, raising=False)
    _configure(settings, "smtps://pi@127.0.0.1:1")
    run = JobRun.objects.create(job=review.job, scheduled_for=timezone.now(), state="succeeded")
    review.task.run = run  # type: ignore[attr-defined]
    review.task.save()  # type: ignore[attr-defined]

    assert review_awaiting(run) == 0
    assert f"secret env:{PASSWORD_VAR}" in all_logs.text


def test_a_server_that_never_answers_is_given_up_after_the_timeout(
    settings: LazySettings, password_env: None
) -> None:
    """Django waits forever by default: a listener that accepts and never greets (STARTTLS
    spoken to an implicit-TLS port does the same) hung the sending run."""
    import socket
    import time

    from stratoflow.server.mail import email_timeout

    assert email_timeout("") == 60.0
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(ConfigError, match="STRATOFLOW_EMAIL_TIMEOUT"):
            email_timeout(bad)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        _configure(settings, f"smtp+starttls://{USER.replace('@', '%40')}@127.0.0.1:"
                   f"{silent.getsockname()[1]}")  # fmt: skip
        settings.EMAIL_TIMEOUT = email_timeout("1.5")
        start = time.monotonic()
        with pytest.raises(MailError, match="cannot connect"):
            _send()
        assert time.monotonic() - start < 10
