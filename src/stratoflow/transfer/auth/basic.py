"""HTTP basic authentication (RFC 7617): user name and a password reference."""

from __future__ import annotations

from typing import Any

import httpx

from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.secrets import Secret

__all__ = ["BasicAuth"]


class BasicAuth(ConnectionHandler):
    """``Authorization: Basic ...`` with ``username`` and the secret ``password``."""

    name = "basic"
    protocols = frozenset({"http"})
    secret_options = ("password",)

    def __init__(self, *, username: str, password: Secret) -> None:
        self.username = username
        self.password = password

    def options(self) -> dict[str, Any]:
        return {"username": self.username, "password": self.password}

    def http_auth(self) -> httpx.Auth:
        return httpx.BasicAuth(self.username, self.password.reveal())
