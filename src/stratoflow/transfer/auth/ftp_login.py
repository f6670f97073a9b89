"""User name and password for FTP/FTPS servers."""

from __future__ import annotations

from typing import Any

from stratoflow.errors import ConfigError
from stratoflow.transfer.auth.base import ConnectionHandler, FTPLogin
from stratoflow.transfer.secrets import Secret

__all__ = ["FTPLoginAuth"]


class FTPLoginAuth(ConnectionHandler):
    """Log in to an FTP server as ``username`` with the secret ``password``.

    ``username`` as in every other method (basic, ssh); ``user`` is the older spelling and
    still accepted.
    """

    name = "ftp_login"
    protocols = frozenset({"ftp"})
    secret_options = ("password",)

    def __init__(
        self, *, username: str | None = None, password: Secret, user: str | None = None
    ) -> None:
        if username is not None and user is not None and username != user:
            raise ConfigError("ftp_login: give 'username' (or the older 'user'), not both")
        name = username if username is not None else user
        if not name:
            raise ConfigError("ftp_login: 'username' is required")
        self.username, self.password = name, password

    def options(self) -> dict[str, Any]:
        return {"username": self.username, "password": self.password}

    def ftp_login(self) -> FTPLogin:
        return FTPLogin(user=self.username, password=self.password.reveal())
