"""OAuth 2.0 client credentials (RFC 6749 §4.4) with automatic token refresh.

Machine-to-machine portals hand out short-lived access tokens. The flow below fetches a token
before the first request, fetches a new one when the current one is about to expire (``leeway``
seconds before ``expires_at``), and, if the server still answers 401 (token revoked or expired
early), fetches a new token and replays the request once. It runs *inside* the httpx request
(an :class:`httpx.Auth` flow yields the token request first), so a long transfer of many files
keeps working when tokens expire mid-way. Token parsing and expiry come from authlib.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Generator
from typing import Any, Literal

import httpx
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from stratoflow.errors import AuthError, ConfigError, TransientTransferError
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.http import public_url
from stratoflow.transfer.retry import retry_after_seconds
from stratoflow.transfer.secrets import Secret

__all__ = ["OAuth2ClientCredentials"]


class OAuth2ClientCredentials(ConnectionHandler):
    """Client-credentials grant against ``token_url`` with ``client_id``/``client_secret``.

    ``client_auth`` chooses how the client authenticates at the token endpoint:
    ``"basic"`` (HTTP basic, the RFC default) or ``"post"`` (credentials in the form body).
    """

    name = "oauth2"
    protocols = frozenset({"http"})
    secret_options = ("client_secret",)

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        scope: str | None = None,
        client_auth: Literal["basic", "post"] = "basic",
        leeway: float = 30.0,
    ) -> None:
        if client_auth not in ("basic", "post"):
            raise ConfigError(
                f"auth 'oauth2': client_auth must be 'basic' or 'post', not {client_auth!r}"
            )
        try:
            userinfo = httpx.URL(token_url).userinfo
        except httpx.InvalidURL:
            raise ConfigError("auth 'oauth2': token_url is not a valid URL") from None
        if userinfo:
            # Stored with the configuration (database row, YAML) and shown in messages.
            raise ConfigError(
                "auth 'oauth2': token_url must not carry a user name or password "
                "(user:password@host); the client authenticates with client_id and the "
                "client_secret reference"
            )
        self.token_url, self.client_id, self.client_secret = token_url, client_id, client_secret
        self.scope, self.client_auth, self.leeway = scope, client_auth, leeway
        self._token: OAuth2Token | None = None
        self._lock = threading.Lock()
        #: How many tokens were fetched (for monitoring; also what the tests look at).
        self.tokens_fetched = 0

    def options(self) -> dict[str, Any]:
        return {
            "token_url": self.token_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
            "client_auth": self.client_auth,
            "leeway": self.leeway,
        }

    def http_auth(self) -> httpx.Auth:
        return _ClientCredentialsFlow(self)

    # -- token state (shared by every request of every thread using this handler) --

    def _current(self) -> str | None:
        with self._lock:
            token = self._token
        if token is None or token.is_expired(leeway=int(self.leeway)):
            return None
        return str(token["access_token"])

    def _invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _token_request(self) -> httpx.Request:
        body = prepare_token_request("client_credentials", scope=self.scope)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        secret = self.client_secret.reveal()
        if self.client_auth == "basic":
            pair = f"{self.client_id}:{secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            body += "&" + str(
                httpx.QueryParams({"client_id": self.client_id, "client_secret": secret})
            )
        return httpx.Request("POST", self.token_url, content=body.encode(), headers=headers)

    def _accept(self, response: httpx.Response) -> str:
        response.read()
        where = f"OAuth2 token endpoint {public_url(self.token_url)}"
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"{where} refused client {self.client_id!r} (HTTP {response.status_code})"
            )
        if response.status_code >= 500 or response.status_code == 429:
            wait = retry_after_seconds(
                response.headers.get("Retry-After"), response.headers.get("Date")
            )
            raise TransientTransferError(f"{where}: HTTP {response.status_code}", retry_after=wait)
        if response.status_code != 200:
            raise AuthError(f"{where}: unexpected HTTP {response.status_code}")
        try:
            payload = response.json()
            token = OAuth2Token.from_dict(payload)
            access = str(token["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthError(f"{where}: the response is not an OAuth2 token") from exc
        with self._lock:
            self._token = token
            self.tokens_fetched += 1
        return access


class _ClientCredentialsFlow(httpx.Auth):
    def __init__(self, handler: OAuth2ClientCredentials) -> None:
        self._h = handler

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        access = self._h._current()
        if access is None:
            access = self._h._accept((yield self._h._token_request()))
        request.headers["Authorization"] = f"Bearer {access}"
        response = yield request
        if response.status_code == 401:
            # Expired or revoked before its announced time: one fresh token, one replay.
            self._h._invalidate()
            access = self._h._accept((yield self._h._token_request()))
            request.headers["Authorization"] = f"Bearer {access}"
            yield request
