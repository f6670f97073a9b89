"""Secrets are references, resolved at the moment of use and never shown.

A configuration (YAML job definition, database row, ``to_config()`` output) holds only a
*reference* to a secret: ``env:NAME`` (an environment variable) or ``file:/path`` (the file's
content, as written by Docker/Kubernetes secret mounts); a trailing newline is stripped from
both (a variable filled from such a file, or from an ``.env`` file, often has one). The value is
read when a connection is opened, so rotating a secret needs no configuration change, and a
leaked configuration leaks nothing.

:class:`Secret` wraps the reference; its ``repr``/``str`` show the reference only, so a secret
that ends up in a log line, an exception message or a debugger shows ``Secret('env:PORTAL_KEY')``.

Example::

    >>> key = Secret("env:PORTAL_KEY")
    >>> key
    Secret('env:PORTAL_KEY')
    >>> key.reveal()          # doctest: +SKIP
    's3cr3t'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from stratoflow.errors import SecretError

__all__ = ["Secret", "optional_secret"]

_SCHEMES: Final = ("env", "file")


class Secret:
    """A reference to a secret value (``env:NAME`` or ``file:/path``), resolved on :meth:`reveal`.

    ``Secret.from_value`` wraps a literal value for notebooks and tests; such a secret cannot be
    saved with :meth:`to_config`, because a configuration must never contain a value.
    """

    __slots__ = ("_literal", "_ref")

    def __init__(self, reference: str) -> None:
        scheme, sep, target = reference.partition(":")
        if not sep or scheme not in _SCHEMES or not target:
            raise SecretError(
                f"invalid secret reference {_describe(reference)}: expected 'env:NAME' or "
                "'file:/path' (secrets are never written inline in a configuration)"
            )
        self._ref = reference
        self._literal: str | None = None

    @classmethod
    def from_value(cls, value: str) -> Secret:
        """A secret given directly (notebook use); it cannot be written back to a config."""
        secret = cls.__new__(cls)
        secret._ref = "<literal>"
        secret._literal = value
        return secret

    @property
    def reference(self) -> str:
        """The reference (``env:NAME``/``file:/path``), safe to show and to store."""
        return self._ref

    def reveal(self) -> str:
        """Resolve the reference now; raise :class:`SecretError` naming the reference."""
        if self._literal is not None:
            return self._literal
        scheme, _, target = self._ref.partition(":")
        if scheme == "env":
            value = os.environ.get(target)
            if value is None:
                raise SecretError(f"secret {self._ref}: environment variable {target} is not set")
            return value.rstrip("\r\n")
        try:
            return Path(target).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SecretError(
                f"secret {self._ref}: cannot read file ({exc.strerror or type(exc).__name__})"
            ) from None

    def to_config(self) -> str:
        """The reference for a configuration; refuses literal secrets."""
        if self._literal is not None:
            raise SecretError(
                "a literal secret cannot be saved in a configuration; use 'env:NAME' or "
                "'file:/path'"
            )
        return self._ref

    def __repr__(self) -> str:
        return f"Secret({self._ref!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self._ref == other._ref and self._literal == other._literal

    def __hash__(self) -> int:
        return hash(self._ref)


def optional_secret(reference: str | None) -> Secret | None:
    """``Secret(reference)``, or ``None`` when no reference is configured."""
    return None if reference is None else Secret(reference)


def _describe(reference: str) -> str:
    # Never echo what may be a pasted secret value: show only its scheme, if it has one.
    scheme, sep, _ = reference.partition(":")
    if sep and scheme.isidentifier() and len(scheme) < 16:
        return f"with scheme {scheme!r}"
    return "(not shown)"
