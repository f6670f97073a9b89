"""The ConnectionHandler extension point: how a transfer authenticates, separate from the protocol.

A transfer type (HTTP, SFTP, FTP, ...) never holds a credential. When it connects it asks its
connection handler for credentials *in the protocol's shape*: an :class:`httpx.Auth` flow for
HTTP, an :class:`SSHLogin` for SSH, an :class:`FTPLogin` for FTP. A handler implements only the
shapes it supports; asking for another one is a configuration error that names both sides, so
"bearer token over SFTP" is rejected before any network traffic.

Handlers are plugins in the ``stratoflow.auth`` entry-point group and are built from a plain
dict whose secret options are references (see :mod:`stratoflow.transfer.secrets`)::

    {"method": "bearer", "token": "env:PORTAL_TOKEN"}
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

import httpx

from stratoflow.errors import ConfigError
from stratoflow.transfer.config import build, dump

if TYPE_CHECKING:
    import paramiko

__all__ = ["ConnectionHandler", "FTPLogin", "SSHLogin"]


@dataclass(frozen=True)
class SSHLogin:
    """Resolved SSH credentials; the secret parts are excluded from ``repr``."""

    username: str
    password: str | None = field(default=None, repr=False)
    pkey: paramiko.PKey | None = field(default=None, repr=False)


@dataclass(frozen=True)
class FTPLogin:
    """Resolved FTP credentials; the password is excluded from ``repr``."""

    user: str
    password: str = field(default="", repr=False)


class ConnectionHandler(ABC):  # noqa: B024 (every method has a safe default)
    """Base class of authentication methods.

    Subclasses set ``name`` and ``secret_options``, take explicit keyword options in
    ``__init__``, implement :meth:`options` (for :meth:`to_config`) and override the credential
    shapes they support. Secrets are resolved inside those methods, at connection time.
    """

    name: ClassVar[str] = ""
    #: Protocols (``TransferType.protocol``) this method can authenticate.
    protocols: ClassVar[frozenset[str]] = frozenset()
    #: Options given as secret references in a config dict.
    secret_options: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from a config dict (``method`` key optional; must match when present)."""
        options = dict(config)
        method = options.pop("method", cls.name)
        if method != cls.name:
            raise ConfigError(f"auth config for {method!r} given to {cls.name!r}")
        return build(cls, options, what=f"auth {cls.name!r}", secrets=cls.secret_options)

    def to_config(self) -> dict[str, Any]:
        """A plain dict that :meth:`from_config` accepts; secrets appear as references only."""
        return {"method": self.name, **dump(self.options())}

    def options(self) -> dict[str, Any]:
        """The keyword options this handler was built with (secrets as :class:`Secret`)."""
        return {}

    def http_auth(self) -> httpx.Auth:
        """An httpx authentication flow for HTTP transfers."""
        raise self._unsupported("HTTP")

    def ssh_login(self) -> SSHLogin:
        """Credentials for SSH/SFTP transfers."""
        raise self._unsupported("SFTP")

    def ftp_login(self) -> FTPLogin:
        """Credentials for FTP/FTPS transfers."""
        raise self._unsupported("FTP")

    def _unsupported(self, protocol: str) -> ConfigError:
        return ConfigError(f"auth method {self.name!r} cannot be used with {protocol}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.options().items() if v is not None)
        return f"{type(self).__name__}({shown})"
