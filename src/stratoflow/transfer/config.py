"""Plain-dict configuration shared by transfer types and connection handlers.

Every component is built from, and saved to, a plain JSON-able dict, so the same definition can
live in a YAML job file, a database row or a notebook. Options are the explicit keyword
arguments of the component's ``__init__``; the signature is the schema, so a wrong option is
reported before anything connects. Secret options hold references (``env:NAME``) in the dict
and :class:`~stratoflow.transfer.secrets.Secret` objects in the component.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

from stratoflow.errors import ConfigError
from stratoflow.transfer.secrets import Secret

__all__ = ["build", "dump"]

T = TypeVar("T")


def build(
    cls: type[T], config: Mapping[str, Any], *, what: str, secrets: tuple[str, ...] = ()
) -> T:
    """Instantiate ``cls`` from ``config`` (``secrets`` name the options that are references)."""
    options = dict(config)
    for key in secrets:
        value = options.get(key)
        if isinstance(value, str):
            options[key] = Secret(value)
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        raise ConfigError(f"{what}: invalid options: {exc}") from exc
    return cls(**options)


def dump(options: Mapping[str, Any]) -> dict[str, Any]:
    """A config dict: secrets become references, ``None`` values are left out."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        out[key] = value.to_config() if isinstance(value, Secret) else value
    return out
