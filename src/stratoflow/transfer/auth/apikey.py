"""An API key sent in a header (``X-API-Key: ...``) or a query parameter (``?api_key=...``).

Query-string keys end up in URLs; stratoflow strips query strings from every URL it shows in an
error or log line (see :mod:`stratoflow.transfer.http`), so the key does not leak that way.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal

import httpx

from stratoflow.errors import ConfigError
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.secrets import Secret

__all__ = ["ApiKeyAuth"]


class _ApiKey(httpx.Auth):
    def __init__(self, key: Secret, param: str, location: str) -> None:
        self._key, self._param, self._location = key, param, location

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._location == "header":
            request.headers[self._param] = self._key.reveal()
        else:
            request.url = request.url.copy_set_param(self._param, self._key.reveal())
        yield request


class ApiKeyAuth(ConnectionHandler):
    """An API key in header ``param`` (``location="header"``) or query parameter ``param``."""

    name = "apikey"
    protocols = frozenset({"http"})
    secret_options = ("key",)

    def __init__(
        self,
        *,
        key: Secret,
        param: str = "X-API-Key",
        location: Literal["header", "query"] = "header",
    ) -> None:
        if location not in ("header", "query"):
            raise ConfigError(
                f"auth 'apikey': location must be 'header' or 'query', not {location!r}"
            )
        self.key, self.param, self.location = key, param, location

    def options(self) -> dict[str, Any]:
        return {"key": self.key, "param": self.param, "location": self.location}

    def http_auth(self) -> httpx.Auth:
        return _ApiKey(self.key, self.param, self.location)
