"""The timestamped hash token used by the IAGOS data centre and similar portals.

Both sides share a passphrase. For each request the client sends the current UTC time and
``token = SHA-256(passphrase + timestamp)`` (or ``HMAC-SHA-256(passphrase, timestamp)``); the
server recomputes the token and accepts only timestamps within its tolerance, so a captured
token is useless a few minutes later and the passphrase itself never travels.

Clocks drift. When the server refuses a request (401/403) and sends a ``Date`` header, the flow
measures the offset between the server's clock and ours, recomputes the token at server time and
replays the request once; the offset is kept for the following requests. Set
``skew_correction=False`` to fail instead.

Example config::

    {"method": "hashtoken", "passphrase": "env:IAGOS_PASSPHRASE", "location": "query",
     "token_param": "token", "timestamp_param": "timestamp"}
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from stratoflow.errors import ConfigError
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.secrets import Secret

__all__ = ["HashTokenAuth", "hash_token"]


def hash_token(passphrase: str, timestamp: str, algorithm: str = "sha256") -> str:
    """The hex token for ``timestamp``: SHA-256 of passphrase+timestamp, or HMAC-SHA-256."""
    if algorithm == "sha256":
        return hashlib.sha256((passphrase + timestamp).encode()).hexdigest()
    if algorithm == "hmac-sha256":
        return hmac.new(passphrase.encode(), timestamp.encode(), hashlib.sha256).hexdigest()
    raise ConfigError(f"auth 'hashtoken': unknown algorithm {algorithm!r} (sha256, hmac-sha256)")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HashTokenAuth(ConnectionHandler):
    """Passphrase + UTC timestamp -> token, sent as query parameters or headers.

    ``clock`` (not part of the config) returns the current UTC time; it exists so that a
    deployment with a known-bad clock, or a test, can supply its own.
    """

    name = "hashtoken"
    protocols = frozenset({"http"})
    secret_options = ("passphrase",)

    def __init__(
        self,
        *,
        passphrase: Secret,
        algorithm: Literal["sha256", "hmac-sha256"] = "sha256",
        timestamp_format: str = "%Y%m%d%H%M%S",
        location: Literal["query", "header"] = "query",
        token_param: str = "token",
        timestamp_param: str = "timestamp",
        skew_correction: bool = True,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        hash_token("", "", algorithm)  # validates the algorithm name
        if location not in ("query", "header"):
            raise ConfigError(
                f"auth 'hashtoken': location must be 'query' or 'header', not {location!r}"
            )
        self.passphrase, self.algorithm = passphrase, algorithm
        self.timestamp_format, self.location = timestamp_format, location
        self.token_param, self.timestamp_param = token_param, timestamp_param
        self.skew_correction = skew_correction
        self.clock = clock
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def options(self) -> dict[str, Any]:
        return {
            "passphrase": self.passphrase,
            "algorithm": self.algorithm,
            "timestamp_format": self.timestamp_format,
            "location": self.location,
            "token_param": self.token_param,
            "timestamp_param": self.timestamp_param,
            "skew_correction": self.skew_correction,
        }

    @property
    def clock_offset(self) -> timedelta:
        """Server time minus local time, as learned from the last refusal (0 until then)."""
        with self._lock:
            return self._offset

    def http_auth(self) -> httpx.Auth:
        return _HashTokenFlow(self)

    def _sign(self, request: httpx.Request) -> None:
        now = self.clock().astimezone(UTC) + self.clock_offset
        stamp = now.strftime(self.timestamp_format)
        token = hash_token(self.passphrase.reveal(), stamp, self.algorithm)
        if self.location == "header":
            request.headers[self.timestamp_param] = stamp
            request.headers[self.token_param] = token
        else:
            url = request.url.copy_set_param(self.timestamp_param, stamp)
            request.url = url.copy_set_param(self.token_param, token)

    def _learn_offset(self, response: httpx.Response) -> bool:
        """Adopt the server's clock from its ``Date`` header; True when that changed anything."""
        date = response.headers.get("Date")
        if not date:
            return False
        try:
            server_now = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return False
        offset = server_now - self.clock().astimezone(UTC)
        with self._lock:
            changed = abs(offset - self._offset) > timedelta(seconds=1)
            self._offset = offset
        return changed


class _HashTokenFlow(httpx.Auth):
    def __init__(self, handler: HashTokenAuth) -> None:
        self._h = handler

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._h._sign(request)
        response = yield request
        if (
            response.status_code in (401, 403)
            and self._h.skew_correction
            and self._h._learn_offset(response)
        ):
            self._h._sign(request)
            yield request
