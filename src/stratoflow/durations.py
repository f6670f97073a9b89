"""Durations in seconds, as a person writes them in a setting or on the command line.

One reading for every such value (``STRATOFLOW_EMAIL_TIMEOUT``, ``STRATOFLOW_LEASE_SECONDS``,
``scheduler --tick``): three copies of ``float()`` plus checks had begun to differ (only one
refused ``True``; an integer setting too large for a float escaped as an OverflowError).
Each caller keeps its own error type (a :class:`~stratoflow.errors.ConfigError` naming the
setting, an argparse usage error), so this function raises a plain :class:`ValueError` that
the caller translates.

Example::

    >>> positive_seconds("1.5")
    1.5
    >>> positive_seconds("nan")
    Traceback (most recent call last):
    ...
    ValueError: nan must be a number of seconds above 0
"""

from __future__ import annotations

import math

__all__ = ["positive_seconds"]


def positive_seconds(value: object) -> float:
    """``value`` (text such as ``"60"``, ``" 2.5 "``, ``"1e3"``, or a number) as a finite
    number of seconds above 0.

    Refused with a :class:`ValueError` whose message shows the value: text that is no number
    (``"soon"``, ``""``), ``nan`` and ``inf`` (a lease that never ends, a wait that never
    ends), 0 and negatives (every lease expired at once, a loop without pause) and booleans
    (``True`` is 1 to Python, but a setting of ``True`` is a mistake, not one second).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number of seconds")
    try:
        seconds = float(value)  # type: ignore[arg-type]  # any type: float() says what fits
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of seconds") from None
    except OverflowError:  # an integer beyond float: far too long to wait, not a number
        seconds = math.inf
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{value} must be a number of seconds above 0")
    return seconds
