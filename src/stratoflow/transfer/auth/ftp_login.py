"""User name and password for FTP/FTPS servers."""

from __future__ import annotations

from typing import Any

from stratoflow.transfer.auth.base import ConnectionHandler, FTPLogin
from stratoflow.transfer.secrets import Secret

__all__ = ["FTPLoginAuth"]


class FTPLoginAuth(ConnectionHandler):
    """Log in to an FTP server as ``user`` with the secret ``password``."""

    name = "ftp_login"
    protocols = frozenset({"ftp"})
    secret_options = ("password",)

    def __init__(self, *, user: str, password: Secret) -> None:
        self.user, self.password = user, password

    def options(self) -> dict[str, Any]:
        return {"user": self.user, "password": self.password}

    def ftp_login(self) -> FTPLogin:
        return FTPLogin(user=self.user, password=self.password.reveal())
