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

from stratoflow.qc.base import Param, Probability, QCInput, qc_test, soft_limit
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
)
def rate_of_change(data: QCInput, *, doubtful: float | None, bad: float | None) -> Probability:
    """Absolute rate of change from the previous point, in units per second."""
    x = data.values
    rate = np.zeros(x.shape)
    if x.size > 1:
        step = np.diff(data.time.astype("datetime64[ns]").view(np.int64))
        regular = bool((step == step[0]).all())  # regular sampling: one scalar divisor
        dt: float | npt.NDArray[np.float64] = (
            float(step[0]) / 1e9 if regular else step.astype(np.float64) / 1e9
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(np.abs(np.diff(x)), dt, out=rate[1:])
    # next to a missing point the rate is NaN: not judged, passes (as in QARTOD); NaN values
    # themselves come out NaN from soft_limit
    rate[0] = 0.0
    valid_rate = np.isnan(rate) & ~np.isnan(x)
    rate[valid_rate] = 0.0
    return soft_limit(rate, doubtful, bad)


@qc_test(
    "jump",
    version="1.0",
    parameters=[
        Param("window", "integer", default=10, minimum=2, doc="points averaged on each side"),
        Param("doubtful", "number", default=None, nullable=True, minimum=0.0, doc="data units"),
        Param("bad", "number", default=None, nullable=True, minimum=0.0, doc="data units"),
    ],
    validator=_ordered,
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
