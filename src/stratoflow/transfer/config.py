"""Plain-dict configuration shared by transfer types and connection handlers.

Every component is built from, and saved to, a plain JSON-able dict, so the same definition can
live in a YAML job file, a database row or a notebook. Options are the explicit keyword
arguments of the component's ``__init__``; the signature is the schema, names and types, so
a wrong option (``port: "22"``, ``recursive: "yes"``, ``timeout: .nan``) is reported before
anything connects. Secret options hold references (``env:NAME``) in the dict
and :class:`~stratoflow.transfer.secrets.Secret` objects in the component.
"""

from __future__ import annotations

import inspect
import math
import os
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from stratoflow.errors import ConfigError, SecretError
from stratoflow.transfer.secrets import Secret

__all__ = [
    "DEFAULT_SETTLE",
    "MAX_SETTLE",
    "SETTLE_VARIABLE",
    "build",
    "dump",
    "host_name",
    "min_age_seconds",
    "min_speed_bytes",
    "no_credentials",
    "settle_option",
    "settle_seconds",
    "timeout_seconds",
]

T = TypeVar("T")


def timeout_seconds(value: float, what: str) -> float:
    """``value`` checked as a network timeout: finite seconds > 0.

    A zero or negative timeout makes every request fail at once with a timeout error that
    looks like a dead server; refused when the component is made, naming the value.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{what}: timeout must be a number of seconds > 0, not {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{what}: timeout must be finite seconds > 0, not {value!r}")
    return float(value)


def no_credentials(value: str, option: str, what: str) -> str:
    """``value``, a URL or a host name, checked to hold no ``user:password@``.

    URLs and hosts are stored with the configuration (database row, YAML file) and are part
    of every message and log line about the transfer; a password written into one would be
    shown everywhere. Checked where a component is made, so a job definition, a config dict
    and a component built in Python are refused alike; the message names the option and
    never echoes the value.
    """
    if "://" in value:
        try:
            netloc = urlsplit(value).netloc
        except ValueError:  # a malformed address ("http://[::1"): the part before the path
            netloc = value.partition("://")[2].partition("/")[0]
    else:
        netloc = value
    if "@" in netloc:
        raise ConfigError(
            f"{what}: {option} must not carry a user name or password (user:password@host; "
            "not shown); the user name goes in auth, the password as a secret reference "
            "(env:NAME, file:/path)"
        )
    return value


def host_name(value: str, what: str) -> str:
    """``value`` checked as a host name or address: ``user:password@host`` is refused
    (see :func:`no_credentials`)."""
    return no_credentials(value, "host", what)


def min_speed_bytes(value: float, what: str) -> float:
    """``value`` checked as a download speed floor: finite bytes per second >= 0 (0: none)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{what}: min_speed must be bytes per second >= 0, not {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{what}: min_speed must be finite bytes per second >= 0, not {value!r}")
    return float(value)


#: Seconds a new file's size and modification time must stay the same before a directory-like
#: transfer type (local, SFTP, FTP) takes it: any upload in progress writes more often.
DEFAULT_SETTLE = 1.0
#: The longest ``settle`` wait: a run waits that long (holding its staging area) whenever a
#: new file is listed; a longer quiet time is ``min_age``'s job, which costs no wait.
MAX_SETTLE = 300.0


def settle_seconds(value: float, what: str) -> float:
    """``value`` checked as a settle interval: finite seconds, 0 (off) to :data:`MAX_SETTLE`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{what}: settle must be a number of seconds >= 0, not {value!r}")
    if not (math.isfinite(value) and 0 <= value <= MAX_SETTLE):
        raise ConfigError(
            f"{what}: settle must be seconds from 0 to {MAX_SETTLE:g}, not {value!r} "
            "(for a longer quiet time use min_age, which costs no wait)"
        )
    return float(value)


#: The environment variable that replaces :data:`DEFAULT_SETTLE` for every transfer that sets
#: no ``settle`` of its own (``0``: a site whose providers all publish by renaming into place).
SETTLE_VARIABLE = "STRATOFLOW_SETTLE_SECONDS"


def settle_option(value: float | None, what: str) -> float:
    """The settle interval of a transfer: ``value`` checked (:func:`settle_seconds`), or when
    ``None`` the site's default: :data:`SETTLE_VARIABLE` if set, else :data:`DEFAULT_SETTLE`."""
    if value is not None:
        return settle_seconds(value, what)
    raw = os.environ.get(SETTLE_VARIABLE)
    if raw is None:
        return DEFAULT_SETTLE
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_SETTLE):
        raise ConfigError(
            f"{what}: environment variable {SETTLE_VARIABLE} must be seconds from 0 to "
            f"{MAX_SETTLE:g}, not {raw!r}"
        )
    return seconds


def min_age_seconds(value: float, what: str) -> float:
    """``value`` checked as a minimum file age: finite seconds >= 0 (0: none)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{what}: min_age must be a number of seconds >= 0, not {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{what}: min_age must be finite seconds >= 0, not {value!r}")
    return float(value)


def build(
    cls: type[T], config: Mapping[str, Any], *, what: str, secrets: tuple[str, ...] = ()
) -> T:
    """Instantiate ``cls`` from ``config`` (``secrets`` name the options that are references)."""
    options = dict(config)
    for key in secrets:
        value = options.get(key)
        if isinstance(value, str):
            try:
                options[key] = Secret(value)
            except SecretError as exc:  # which option, of several (ssh: password, key, ...)
                raise SecretError(f"{what}: option {key!r}: {exc}") from None
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        raise ConfigError(f"{what}: invalid options: {exc}") from exc
    try:
        hints = get_type_hints(cls.__init__)
    except Exception:  # an annotation that cannot be resolved: check names only
        hints = {}
    for key, value in options.items():
        hint = hints.get(key)
        if hint is not None and not _fits(value, hint):
            # never echo what was given for a secret: it may be the pasted password
            given = f"a value of type {type(value).__name__}" if key in secrets else repr(value)
            raise ConfigError(f"{what}: option {key!r} must be {_describe(hint)}, not {given}")
    return cls(**options)


def _fits(value: object, hint: Any) -> bool:
    """Whether a plain config value fits a parameter annotation (JSON/YAML types only)."""
    origin = get_origin(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_fits(value, arg) for arg in get_args(hint))
    if origin is Literal:
        return value in get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and math.isfinite(float(value))  # type: ignore[arg-type]
    if hint is str:
        return isinstance(value, str)
    if origin is not None and isinstance(origin, type):
        if issubclass(origin, Mapping):
            return isinstance(value, Mapping)
        if issubclass(origin, Sequence):
            return isinstance(value, list | tuple)
        return isinstance(value, origin)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an annotation this check does not understand: the constructor decides


def _describe(hint: Any) -> str:
    """An annotation in words: ``str | None`` -> ``a string or null``."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in get_args(hint))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    words = {
        bool: "true or false",
        int: "an integer",
        float: "a finite number",
        str: "a string",
        type(None): "null",
    }
    if hint in words:
        return words[hint]
    if hint is Secret:
        return "a secret reference ('env:NAME' or 'file:/path')"
    if origin is not None and isinstance(origin, type):
        if issubclass(origin, Mapping):
            return "a mapping"
        if issubclass(origin, Sequence):
            return "a list"
    return getattr(hint, "__name__", str(hint))


def dump(options: Mapping[str, Any]) -> dict[str, Any]:
    """A config dict: secrets become references, ``None`` values are left out."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        out[key] = value.to_config() if isinstance(value, Secret) else value
    return out
