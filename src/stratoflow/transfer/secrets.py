"""Secrets are references, resolved at the moment of use and never shown.

A configuration (YAML job definition, database row, ``to_config()`` output) holds only a
*reference* to a secret: ``env:NAME`` (an environment variable) or ``file:/path`` (the file's
content, as written by Docker/Kubernetes secret mounts); a trailing newline is stripped from
both (a variable filled from such a file, or from an ``.env`` file, often has one), and a file's
UTF-8 byte-order mark too (Windows editors write one). The value is read when a connection is
opened, so rotating a secret needs no configuration change, and a leaked configuration leaks
nothing.

A value that is not UTF-8 text is a :class:`SecretError` naming the reference: the codec's
own ``UnicodeDecodeError`` holds the bytes read (the secret) in its ``repr``, which is how a
task or run stores an unexpected exception.

:class:`Secret` wraps the reference; its ``repr``/``str`` show the reference only, so a secret
that ends up in a log line, an exception message or a debugger shows ``Secret('env:PORTAL_KEY')``.

A revealed *value* can still come back from the other side: a portal redirecting
``files?api_key=K`` to ``files/?api_key=K`` sends it back in a ``Location`` header, which
httpcore logs at DEBUG; a library or plugin may quote what it sent in an exception. So every
value revealed in this process is remembered (with its URL-encoded forms), :func:`redact`
masks them in a text, and from the first reveal on every log record of every logger is
masked as it is made (a log record factory: logger filters do not reach child loggers such as
``httpcore.http11``), message and traceback alike. Task errors, a run's errors and the note
an interrupted run keeps, the reasons a file cannot be re-processed and export records are
stored through :func:`redact` too, and the command's ``stratoflow X: error:`` line is printed
through it. An HTTP item identity (stored as is) drops a query parameter holding a secret.

Example::

    >>> key = Secret("env:PORTAL_KEY")
    >>> key
    Secret('env:PORTAL_KEY')
    >>> key.reveal()          # doctest: +SKIP
    's3cr3t'
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, quote_plus

from stratoflow.errors import SecretError

__all__ = ["REDACTED", "Secret", "optional_secret", "redact"]

_SCHEMES: Final = ("env", "file")
#: What the part after the scheme names, for messages.
_TARGETS: Final = {"env": "environment variable", "file": "file"}
#: What :func:`redact` puts in place of a secret value.
REDACTED: Final = "***"
#: Shorter values are not masked: a password such as "second" would mask that word in every
#: log line. Keys and tokens, the values that travel in URLs and come back, are far longer.
_MIN_LENGTH: Final = 8


class Secret:
    """A reference to a secret value (``env:NAME`` or ``file:/path``), resolved on :meth:`reveal`.

    ``Secret.from_value`` wraps a literal value for notebooks and tests; such a secret cannot be
    saved with :meth:`to_config`, because a configuration must never contain a value.
    """

    __slots__ = ("_literal", "_ref")

    def __init__(self, reference: str) -> None:
        scheme, sep, target = reference.partition(":")
        if not sep or scheme not in _SCHEMES or not target:
            # Never echo any part of it: it may be a pasted secret ("Tr0ub4dor:3" has a
            # "scheme" too).
            named = f" {scheme}: names no {_TARGETS[scheme]}" if scheme in _SCHEMES else ""
            raise SecretError(
                f"invalid secret reference{named} (the value is not shown): expected "
                "'env:NAME' or 'file:/path' (secrets are never written inline in a "
                "configuration)"
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
            return _remember(self._literal)
        scheme, _, target = self._ref.partition(":")
        if scheme == "env":
            value = os.environ.get(target)
            if value is None:
                raise SecretError(f"secret {self._ref}: environment variable {target} is not set")
            if not _is_text(value):  # bytes that are not UTF-8, kept as surrogates (PEP 383)
                raise SecretError(
                    f"secret {self._ref}: environment variable {target} is not UTF-8 text"
                )
            return _remember(value.rstrip("\r\n"))
        try:
            data = Path(target).read_bytes()
        except OSError as exc:
            raise SecretError(
                f"secret {self._ref}: cannot read file ({exc.strerror or type(exc).__name__})"
            ) from None
        text = _decoded(data)
        if text is None:
            raise SecretError(
                f"secret {self._ref}: the file is not UTF-8 text; save the secret as UTF-8"
            )
        return _remember(text.rstrip("\r\n"))

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


def _decoded(data: bytes) -> str | None:
    """``data`` as UTF-8 text without a byte-order mark; ``None`` when it is not UTF-8.

    The decoding error is not raised from here, nor chained: its ``repr`` (and its place as
    the ``__context__`` of a later error) would show the bytes, i.e. the secret.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _is_text(value: str) -> bool:
    """Whether ``value`` encodes as UTF-8 (no surrogate escapes of undecodable bytes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_lock = threading.Lock()
#: Revealed values and their URL-encoded forms, longest first (a value that contains
#: another is masked whole).
_revealed: tuple[str, ...] = ()
_factory_installed = False


def _remember(value: str) -> str:
    """Note ``value`` as a secret for :func:`redact` and the log records; return it."""
    global _revealed, _factory_installed
    if len(value) < _MIN_LENGTH or value in _revealed:
        return value
    with _lock:
        forms = {value, quote(value, safe=""), quote_plus(value, safe="")} - set(_revealed)
        _revealed = tuple(sorted({*_revealed, *forms}, key=len, reverse=True))
        if not _factory_installed:
            logging.setLogRecordFactory(_redacting(logging.getLogRecordFactory()))
            _factory_installed = True
    return value


def redact(text: str) -> str:
    """``text`` with every secret value revealed in this process replaced by ``***``.

    For text that may quote what was sent (a third party's error message, a server's
    answer) before it is logged, stored or shown.
    """
    for value in _revealed:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def _redacting(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """A log record factory that masks secret values in what ``make`` makes."""

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: the handler reports it
            return record
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            trace = logging.Formatter().formatException(record.exc_info)
            masked = redact(trace)
            if masked != trace:
                record.exc_text = masked  # what formatters print instead of formatting anew
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    return factory
