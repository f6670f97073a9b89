"""Rate of change and level jumps.

``rate_of_change`` equals ``ioos_qc.qartod.rate_of_change_test`` point by point (``doubtful`` =
its ``threshold``, ``bad`` = its ``fail_threshold``): the rate of point ``i`` is
``|x[i] - x[i-1]| / dt`` in units per second and judges point ``i``; the first point, and a point
after a missing one, pass. (Time steps are exact float seconds; ioos_qc truncates them to whole
seconds, which only differs for sub-second data.)

``jump`` looks for a persistent shift of level: the difference between the means of the
``window`` points before and from point ``i``; only the point where the shift peaks is judged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stratoflow.qc.base import Param, Probability, QCInput, qc_test, soft_limit, soft_range_at
from stratoflow.qc.tests.spike import _ordered

__all__ = ["jump", "rate_of_change"]


@qc_test(
    "rate_of_change",
    version="1.0",
    parameters=[
        Param("doubtful", "number", default=None, nullable=True, minimum=0.0, doc="units/s"),
        Param("bad", "number", default=None, nullable=True, minimum=0.0, doc="units/s"),
    ],
    validator=_ordered,
    bounded=True,
    handles_nonfinite=True,
)
def rate_of_change(data: QCInput, *, doubtful: float | None, bad: float | None) -> Probability:
    """Absolute rate of change from the previous point, in units per second.

    Non-finite values (NaN, ±inf) are missing: NaN in the result, and the point after one
    passes. They need no separate scan: their rates are NaN or infinite, so they are among
    the few points beyond the limits.
    """
    x = data.values
    rate = np.empty(x.shape)
    if x.size:
        rate[0] = 0.0  # the first point has no previous one: passes
    if x.size > 1:
        r = rate[1:]  # |x[i] - x[i-1]| / dt built in place: no temporaries of n points
        dt = _steps(data.time, r.view(np.int64))
        with np.errstate(invalid="ignore"):  # inf - inf: a missing value, handled below
            np.subtract(x[1:], x[:-1], out=r)
        np.abs(r, out=r)
        if not (isinstance(dt, float) and dt == 1.0):  # 1 Hz: dividing by 1 changes nothing
            with np.errstate(divide="ignore", invalid="ignore"):
                np.divide(r, dt, out=r)
    p, idx = soft_range_at(rate, None, doubtful, None, bad)
    # Next to a missing point (and for 0/0) the rate is not judged: passes, as in QARTOD. All
    # such points are among the few soft_range_at selected: no pass over all points.
    present = np.isfinite(x[idx])
    after_missing = np.zeros(idx.size, dtype=bool)
    has_previous = idx > 0
    after_missing[has_previous] = ~np.isfinite(x[idx[has_previous] - 1])
    p[idx[present & (after_missing | np.isnan(rate[idx]))]] = 1.0
    p[idx[~present]] = np.nan
    if x.size and not np.isfinite(x[0]):  # its rate was set to 0, never selected
        p[0] = np.nan
    return p


def _steps(
    time: npt.NDArray[np.datetime64], scratch: npt.NDArray[np.int64]
) -> float | npt.NDArray[np.float64]:
    """Time steps in seconds: one scalar for regular sampling (the usual case), else an array.

    The integer nanosecond steps are written to ``scratch`` (``n - 1`` elements, the caller's
    output buffer seen as int64): a fresh array of ``n`` points costs more in page faults than
    the subtraction itself.
    """
    ns = time.astype("datetime64[ns]", copy=False).view(np.int64)
    np.subtract(ns[1:], ns[:-1], out=scratch)
    if scratch.min() == scratch.max():  # two reductions, no mask of n points
        return float(scratch[0]) / 1e9
    out: npt.NDArray[np.float64] = scratch / 1e9
    return out


@qc_test(
    "jump",
    version="1.0",
    parameters=[
        Param("window", "integer", default=10, minimum=2, doc="points averaged on each side"),
        Param("doubtful", "number", default=None, nullable=True, minimum=0.0, doc="data units"),
        Param("bad", "number", default=None, nullable=True, minimum=0.0, doc="data units"),
    ],
    validator=_ordered,
    bounded=True,
)
def jump(data: QCInput, *, window: int, doubtful: float | None, bad: float | None) -> Probability:
    """Shift of the mean level between the windows before and after each point."""
    x = data.values
    n = x.size
    valid = ~np.isnan(x)
    c = np.concatenate(([0.0], np.cumsum(np.where(valid, x, 0.0))))
    k = np.concatenate(([0], np.cumsum(valid, dtype=np.int64)))
    i = np.arange(n)
    lo, hi = np.clip(i - window, 0, n), np.clip(i + window, 0, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = (c[i] - c[lo]) / (k[i] - k[lo])
        after = (c[hi] - c[i]) / (k[hi] - k[i])
    shift = np.abs(after - before)
    full = (k[i] - k[lo] == window) & (k[hi] - k[i] == window)
    shift[~full] = np.nan
    # judge only the peak of the shift: neighbours see a diluted copy of the same step
    s = np.where(np.isnan(shift), -np.inf, shift)
    left = np.concatenate(([-np.inf], s[:-1]))
    right = np.concatenate((s[1:], [-np.inf]))
    peak = (s >= left) & (s > right)
    p = soft_limit(np.where(peak, shift, 0.0), doubtful, bad)
    p[np.isnan(shift)] = np.nan
    return p
