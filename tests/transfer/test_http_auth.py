"""Every HTTP authentication method against the portal that enforces it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stratoflow.errors import AuthError, ConfigError
from stratoflow.transfer import (
    DataProvider,
    HttpPortal,
    SFTPServer,
    StagingArea,
    TransferHandler,
    auth_from_config,
)
from stratoflow.transfer.auth.hashtoken import HashTokenAuth, hash_token
from stratoflow.transfer.auth.oauth2 import OAuth2ClientCredentials
from stratoflow.transfer.retry import RetryPolicy
from stratoflow.transfer.secrets import Secret

from . import _portal
from ._helpers import AUTH_CASES
from ._portal import Portal
from .conftest import FAST_RETRY

PROVIDER = DataProvider(name="Test Portal", url="https://portal.example")


def _seed(root: Path, count: int = 5) -> None:
    for i in range(count):
        (root / f"flight_{i}.nc").write_bytes(f"flight {i}\n".encode() * (i + 1))


def _handler(portal: Portal, auth: dict[str, Any]) -> TransferHandler:
    return TransferHandler.from_config(
        {
            "provider": PROVIDER.to_config(),
            "transfer": {
                "type": "http",
                "base_url": portal.url,
                "list_path": "api/files",
                "sha256_field": "sha256",
                "upload_path": "files/{name}",
                "timeout": 5,
            },
            "auth": auth,
            "retry": FAST_RETRY.to_config(),
        }
    )


def _direct(portal: Portal, auth: Any, retry: RetryPolicy | None = FAST_RETRY) -> TransferHandler:
    """A handler built from objects (not configuration): the portal's listing, ``auth``."""
    transfer = HttpPortal(base_url=portal.url, list_path="api/files", timeout=5)
    return TransferHandler(transfer=transfer, auth=auth, provider=PROVIDER, retry=retry)


def _oauth2_config(portal: Portal, client_secret: str) -> dict[str, Any]:
    """The ``auth`` configuration of the portal's OAuth2 client with ``client_secret``."""
    return {
        "method": "oauth2",
        "token_url": f"{portal.url}/oauth/token",
        "client_id": _portal.CLIENT_ID,
        "client_secret": client_secret,
    }


def _oauth2(portal: Portal, secrets_env: dict[str, str]) -> OAuth2ClientCredentials:
    """The portal's OAuth2 client with the right secret, as an object (its state is checked)."""
    return OAuth2ClientCredentials(
        token_url=f"{portal.url}/oauth/token",
        client_id=_portal.CLIENT_ID,
        client_secret=Secret(secrets_env["oauth2"]),
    )


@pytest.mark.parametrize("mode", sorted(AUTH_CASES))
def test_each_method_is_accepted_and_required(
    mode: str,
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _seed(remote_root)
    portal = portal_factory(mode)
    staged = _handler(portal, AUTH_CASES[mode](secrets_env)).fetch_new(
        StagingArea(tmp_path / "staging")
    )
    assert len(staged) == 5
    assert portal.refused == 0

    # Without credentials the portal refuses: an AuthError naming provider and URL, no retries.
    with pytest.raises(AuthError) as info:
        _handler(portal, {"method": "none"}).fetch_new(StagingArea(tmp_path / "other"))
    message = str(info.value)
    assert "Test Portal" in message
    assert f"{portal.url}/api/files" in message
    assert "401" in message
    assert portal.refused == 1  # failed at once: not retried

    # A wrong secret is refused as well.
    for name in ("SF_TEST_BASIC_PW", "SF_TEST_BEARER", "SF_TEST_API_KEY", "SF_TEST_PASSPHRASE"):
        monkeypatch.setenv(name, "wrong")
    with pytest.raises(AuthError):
        _handler(portal, AUTH_CASES[mode](secrets_env)).fetch_new(StagingArea(tmp_path / "x"))


def test_oauth2_token_is_fetched_once_and_reused(
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
) -> None:
    _seed(remote_root)
    portal = portal_factory("oauth2")
    auth = _oauth2_config(portal, secrets_env["oauth2"])
    assert len(_handler(portal, auth).fetch_new(StagingArea(tmp_path / "s"))) == 5
    assert portal.tokens_issued == 1


def test_oauth2_refreshes_mid_transfer_when_the_server_expires_tokens(
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
) -> None:
    # Tokens die after 2 requests although they announce an hour: the server is the judge.
    _seed(remote_root, count=7)
    portal = portal_factory("oauth2", token_uses=2)
    auth = _oauth2(portal, secrets_env)
    staged = _direct(portal, auth).fetch_new(StagingArea(tmp_path / "s"))
    assert sorted(s.name for s in staged) == [f"flight_{i}.nc" for i in range(7)]
    # 4 listing pages + 7 HEADs (no version marker listed) + 7 files = 18 authorised requests
    # at 2 per token -> at least 9 tokens
    assert portal.tokens_issued >= 9
    assert auth.tokens_fetched == portal.tokens_issued


def test_oauth2_refreshes_before_announced_expiry(
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
) -> None:
    # expires_in=1 is within the 30 s leeway: every request needs a fresh token, and the
    # client knows it without being refused first.
    _seed(remote_root, count=3)
    portal = portal_factory("oauth2", token_lifetime=1)
    handler = _direct(portal, _oauth2(portal, secrets_env), retry=None)  # the default policy
    handler.fetch_new(StagingArea(tmp_path / "s"))
    assert portal.refused == 0
    # two listing pages, three HEADs (the listing has no version marker), three files
    assert portal.tokens_issued == 2 + 3 + 3


def test_oauth2_wrong_client_secret_is_an_auth_error(
    portal_factory: Callable[..., Portal], tmp_path: Path, remote_root: Path
) -> None:
    _seed(remote_root, count=1)
    portal = portal_factory("oauth2")
    bad = tmp_path / "bad_secret"
    bad.write_text("nope")
    auth = _oauth2_config(portal, f"file:{bad}")
    with pytest.raises(AuthError, match="token endpoint"):
        _handler(portal, auth).fetch_new(StagingArea(tmp_path / "s"))
    assert portal.tokens_issued == 0


def test_oauth2_missing_secret_and_dead_token_endpoint_are_named_as_such(
    portal_factory: Callable[..., Portal],
    tmp_path: Path,
    remote_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The error says what failed: the unset secret, or the token endpoint that is down.

    Not "the listing is not JSON" (a SecretError is a ValueError) nor the listing URL.
    """
    import socket

    from stratoflow.errors import SecretError, TransientTransferError

    _seed(remote_root, count=1)
    portal = portal_factory("oauth2")
    monkeypatch.delenv("SF_TEST_UNSET_SECRET", raising=False)
    auth = _oauth2_config(portal, "env:SF_TEST_UNSET_SECRET")
    with pytest.raises(SecretError, match="SF_TEST_UNSET_SECRET") as info:
        _handler(portal, auth).fetch_new(StagingArea(tmp_path / "s"))
    assert "JSON" not in str(info.value)

    with socket.create_server(("127.0.0.1", 0)) as sock:
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/oauth/token"
    monkeypatch.setenv("SF_TEST_UNSET_SECRET", _portal.CLIENT_SECRET)
    auth["token_url"] = dead
    with pytest.raises(TransientTransferError) as failed:
        _handler(portal, auth).fetch_new(StagingArea(tmp_path / "s"))
    assert f"POST {dead}: ConnectError" in str(failed.value)
    assert _portal.CLIENT_SECRET not in str(failed.value)


def _hash_auth(secrets_env: dict[str, str], *, skew: timedelta, correct: bool) -> HashTokenAuth:
    return HashTokenAuth(
        passphrase=Secret(secrets_env["passphrase"]),
        skew_correction=correct,
        clock=lambda: datetime.now(UTC) + skew,
    )


def test_hashtoken_stale_timestamp_is_refused(
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
) -> None:
    _seed(remote_root, count=1)
    portal = portal_factory("hashtoken")
    stale = _hash_auth(secrets_env, skew=-timedelta(hours=1), correct=False)
    with pytest.raises(AuthError, match="401"):
        _direct(portal, stale).fetch_new(StagingArea(tmp_path / "s"))
    assert portal.refused == 1


@pytest.mark.parametrize("skew", [timedelta(hours=-1), timedelta(minutes=42)])
def test_hashtoken_corrects_clock_skew_from_the_server_date(
    skew: timedelta,
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
) -> None:
    _seed(remote_root, count=3)
    portal = portal_factory("hashtoken")
    auth = _hash_auth(secrets_env, skew=skew, correct=True)
    assert len(_direct(portal, auth).fetch_new(StagingArea(tmp_path / "s"))) == 3
    assert portal.refused == 1  # only the first request; the offset is kept afterwards
    assert abs(auth.clock_offset + skew) < timedelta(seconds=5)


def test_hash_token_algorithms() -> None:
    # SHA-256 of passphrase+timestamp (the IAGOS scheme) and the HMAC variant
    assert hash_token("k", "t") == hashlib.sha256(b"kt").hexdigest()
    assert hash_token("k", "t", "hmac-sha256") == hmac.new(b"k", b"t", hashlib.sha256).hexdigest()
    with pytest.raises(ConfigError, match="unknown algorithm"):
        hash_token("k", "t", "md5")


def test_auth_method_must_fit_the_protocol(secrets_env: dict[str, str]) -> None:
    bearer = auth_from_config({"method": "bearer", "token": secrets_env["bearer"]})
    with pytest.raises(ConfigError, match="cannot be used with transfer type 'sftp'"):
        TransferHandler(transfer=SFTPServer(host="127.0.0.1"), auth=bearer, provider=PROVIDER)


def test_upload_via_rest_round_trip(
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    tmp_path: Path,
) -> None:
    portal = portal_factory("bearer")
    payload = bytes(range(256)) * 4000
    export = tmp_path / "IAGOS_export.nc"
    export.write_bytes(payload)
    handler = _handler(portal, AUTH_CASES["bearer"](secrets_env))
    assert handler.put(export) == "IAGOS_export.nc"
    assert (remote_root / "IAGOS_export.nc").read_bytes() == payload
    assert "PUT /files/IAGOS_export.nc" in portal.requests


@pytest.mark.parametrize("method", ["apikey_header", "apikey_query", "bearer"])
def test_credentials_go_to_the_portal_origin_only(
    portal_factory: Callable[..., Portal],
    secrets_env: dict[str, str],
    remote_root: Path,
    method: str,
) -> None:
    """A next link or download URL on another host must not receive the key or token."""
    _seed(remote_root, count=1)
    portal = portal_factory(method)
    other = portal_factory(method)  # same credentials accepted: 200 would mean they leaked
    auth = auth_from_config(AUTH_CASES[method](secrets_env))
    transfer = HttpPortal(base_url=portal.url, list_path="api/files", timeout=5)
    with transfer.connect(auth) as conn:
        client = conn.client  # type: ignore[attr-defined]
        assert client.get(f"{portal.url}/api/files").status_code == 200
        assert client.get(f"{other.url}/api/files").status_code == 401
    assert other.refused == 1
