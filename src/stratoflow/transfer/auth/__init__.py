"""Connection handlers (authentication methods), one module per method.

Each is a plugin in the ``stratoflow.auth`` entry-point group; :func:`get_auth` builds one from
a config dict such as ``{"method": "bearer", "token": "env:PORTAL_TOKEN"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stratoflow import plugins
from stratoflow.errors import ConfigError
from stratoflow.transfer.auth.base import ConnectionHandler, FTPLogin, SSHLogin

__all__ = ["ConnectionHandler", "FTPLogin", "SSHLogin", "auth_from_config"]


def auth_from_config(config: Mapping[str, Any]) -> ConnectionHandler:
    """The connection handler described by ``config`` (key ``method`` names the plugin)."""
    method = config.get("method", "none")
    if not isinstance(method, str):
        raise ConfigError("auth config: 'method' must be a string")
    cls: type[ConnectionHandler] = plugins.load("auth", method)
    return cls.from_config({**config, "method": method})
