"""Sending notifications through a real site's SMTP server: TLS, a login, a password kept secret.

``STRATOFLOW_EMAIL_URL`` names the server and how to reach it; the scheme chooses the
transport, as in the URLs mail clients and relays already use:

=============================  ===============================================  ============
URL                            transport                                        default port
=============================  ===============================================  ============
``smtp://[user@]host[:port]``  plain SMTP (a relay on the same host or network)  25
``smtp+starttls://...``        plain connection upgraded with STARTTLS          587
``smtps://...``                TLS from the first byte ("implicit TLS")         465
=============================  ===============================================  ============

The user name is in the URL (URL-encoded: ``pi%40example.org@mail.example.org``); the password
never is: a URL holding one is refused at startup, without showing it, because the URL is
shown in settings dumps, process listings and error messages. The password is a secret
reference in ``STRATOFLOW_EMAIL_PASSWORD`` (``env:NAME`` or ``file:/path``, see
:mod:`stratoflow.transfer.secrets`), resolved by :class:`EmailBackend` when it opens a
connection, not when the settings are read: a missing secret fails the sending of mail, with a
message naming the reference, not every ``stratoflow`` command. The resolved value is masked
in every log record from then on, and is not kept once the login is done.

A plain ``smtp://`` login is accepted only to a server on this machine (loopback): anywhere
else the password would cross the network in clear.

Certificates are always verified, against the system's trust store or, for a site's private
CA, against ``STRATOFLOW_EMAIL_CA_FILE`` (PEM); the host name in the URL must match the
certificate.

Failures to resolve the password, to connect, to secure the connection or to log in are
:class:`MailError`, naming the server (its URL, which holds no password) and what went wrong:
a :class:`StratoflowError`, so a command reports it on one line, and an
:class:`smtplib.SMTPException` (an :class:`OSError`), so callers that already tolerate mail
trouble (a run's review notices) keep doing so.
"""

from __future__ import annotations

import ipaddress
import re
import smtplib
import ssl
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as SMTPEmailBackend

from stratoflow.durations import positive_seconds
from stratoflow.errors import ConfigError, MailError, SecretError
from stratoflow.transfer.secrets import Secret

__all__ = ["EmailBackend", "EmailServer", "MailError", "email_server"]

#: Scheme -> (STARTTLS, implicit TLS, default port).
_SCHEMES: Final = {
    "smtp": (False, False, 25),
    "smtp+starttls": (True, False, 587),
    "smtps": (False, True, 465),
}
_SCHEME_SYNTAX: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True)
class EmailServer:
    """Where notifications go, as ``STRATOFLOW_EMAIL_URL`` and its companions say."""

    host: str
    port: int
    starttls: bool
    implicit_tls: bool
    user: str
    #: The secret reference (``env:NAME``/``file:/path``), never the value.
    password: str
    ca_file: str

    @property
    def url(self) -> str:
        """The server as a URL, safe to show: it never holds a password."""
        scheme = "smtps" if self.implicit_tls else "smtp+starttls" if self.starttls else "smtp"
        user = f"{quote(self.user, safe='')}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


def email_server(url: str, password: str = "", ca_file: str = "") -> EmailServer:
    """Check ``STRATOFLOW_EMAIL_URL`` (with the password reference and CA file) and parse it.

    Raises :class:`ConfigError` naming the variable and the defect; no part of the URL that may
    hold a secret (a password, a path or a query) is ever quoted.
    """
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        named = f" {scheme!r}" if _SCHEME_SYNTAX.fullmatch(scheme) else ""
        raise ConfigError(
            f"STRATOFLOW_EMAIL_URL: unknown scheme{named}: expected smtp://[user@]host[:port] "
            "(plain), smtp+starttls://... (STARTTLS, port 587) or smtps://... (implicit TLS, "
            "port 465)"
        )
    parts = urlsplit(url)
    if parts.password is not None:
        raise ConfigError(
            "STRATOFLOW_EMAIL_URL holds a password (not shown): give only the user "
            "(smtp+starttls://user@host) and the password as a secret reference in "
            "STRATOFLOW_EMAIL_PASSWORD (env:NAME or file:/path)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(
            "STRATOFLOW_EMAIL_URL: only [user@]host[:port] may follow the scheme (a path, "
            "query or fragment is not shown); the scheme chooses TLS"
        )
    host = parts.hostname
    if not host:
        raise ConfigError("STRATOFLOW_EMAIL_URL names no host: expected scheme://[user@]host")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"STRATOFLOW_EMAIL_URL ({host}): the port is not a number in 1-65535"
        ) from None
    starttls, implicit_tls, default_port = _SCHEMES[scheme.lower()]
    server = EmailServer(
        host=host,
        port=port or default_port,
        starttls=starttls,
        implicit_tls=implicit_tls,
        user=unquote(parts.username or ""),
        password=password,
        ca_file=ca_file,
    )
    if password:
        try:  # the reference's syntax only: a pasted password is refused, unseen
            Secret(password)
        except SecretError as exc:
            raise SecretError(f"STRATOFLOW_EMAIL_PASSWORD: {exc}") from None
    if server.user and not password:
        raise ConfigError(
            f"{server.url}: a user is given but no STRATOFLOW_EMAIL_PASSWORD (env:NAME or "
            "file:/path) to log in with"
        )
    if password and not server.user:
        raise ConfigError(
            f"{server.url}: STRATOFLOW_EMAIL_PASSWORD is set but the URL names no user to log "
            "in as (smtp+starttls://user@host)"
        )
    if server.user and not (starttls or implicit_tls) and not _is_loopback(host):
        raise ConfigError(
            f"{server.url}: a login over plain smtp:// would send the password in clear "
            "across the network; use smtp+starttls:// or smtps://"
        )
    return server


def email_timeout(text: str) -> float:
    """``STRATOFLOW_EMAIL_TIMEOUT``: seconds to wait for the SMTP server (default 60).

    Django waits forever by default: a server that accepts the connection and never answers
    (a URL whose scheme does not fit the port: STARTTLS spoken to an implicit-TLS port) hung
    the run sending its review notice."""
    if not text.strip():
        return 60.0
    try:
        return positive_seconds(text)
    except ValueError:
        raise ConfigError(
            f"STRATOFLOW_EMAIL_TIMEOUT: {text!r} is not a number of seconds above 0"
        ) from None


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmailBackend(SMTPEmailBackend):
    """Django's SMTP backend, with the password resolved from its reference at connection time
    and certificates verified against ``STRATOFLOW_EMAIL_CA_FILE`` when one is given.

    Settings beyond Django's: ``STRATOFLOW_EMAIL_PASSWORD`` (the reference) and
    ``STRATOFLOW_EMAIL_CA_FILE``. A ``password`` passed to the constructor (Django's API) is
    used as it is.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.password_reference: str = getattr(settings, "STRATOFLOW_EMAIL_PASSWORD", "")
        self.ca_file: str = getattr(settings, "STRATOFLOW_EMAIL_CA_FILE", "")

    @property
    def server_url(self) -> str:
        """The server as a URL for messages (never with a password)."""
        return EmailServer(
            host=str(self.host),
            port=int(self.port),
            starttls=bool(self.use_tls),
            implicit_tls=bool(self.use_ssl),
            user=str(self.username or ""),
            password="",
            ca_file="",
        ).url

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """Verification always on: the system's trust store, or the site's CA file."""
        try:
            context = ssl.create_default_context(cafile=self.ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise MailError(
                f"e-mail server {self.server_url}: cannot use STRATOFLOW_EMAIL_CA_FILE "
                f"{self.ca_file} ({reason})"
            ) from None
        if self.ssl_certfile:  # Django's client-certificate settings (EMAIL_SSL_CERTFILE)
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    def open(self) -> bool | None:
        """Resolve the password, connect, secure and log in; :class:`MailError` naming the
        server if any step fails (nothing raised when ``fail_silently``)."""
        if self.connection:
            return False
        given = self.password
        try:
            if not given and self.password_reference:
                self.password = self._reveal()
            if self.fail_silently:
                opened: bool | None = super().open()
                return opened
            return self._open_or_explain()
        except MailError:
            if self.fail_silently:
                return None
            raise
        finally:
            self.password = given  # the value is not kept once the login is done

    def _reveal(self) -> str:
        """The password, now. A :class:`MailError` when it cannot be had: to the caller it is
        mail that cannot be sent, like a server that is down (a run's review notices are
        tolerated to fail, and retried later), and the message names the reference."""
        what = f"e-mail server {self.server_url}: STRATOFLOW_EMAIL_PASSWORD"
        try:
            value = Secret(self.password_reference).reveal()
        except SecretError as exc:
            raise MailError(f"{what}: {exc}") from None
        if not value:  # Django would skip the login, and the server refuse the mail later
            raise MailError(f"{what}: secret {self.password_reference} is empty")
        return value

    def _open_or_explain(self) -> bool:
        what = f"e-mail server {self.server_url}"
        try:
            return bool(super().open())
        except MailError:  # the CA file (ssl_context), already explained
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"{what}: login as {self.username!r} refused ({_answer(exc)}); check the "
                f"password in {self.password_reference or 'the password given'}"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(f"{what}: {exc} (check the URL's scheme and port)") from None
        except ssl.SSLCertVerificationError as exc:
            raise MailError(
                f"{what}: its certificate is not trusted ({exc.verify_message}); for a private "
                "CA, set STRATOFLOW_EMAIL_CA_FILE to its certificate (PEM)"
            ) from None
        except ssl.SSLError as exc:
            raise MailError(
                f"{what}: TLS failed ({exc.reason or exc}); check the URL's scheme and port "
                "(smtps:// speaks TLS from the first byte, smtp+starttls:// upgrades later)"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise MailError(f"{what}: refused ({_answer(exc)})") from None
        except (smtplib.SMTPException, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise MailError(f"{what}: cannot connect ({reason or type(exc).__name__})") from None


def _answer(exc: smtplib.SMTPResponseException) -> str:
    """The server's reply as it said it: ``535 5.7.8 Authentication credentials invalid``."""
    reply = exc.smtp_error
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return f"{exc.smtp_code} {text}".strip()
