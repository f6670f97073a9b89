"""Time checks: duplicated or backwards timestamps, gaps, impossible dates.

A standardized Dataset already has strictly increasing time; these tests are for plain arrays
and raw data checked before standardization, and they make the reason visible per point.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stratoflow.errors import QCConfigError
from stratoflow.qc.base import P_SUSPECT, Param, Probability, QCInput, new_probability, qc_test

__all__ = ["duplicate_time", "impossible_date", "time_gap"]


@qc_test("duplicate_time", version="1.0", judges_time=True)
def duplicate_time(data: QCInput) -> Probability:
    """0 for a point whose time is not after every earlier point's (duplicate or backwards).

    After a step back in time, every point until the series passes its earlier latest time
    again is flagged (their times were already used), not only the first one; NaT is 0.
    """
    t = data.time.astype("datetime64[ns]", copy=False).view(np.int64)
    p = new_probability(t.shape, 1.0)
    if t.size > 1:
        running_max = np.maximum.accumulate(t)
        p[1:][t[1:] <= running_max[:-1]] = 0.0
    p[np.isnat(data.time)] = 0.0
    return p


@qc_test(
    "time_gap",
    version="1.1",
    parameters=[
        Param("max_gap", "number", default=60.0, exclusive_minimum=0.0, doc="seconds"),
        Param(
            "max_steps",
            "number",
            default=5.0,
            minimum=1.0,
            doc="sampling intervals (median time step) a gap must also exceed",
        ),
    ],
)
def time_gap(data: QCInput, *, max_gap: float, max_steps: float) -> Probability:
    """Limited for the first value after a gap in the data.

    A gap is a step between consecutive valid values longer than ``max_gap`` seconds *and*
    longer than ``max_steps`` times the series' median time step: one configuration then
    serves 1 s aircraft data (a minute without data is a gap) and hourly station data (where
    every step is an hour, and only several missing hours are a gap). The gap is measured
    between valid values, so a run of missing values counts as a gap.
    """
    p = new_probability(data.values.shape, 1.0)
    valid = np.flatnonzero(~np.isnan(data.values))
    if valid.size > 1:
        seconds = data.seconds()
        limit = max(max_gap, max_steps * data.median_step())
        after_gap = valid[1:][np.abs(np.diff(seconds[valid])) > limit]
        p[after_gap] = P_SUSPECT
    return p


def _parse(value: str, key: str) -> np.datetime64:
    """An ISO date/time or ``now``, as ``datetime64[ns]`` UTC.

    ``Z`` or an offset (``+01:00``) is converted to UTC; without one the time is UTC. A date
    beyond what ``datetime64[ns]`` holds (1677-2262) is clamped to that end: no time of the
    data lies beyond it either, so the test is the same (``earliest: 1500-01-01`` overflowed
    and was then refused as "latest: must be after earliest").
    """
    import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the venv

    if value == "now":
        return np.datetime64("now", "ns")
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise QCConfigError(f"{key}: must be an ISO date/time or 'now', got {value!r}") from exc
    if stamp is pd.NaT:
        raise QCConfigError(f"{key}: must be an ISO date/time or 'now', got {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    stamp = min(max(stamp, pd.Timestamp.min), pd.Timestamp.max)
    return np.datetime64(stamp.as_unit("ns").value, "ns")


def _dates(params: dict[str, Any], where: str) -> None:
    earliest = _parse(params["earliest"], f"{where}.earliest")
    latest = _parse(params["latest"], f"{where}.latest")
    if latest <= earliest:
        raise QCConfigError(f"{where}.latest: must be after earliest")


@qc_test(
    "impossible_date",
    version="1.0",
    parameters=[
        Param("earliest", "string", default="1994-01-01", doc="ISO date (MOZAIC began in 1994)"),
        Param("latest", "string", default="now", doc="ISO date or 'now'"),
    ],
    validator=_dates,
    judges_time=True,
)
def impossible_date(data: QCInput, *, earliest: str, latest: str) -> Probability:
    """0 for times before ``earliest``, after ``latest`` or not a time at all."""
    ns = data.time.astype("datetime64[ns]", copy=False).view(np.int64)
    lo, hi = (_parse(v, k).view(np.int64) for v, k in ((earliest, "earliest"), (latest, "latest")))
    # NaT is the smallest int64, below any earliest date (clamped to 1677 at the latest): out
    ok = np.greater_equal(ns, lo)
    ok &= np.less_equal(ns, hi)
    return ok.astype(np.float32)
