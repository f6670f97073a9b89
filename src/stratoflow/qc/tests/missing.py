"""Missing values and fill values.

Readers should already turn fill values into NaN, but raw instrument files often carry sentinel
values (-9999, 99999) the reader does not know about. This test declares them *missing*, not
bad: the framework adds the points it marks (probability 0) to the variable's missing mask
before any other test runs, so they end up flagged ``missing`` and never disturb a window test.
"""

from __future__ import annotations

import numpy as np

from stratoflow.qc.base import Param, Probability, QCInput, new_probability, qc_test

__all__ = ["missing"]


@qc_test(
    "missing",
    version="1.0",
    parameters=[
        Param("fill_values", "numbers", default=[], doc="values that mean 'no data'"),
        Param("tolerance", "number", default=0.0, minimum=0.0, doc="match fill values within"),
    ],
    marks_missing=True,
)
def missing(data: QCInput, *, fill_values: list[float], tolerance: float) -> Probability:
    """Mark fill values as missing (0 = missing; NaN elsewhere: no opinion on real values).

    An exact match (the default, ``tolerance`` 0) is one comparison pass per sentinel; with a
    tolerance, the distance is built in one reused buffer. A sentinel that float32 cannot
    hold exactly (-999.9) is also matched as float32 rounds it: data stored as float32 reach
    the tests as float64, where -999.9f is -999.9000244..., not -999.9.
    """
    x = data.values
    hit = np.zeros(x.shape, dtype=bool)
    match = np.empty(x.shape, dtype=bool)
    distance = np.empty(x.shape) if tolerance > 0 and fill_values else None
    for fill in _with_float32(fill_values):  # a handful of sentinels, each vectorised
        if distance is None:
            np.equal(x, fill, out=match)  # == |x - fill| <= 0 for every float, NaN included
        else:
            np.subtract(x, fill, out=distance)
            np.abs(distance, out=distance)
            np.less_equal(distance, tolerance, out=match)
        hit |= match
    p = new_probability(x.shape, np.nan)
    p[hit] = 0.0
    return p


def _with_float32(fill_values: list[float]) -> list[float]:
    """The sentinels, each followed by its float32 rounding where that differs."""
    out: list[float] = []
    with np.errstate(over="ignore"):  # beyond float32: no float32 data can hold it anyway
        for fill in fill_values:
            out.append(fill)
            single = float(np.float32(fill))
            if single != fill and np.isfinite(single) and single not in out:
                out.append(single)
    return out
