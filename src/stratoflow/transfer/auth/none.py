"""No authentication: public HTTP endpoints, anonymous FTP, local directories."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from stratoflow.transfer.auth.base import ConnectionHandler, FTPLogin

__all__ = ["NoAuth"]


class _Unchanged(httpx.Auth):
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield request


class NoAuth(ConnectionHandler):
    """Send requests as they are; log in to FTP anonymously."""

    name = "none"
    protocols = frozenset({"http", "ftp", "local"})

    def http_auth(self) -> httpx.Auth:
        return _Unchanged()

    def ftp_login(self) -> FTPLogin:
        return FTPLogin(user="anonymous", password="anonymous@")
