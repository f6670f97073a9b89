"""Which failures are worth another attempt, and when: exponential backoff with full jitter.

Transient failures (network hiccups, timeouts: :class:`~stratoflow.errors.TransientTransferError`
and :class:`TimeoutError`) are retried; anything else — a corrupt file, a bad configuration —
would fail the same way again and is not. The delay before attempt ``n + 1`` is drawn
uniformly from ``[base * 2**(n-1) / 2, base * 2**(n-1)]`` and capped, so a fleet of tasks that
failed together does not retry together ("decorrelated" enough, never zero).

Example::

    >>> backoff(1, base=30.0, cap=3600.0, rng=random.Random(0)) <= 30.0
    True
"""

from __future__ import annotations

import random

from stratoflow.errors import TransientTransferError

__all__ = ["backoff", "is_transient"]


def is_transient(exc: BaseException) -> bool:
    """True for failures a later attempt may not see again."""
    return isinstance(exc, TransientTransferError | TimeoutError)


def backoff(
    attempt: int, *, base: float, cap: float = 3600.0, rng: random.Random | None = None
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, not {attempt}")
    ceiling = min(cap, base * 2 ** min(attempt - 1, 32))
    return (rng or random).uniform(ceiling / 2, ceiling)
