"""Retrying transient failures with exponential backoff and jitter.

Only :class:`~stratoflow.errors.TransientTransferError` is retried (timeouts, 5xx, dropped
connections, truncated bodies). Everything else, and in particular
:class:`~stratoflow.errors.AuthError`, fails at once: retrying refused credentials only locks
accounts. Jitter spreads the retries of many workers that failed together.

A server that answers 429 or 503 with ``Retry-After`` says when to come back: the next attempt
waits at least that long. When it asks for more than ``max_retry_after``, retrying within this
run would only be refused again (and counts against a rate limit): the error is raised at once,
saying when the server will take requests again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self, TypeVar

from stratoflow.errors import ConfigError, TransientTransferError
from stratoflow.transfer.config import build

__all__ = ["RetryPolicy", "retry_after_seconds"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def retry_after_seconds(value: str | None, date: str | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` value (RFC 9110 §10.2.3), else ``None``.

    The value is either seconds (``"120"``) or an HTTP-date; a date is measured against the
    response's own ``Date`` when given (the server's clock), else against ours.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        until = parsedate_to_datetime(value)
        now = parsedate_to_datetime(date) if date else datetime.now(UTC)
    except (TypeError, ValueError, IndexError):
        return None
    if until.tzinfo is None or now.tzinfo is None:
        return None
    return max(0.0, (until - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; the n-th retry waits ``base * factor**(n-1)`` seconds (capped at
    ``max_delay``), multiplied by a random factor in ``[1 - jitter, 1 + jitter]``, or as long as
    the server asked (``Retry-After``) if that is longer, up to ``max_retry_after`` seconds.

    Example::

        RetryPolicy(attempts=3, base=0.01).call(lambda: conn.list(), what="list portal")
    """

    attempts: int = 4
    base: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError(f"retry: attempts must be >= 1, not {self.attempts}")
        if (
            self.base < 0
            or self.factor < 1
            or self.max_delay < 0
            or not 0 <= self.jitter <= 1
            or self.max_retry_after < 0
        ):
            raise ConfigError(
                "retry: need base >= 0, factor >= 1, max_delay >= 0, 0 <= jitter <= 1, "
                "max_retry_after >= 0"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from a plain dict of the dataclass fields."""
        return build(cls, config, what="retry")

    def to_config(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        raw = min(self.max_delay, self.base * self.factor ** (retry - 1))
        return raw * random.uniform(1 - self.jitter, 1 + self.jitter)

    def call(
        self,
        fn: Callable[[], T],
        *,
        what: str,
        on_retry: Callable[[], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """``fn()``, retried on transient errors; ``on_retry`` runs before each retry."""
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except TransientTransferError as exc:
                if attempt == self.attempts:
                    raise
                wait = self.delay(attempt)
                if exc.retry_after is not None:
                    if exc.retry_after > self.max_retry_after:
                        log.warning(
                            "%s: attempt %d/%d failed (%s); the server asks to wait %.0f s, "
                            "longer than max_retry_after %.0f s: not retried now",
                            what,
                            attempt,
                            self.attempts,
                            exc,
                            exc.retry_after,
                            self.max_retry_after,
                        )
                        raise
                    wait = max(wait, exc.retry_after)
                log.warning(
                    "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                    what,
                    attempt,
                    self.attempts,
                    exc,
                    wait,
                )
                if on_retry is not None:
                    on_retry()
                sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover
