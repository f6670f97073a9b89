"""A static bearer token (RFC 6750), e.g. a personal access token issued by a data portal."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx

from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.secrets import Secret

__all__ = ["BearerAuth"]


class _Bearer(httpx.Auth):
    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request


class BearerAuth(ConnectionHandler):
    """``Authorization: Bearer <token>``; the token is read at each request (rotation-safe)."""

    name = "bearer"
    protocols = frozenset({"http"})
    secret_options = ("token",)

    def __init__(self, *, token: Secret) -> None:
        self.token = token

    def options(self) -> dict[str, Any]:
        return {"token": self.token}

    def http_auth(self) -> httpx.Auth:
        return _Bearer(self.token)
