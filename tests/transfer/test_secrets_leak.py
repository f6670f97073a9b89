"""Secrets are references resolved at use time and never appear in logs, errors, repr or configs."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stratoflow.errors import SecretError, StratoflowError, TransferError
from stratoflow.transfer import (
    Connection,
    ConnectionHandler,
    DataProvider,
    FTPServer,
    HttpPortal,
    SFTPServer,
    StagingArea,
    TransferHandler,
    TransferType,
    auth_from_config,
)
from stratoflow.transfer.auth.base import FTPLogin
from stratoflow.transfer.auth.bearer import BearerAuth
from stratoflow.transfer.secrets import Secret, redact

from . import _portal
from ._helpers import (
    AUTH_CASES,
    assert_nowhere,
    chain_texts,
    import_job,
    portal_options,
    tasks_by_subject,
)
from ._portal import Portal
from ._sftp_server import SFTPTestServer
from .conftest import FAST_RETRY, FTP_USER, SECRET_VALUES, SFTP_USER


def test_secret_resolves_env_and_file_at_use_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = Secret("env:SF_ROTATING")
    monkeypatch.setenv("SF_ROTATING", "first")
    assert secret.reveal() == "first"
    monkeypatch.setenv("SF_ROTATING", "second")  # rotation needs no config change
    assert secret.reveal() == "second"
    path = tmp_path / "token"
    path.write_text("from-file\n")
    assert Secret(f"file:{path}").reveal() == "from-file"
    assert Secret(f"file:{path}").to_config() == f"file:{path}"


def test_bad_references_name_the_reference_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SF_MISSING", raising=False)
    with pytest.raises(SecretError, match="SF_MISSING is not set"):
        Secret("env:SF_MISSING").reveal()
    with pytest.raises(SecretError, match="cannot read file"):
        Secret("file:/nonexistent/secret").reveal()
    with pytest.raises(SecretError) as info:
        Secret("hunter2-pasted-inline")  # a value where a reference belongs
    assert "hunter2" not in str(info.value)
    with pytest.raises(SecretError, match="literal secret"):
        Secret.from_value("hunter2").to_config()


@pytest.mark.parametrize("pasted", ["Tr0ub4dor:3", "Tr0ub4dor", "ENV:Tr0ub4dor", "vault:Tr0ub4dor"])
def test_a_malformed_reference_is_not_echoed_even_in_part(pasted: str) -> None:
    """A pasted password with a colon looks like ``scheme:rest``: no part of it is shown; the
    message names the option (an SSH login has three secret options)."""
    with pytest.raises(SecretError) as info:
        Secret(pasted)
    with pytest.raises(SecretError) as named:
        auth_from_config(
            {"method": "ssh", "username": "u", "password": "env:X", "key_passphrase": pasted}
        )
    assert "option 'key_passphrase'" in str(named.value)
    for text in chain_texts(info.value) + chain_texts(named.value):
        assert "Tr0ub4dor" not in text
    with pytest.raises(SecretError, match="env: names no environment variable"):
        Secret("env:")


def test_secret_values_that_are_not_utf8_are_named_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The codec's error holds the bytes it could not decode, i.e. the secret, in its repr
    (which is how a task stores an unexpected exception); a SecretError names the reference.
    A UTF-8 byte-order mark is not part of the secret."""
    latin1, utf16 = tmp_path / "latin1", tmp_path / "utf16"
    latin1.write_bytes("t\xf6k-SECRET-Lq93\n".encode("latin-1"))
    utf16.write_text("SECRET-Lq93", encoding="utf-16")
    monkeypatch.setenv("SF_NOT_UTF8", os.fsdecode(b"t\xf6k-SECRET-Lq93"))
    for ref in (f"file:{latin1}", f"file:{utf16}", "env:SF_NOT_UTF8"):
        with pytest.raises(SecretError, match="not UTF-8 text") as info:
            Secret(ref).reveal()
        assert ref in str(info.value)
        for text in chain_texts(info.value):
            assert "SECRET-Lq93" not in text and "S\\x00E\\x00C" not in text, text
    bom = tmp_path / "bom"
    bom.write_text("SECRET-Lq93\r\n", encoding="utf-8-sig")
    assert Secret(f"file:{bom}").reveal() == "SECRET-Lq93"


@pytest.mark.django_db(transaction=True)
def test_a_run_stopped_by_an_unreadable_secret_shows_it_nowhere(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    staging_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A token file saved as Latin-1: the run fails naming the reference; the bytes are in
    no table (task, run summary), log record, mail or staged file."""
    from django.contrib.auth.models import User
    from django.core import mail

    from stratoflow.server.workflow.services import job_run

    caplog.set_level(logging.DEBUG)
    (remote_root / "f.nc").write_bytes(b"data")
    token = tmp_path / "secrets" / "token"
    token.parent.mkdir()
    token.write_bytes(f"{_portal.BEARER}-\xe9\n".encode("latin-1"))
    portal = portal_factory("bearer")
    job = import_job(
        "leaky",
        "http",
        portal_options(portal.url),
        auth={"method": "bearer", "token": f"file:{token}"},
    )
    job.responsible = User.objects.create(username="pi", email="pi@example.org")
    job.save()

    report = job_run(job)

    assert report.state == "failed"
    assert f"secret file:{token}: the file is not UTF-8 text" in report.managers[0].errors[0]
    assert_nowhere(
        _portal.BEARER,
        texts=[*report.managers[0].errors, *(m.body for m in mail.outbox)],
        caplog=caplog,
        database=True,
        dirs=[staging_dir],
    )
    assert portal.requests == []  # nothing was sent without the token


def test_repr_and_str_show_the_reference_only() -> None:
    literal = Secret.from_value("hunter2")
    for text in (repr(literal), str(literal), f"{literal}", f"{literal!r}"):
        assert "hunter2" not in text
    assert repr(Secret("env:X")) == "Secret('env:X')"
    assert "pw" not in repr(FTPLogin(user="u", password="pw"))


def test_no_secret_in_logs_errors_reprs_or_configs(
    portal_factory: Callable[..., Portal],
    sftp_server: SFTPTestServer,
    known_hosts: Path,
    ftp_server: int,
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx/httpcore/paramiko/pyftpdlib included
    (remote_root / "f.nc").write_bytes(b"data")
    texts: list[str] = []
    portal = portal_factory("apikey_query", faults={"f.nc": ["503"]})
    http = {"type": "http", "base_url": portal.url, "list_path": "api/files", "timeout": 5}
    configs = [
        {
            "transfer": http,
            "auth": {
                "method": "apikey",
                "key": secrets_env["apikey"],
                "location": "query",
                "param": "api_key",
            },
        },
        {
            "transfer": http,
            "auth": {"method": "basic", "username": "alice", "password": secrets_env["basic"]},
        },
        {"transfer": http, "auth": {"method": "bearer", "token": secrets_env["bearer"]}},
        {
            "transfer": http,
            "auth": {"method": "hashtoken", "passphrase": secrets_env["passphrase"]},
        },
        {
            "transfer": http,
            "auth": {
                "method": "oauth2",
                "token_url": f"{portal.url}/oauth/token",
                "client_id": _portal.CLIENT_ID,
                "client_secret": secrets_env["oauth2"],
            },
        },
        {
            "transfer": {
                "type": "sftp",
                "host": "127.0.0.1",
                "port": sftp_server.port,
                "known_hosts": str(known_hosts),
                "timeout": 5,
            },
            "auth": {"method": "ssh", "username": SFTP_USER, "password": secrets_env["sftp"]},
        },
        {
            "transfer": {"type": "ftp", "host": "127.0.0.1", "port": ftp_server, "timeout": 5},
            "auth": {"method": "ftp_login", "user": FTP_USER, "password": secrets_env["ftp"]},
        },
    ]
    for i, config in enumerate(configs):
        handler = TransferHandler.from_config(
            {**config, "provider": {"name": "Leak DC"}, "retry": FAST_RETRY.to_config()}
        )
        texts += [repr(handler), repr(handler.auth), json.dumps(handler.to_config())]
        try:  # succeeds for the apikey (after a retried 503) and the SFTP/FTP logins
            handler.fetch_new(StagingArea(tmp_path / f"staging{i}"))
        except StratoflowError as exc:  # the portal only accepts the API key
            texts += chain_texts(exc)

    # Now every credential is wrong: the refusals must not echo what was sent.
    for name in (
        "SF_TEST_BASIC_PW",
        "SF_TEST_BEARER",
        "SF_TEST_API_KEY",
        "SF_TEST_PASSPHRASE",
        "SF_TEST_SFTP_PW",
        "SF_TEST_FTP_PW",
    ):
        monkeypatch.setenv(name, _portal.PASSWORD + "-but-wrong")
    for config in configs:
        handler = TransferHandler.from_config({**config, "provider": {"name": "Leak DC"}})
        with pytest.raises(StratoflowError) as info:
            handler.list()
        texts += chain_texts(info.value)

    assert "api/files" in caplog.text  # httpx did log the requests ...
    for secret in SECRET_VALUES:
        assert_nowhere(secret, texts=texts, caplog=caplog)


def test_a_key_the_portal_echoes_back_is_in_no_log_record(
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A portal that redirects ``files?api_key=K`` to ``files/?api_key=K`` (Django's
    APPEND_SLASH keeps the query string) sends the key back in its ``Location`` header, and
    httpcore logs response headers at DEBUG; the key's value is masked in every log record,
    whatever the logger."""
    caplog.set_level(logging.DEBUG)
    for i in range(3):  # two pages: the next link is redirected too
        (remote_root / f"f{i}.nc").write_bytes(b"data")
    portal = portal_factory("apikey_query", append_slash=True)
    handler = TransferHandler.from_config(
        {
            "provider": {"name": "Leak DC"},
            "transfer": {"type": "http", "base_url": portal.url, "list_path": "api/files"},
            "auth": AUTH_CASES["apikey_query"](secrets_env),
        }
    )
    staged = handler.fetch_new(StagingArea(tmp_path / "staging"))
    assert sorted(s.name for s in staged) == ["f0.nc", "f1.nc", "f2.nc"]
    assert "Location" in caplog.text  # httpcore did log the redirects' headers ...
    assert_nowhere(_portal.API_KEY, caplog=caplog, dirs=[tmp_path / "staging"])


def test_revealed_values_are_masked_in_texts_and_log_records(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As sent (a query parameter is URL-encoded) and in a logged traceback too."""
    value = "k3y/with+odd chars&=Zz"
    monkeypatch.setenv("SF_ODD_KEY", value)
    assert Secret("env:SF_ODD_KEY").reveal() == value
    url = httpx.URL("https://portal.example/f").copy_set_param("k", value)
    assert redact(f"GET {url}: {value}") == "GET https://portal.example/f?k=***: ***"
    caplog.set_level(logging.DEBUG)
    try:
        raise ValueError(f"the server said: bad key {value}")
    except ValueError:
        logging.getLogger("some.library").debug("GET %s", url, exc_info=True)
    assert "the server said: bad key ***" in caplog.text
    assert_nowhere(value, texts=[caplog.text], caplog=caplog)
    assert_nowhere(str(url).partition("=")[2], caplog=caplog)


def test_auth_configs_hold_references_only(secrets_env: dict[str, str]) -> None:
    auth = auth_from_config({"method": "bearer", "token": secrets_env["bearer"]})
    assert auth.to_config() == {"method": "bearer", "token": "env:SF_TEST_BEARER"}
    assert _portal.BEARER not in repr(auth)


def test_a_secret_of_the_wrong_type_is_not_echoed() -> None:
    from stratoflow.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        auth_from_config({"method": "basic", "username": "u", "password": 90417263})
    assert "90417263" not in str(info.value)
    assert "must be a secret reference ('env:NAME' or 'file:/path')" in str(info.value)


@pytest.mark.parametrize(
    "config",
    [
        {"transfer": {"type": "http", "base_url": "https://alice:hunter2@portal.example/api/"}},
        {"transfer": {"type": "http", "base_url": "ftp://alice:hunter2@portal.example/"}},
        {"transfer": {"type": "http", "base_url": "https://portal.example/api/?token=hunter2"}},
        {"transfer": {"type": "http", "base_url": "https://portal.example/api/#hunter2"}},
        {"transfer": {"type": "ftp", "host": "carol:hunter2@ftp.example"}},
        {
            "transfer": {"type": "sftp", "host": "bob:hunter2@sftp.example"},
            "auth": {"method": "ssh", "username": "bob", "password": "env:SF_TEST_SFTP_PW"},
        },
        {
            "transfer": {"type": "http", "base_url": "https://portal.example/api/"},
            "auth": {
                "method": "oauth2",
                "token_url": "https://stratoflow:hunter2@auth.example/token",
                "client_id": "stratoflow",
                "client_secret": "env:SF_TEST_OAUTH",
            },
        },
    ],
)
def test_a_secret_in_a_url_or_host_is_refused_without_echoing_it(config: dict[str, Any]) -> None:
    """URLs and hosts are stored with the configuration (database row, YAML) and shown in
    every message: no credentials in them. A query string in base_url was never even sent
    (requests are relative to its path)."""
    from stratoflow.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        TransferHandler.from_config({"provider": {"name": "Leak DC"}, **config})
    assert any(f"{name} must" in str(info.value) for name in ("base_url", "token_url", "host"))
    assert_nowhere("hunter2", texts=chain_texts(info.value))


class _PluginTransfer(TransferType):
    """A third-party transfer type that checks none of its options itself."""

    name = "leaky-plugin"
    protocol = "http"

    def __init__(self, *, url: str, mirror_host: str = "", label: str = "") -> None:
        self.url, self.mirror_host, self.label = url, mirror_host, label

    def options(self) -> dict[str, Any]:
        return {"url": self.url, "mirror_host": self.mirror_host, "label": self.label}

    @property
    def where(self) -> str:
        return "plugin"

    def connect(self, auth: ConnectionHandler) -> Connection:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("build", "option"),
    [
        (lambda: HttpPortal(base_url="https://alice:hunter2@portal.example/api/"), "base_url"),
        (lambda: SFTPServer(host="bob:hunter2@sftp.example"), "host"),
        (lambda: FTPServer(host="carol:hunter2@ftp.example"), "host"),
        (lambda: _PluginTransfer(url="https://alice:hunter2@plugin.example/"), "url"),
        (
            lambda: _PluginTransfer.from_config({"url": "https://alice:hunter2@plugin.example/"}),
            "url",
        ),
        (
            lambda: _PluginTransfer(url="https://plugin.example/", mirror_host="a:hunter2@m.x"),
            "mirror_host",
        ),
        (lambda: DataProvider(name="Leak DC", url="https://alice:hunter2@dc.example/"), "url"),
        (
            lambda: TransferHandler.from_config(
                {
                    "provider": {"name": "Leak DC", "url": "https://alice:hunter2@dc.example/"},
                    "transfer": {"type": "http", "base_url": "https://portal.example/api/"},
                }
            ),
            "url",
        ),
    ],
)
def test_credentials_in_an_address_are_refused_when_built_in_python_too(
    build: Callable[[], object], option: str
) -> None:
    """A provider or transfer type built in Python (a notebook, a plugin's type that checks
    nothing itself) is stored and shown like one from a job definition: the same refusal,
    naming the option, never the value."""
    from stratoflow.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        build()
    assert f"{option} must not carry a user name or password" in str(info.value)
    assert_nowhere("hunter2", texts=chain_texts(info.value))


def test_addresses_without_credentials_are_kept_as_given() -> None:
    """The check refuses ``user:password@`` only: an ``@`` in a path or a contact is no
    credential, and a plugin's other options are not addresses."""
    plugin = _PluginTransfer(url="https://plugin.example/users/@me", label="a:b@c")
    assert plugin.options()["url"] == "https://plugin.example/users/@me"
    provider = DataProvider(name="DC", url="https://dc.example/", contact="dc@example.org")
    assert provider.to_config()["url"] == "https://dc.example/"


def test_an_oauth2_refusal_names_the_token_endpoint_without_its_query(
    portal_factory: Callable[..., Portal], monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = portal_factory("oauth2")
    monkeypatch.setenv("SF_TEST_OAUTH", "cs-not-the-secret")
    handler = TransferHandler.from_config(
        {
            "provider": {"name": "Leak DC"},
            "transfer": {"type": "http", "base_url": portal.url, "list_path": "api/files"},
            "auth": {
                "method": "oauth2",
                "token_url": f"{portal.url}/oauth/token?tenant=t-Qz81",
                "client_id": _portal.CLIENT_ID,
                "client_secret": "env:SF_TEST_OAUTH",
            },
        }
    )
    with pytest.raises(StratoflowError) as info:
        handler.list()
    assert f"OAuth2 token endpoint {portal.url}/oauth/token refused client" in str(info.value)
    assert_nowhere("t-Qz81", texts=chain_texts(info.value))


@pytest.mark.parametrize("method", ["bearer", "apikey_header"])
def test_a_secret_with_a_line_break_is_never_echoed(
    method: str,
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A secret from the environment often ends with a newline (a Kubernetes secret made
    from a file, an ``.env`` file): it is stripped, as for ``file:`` secrets. A line break
    inside a secret cannot go into a header: the error says so without showing the value.
    """
    (remote_root / "f.nc").write_bytes(b"data")
    portal = portal_factory(method)
    name = "SF_TEST_BEARER" if method == "bearer" else "SF_TEST_API_KEY"
    value = _portal.BEARER if method == "bearer" else _portal.API_KEY
    auth = (
        {"method": "bearer", "token": secrets_env["bearer"]}
        if method == "bearer"
        else {"method": "apikey", "key": secrets_env["apikey"]}
    )
    config = {
        "provider": {"name": "Leak DC"},
        "transfer": {"type": "http", "base_url": portal.url, "list_path": "api/files"},
        "auth": auth,
        "retry": FAST_RETRY.to_config(),
    }
    monkeypatch.setenv(name, value + "\n")
    staged = TransferHandler.from_config(config).fetch_new(StagingArea(tmp_path / "a"))
    assert [s.name for s in staged] == ["f.nc"]

    monkeypatch.setenv(name, value + "\nX-Injected: 1")
    before = len(portal.requests)
    with pytest.raises(StratoflowError) as info:
        TransferHandler.from_config(config).fetch_new(StagingArea(tmp_path / "b"))
    assert "header" in str(info.value)
    assert len(portal.requests) == before  # never sent, and not retried
    assert_nowhere(value, texts=chain_texts(info.value), caplog=caplog)


def test_an_ftp_password_with_a_line_break_is_a_secret_error(
    ftp_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ftplib refuses a command with a line break with a bare ValueError (not translated)."""
    monkeypatch.setenv("SF_TEST_FTP_PW", "pw-ftp-Vd27\nQUIT")
    handler = TransferHandler.from_config(
        {
            "provider": {"name": "Leak DC"},
            "transfer": {"type": "ftp", "host": "127.0.0.1", "port": ftp_server, "timeout": 5},
            "auth": {"method": "ftp_login", "username": FTP_USER, "password": "env:SF_TEST_FTP_PW"},
            "retry": FAST_RETRY.to_config(),
        }
    )
    with pytest.raises(SecretError, match="line break") as info:
        handler.list()
    assert "pw-ftp-Vd27" not in str(info.value)


class _QuotingFlow(httpx.Auth):
    def __init__(self, token: Secret) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.path.startswith("/files/"):
            raise TransferError(f"cannot sign {request.url.path} with {self.token.reveal()}")
        request.headers["Authorization"] = f"Bearer {self.token.reveal()}"
        yield request


class _QuotingAuth(BearerAuth):
    """An auth plugin whose library, when it fails, quotes the credential it was given (as
    some SDKs' errors do): here for every file download, not for the listing."""

    name = "quoting"

    def http_auth(self) -> httpx.Auth:
        return _QuotingFlow(self.token)


@pytest.mark.django_db(transaction=True)
def test_a_secret_a_plugin_quotes_is_masked_in_the_database_and_mail(
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    staging_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Task errors and details, the run's summary and the failure mail are stored or sent
    with every revealed secret masked, whoever quoted it."""
    from django.contrib.auth.models import User
    from django.core import mail

    from stratoflow import plugins
    from stratoflow.server.workflow.services import job_run

    caplog.set_level(logging.DEBUG)
    (remote_root / "f.nc").write_bytes(b"data")
    portal = portal_factory("bearer")
    plugins.register("auth", "quoting", _QuotingAuth)
    try:
        job = import_job(
            "quoting",
            "http",
            portal_options(portal.url),
            auth={"method": "quoting", "token": secrets_env["bearer"]},
        )
        job.responsible = User.objects.create(username="pi", email="pi@example.org")
        job.save()
        report = job_run(job)
    finally:
        plugins.unregister("auth", "quoting")

    assert report.state == "failed"
    assert "cannot sign /files/f.nc with ***" in report.managers[0].errors[0]
    assert_nowhere(
        _portal.BEARER,
        texts=[*report.managers[0].errors, *(m.body for m in mail.outbox)],
        caplog=caplog,
        database=True,
        dirs=[staging_dir],
    )


@pytest.mark.django_db(transaction=True)
def test_where_a_quoted_secret_would_be_stored_or_shown_it_is_masked(
    secrets_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The last boundaries: the note a failed driver leaves in its run's summary (an
    exception's repr), the reason a file cannot be re-processed (a transfer's or reader's
    error: run summary, review history, admin, output) and the command's error line."""
    from django.utils import timezone

    from stratoflow.cli import main
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.reprocess import Blocked
    from stratoflow.server.workflow.services import run_interrupt

    key = Secret(secrets_env["apikey"]).reveal()
    job = import_job("masked", "local", {"root": str(tmp_path)})
    run = JobRun.objects.create(job=job, scheduled_for=timezone.now(), state="running", owner="me")
    run_interrupt(run, "me", f"the scheduler's driver failed: ValueError('bad key {key}')")
    assert run.summary["interrupted"] == "the scheduler's driver failed: ValueError('bad key ***')"

    blocked = Blocked("f.nc", "F1", f"could not be fetched again (GET ?api_key={key}: 500)")
    assert blocked.reason == "could not be fetched again (GET ?api_key=***: 500)"

    missing = tmp_path / f"{key}.nc"
    assert main(["inspect", str(missing)]) == 1
    err = capsys.readouterr().err
    line = err.splitlines()[-1]  # (after the log lines of a handler another test left)
    assert line.startswith("stratoflow inspect: error: ") and line.endswith("***.nc: no such file")
    assert_nowhere(key, texts=[err], database=True)


@pytest.mark.django_db(transaction=True)
def test_a_key_the_portal_puts_in_item_links_is_not_part_of_their_identity(
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    staging_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With ``id_field`` on a link that carries the key sent (``?api_key=K``), the key would
    be the file's identity: in the staging manifest, the task subject, every message. The
    parameter is dropped from the identity (the download still uses the link); a key in
    the link's path is refused, naming the item and the option, never the value."""
    from stratoflow.server.workflow.services import job_run

    caplog.set_level(logging.DEBUG)
    for i in range(3):  # two pages
        (remote_root / f"f{i}.nc").write_bytes(b"data")
    portal = portal_factory("apikey_query", key_in_links="query")
    job = import_job(
        "keyed",
        "http",
        portal_options(portal.url, id_field="url", name_field=None),
        auth=AUTH_CASES["apikey_query"](secrets_env),
    )
    job_run(job)

    assert set(tasks_by_subject(job)) == {f"/files/f{i}.nc" for i in range(3)}
    assert "GET /files/f2.nc" in portal.requests  # downloaded through the listed link
    assert sorted(p.name for p in staging_dir.rglob("f*.nc")) == ["f0.nc", "f1.nc", "f2.nc"]
    assert_nowhere(_portal.API_KEY, caplog=caplog, database=True, dirs=[staging_dir])

    portal.key_in_links = "path"
    handler = TransferHandler.from_config(
        {
            "provider": {"name": "Leak DC"},
            "transfer": {"type": "http", **portal_options(portal.url, id_field="url")},
            "auth": AUTH_CASES["apikey_query"](secrets_env),
        }
    )
    with pytest.raises(TransferError) as info:
        handler.list()
    assert "item 0 of the listing: its field 'url' (option id_field) holds a credential" in str(
        info.value
    )
    assert_nowhere(_portal.API_KEY, texts=chain_texts(info.value))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name_field", ["name", "url"])
def test_a_signed_link_given_as_a_file_name_names_no_staged_file(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    staging_dir: Path,
    caplog: pytest.LogCaptureFixture,
    name_field: str,
) -> None:
    """A portal that lists presigned links where names are expected (``name:
    "f0.nc?X-Amz-Signature=..."``, or the link itself as ``name_field``): the signature
    named the staged file, its manifest entry and database rows. The file is staged as
    ``f0.nc``, downloaded through the signed link, and a second run (links signed anew)
    fetches nothing again."""
    from stratoflow.server.workflow.services import job_run

    caplog.set_level(logging.DEBUG)
    for i in range(3):  # two pages
        (remote_root / f"f{i}.nc").write_bytes(f"data {i}".encode())
    portal = portal_factory(signed_names=True)
    job = import_job("signed", "http", portal_options(portal.url, name_field=name_field))
    job_run(job)
    staged = sorted(p.name for p in staging_dir.rglob("f*.nc"))
    assert staged == ["f0.nc", "f1.nc", "f2.nc"]
    downloads = [r for r in portal.requests if r.startswith("GET /files/")]
    assert len(downloads) == 3

    job_run(job)  # every link signed anew: the same items, nothing fetched again
    assert [r for r in portal.requests if r.startswith("GET /files/")] == downloads
    assert portal.listings >= 4
    for secret in (_portal.SIGNATURE, "AKIAEXAMPLE"):
        assert_nowhere(secret, caplog=caplog, database=True, dirs=[staging_dir])


def test_a_link_without_a_credential_names_its_file_as_before(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """Only a query string that carries a credential is taken off a name: a link such as
    ``/download?id=1`` still names its item apart from the others, as in earlier runs."""
    for i in range(3):
        (remote_root / f"f{i}.nc").write_bytes(f"data {i}".encode())
    portal = portal_factory(by_id=True)
    handler = TransferHandler.from_config(
        {
            "provider": {"name": "By id"},
            "transfer": {"type": "http", **portal_options(portal.url, id_field="url")},
        }
    )
    staged = handler.fetch_new(StagingArea(tmp_path / "staging"))
    assert sorted(f.name for f in staged) == [f"download?id={i}" for i in range(3)]
    assert sorted(f.identity for f in staged) == [f"/download?id={i}" for i in range(3)]
