"""Missing values and fill values.

Readers should already turn fill values into NaN, but raw instrument files often carry sentinel
values (-9999, 99999) the reader does not know about. This test declares them *missing*, not
bad: the framework adds the points it marks (probability 0) to the variable's missing mask
before any other test runs, so they end up flagged ``missing`` and never disturb a window test.
"""

from __future__ import annotations

import numpy as np

from stratoflow.qc.base import Param, Probability, QCInput, qc_test

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
    """Mark fill values as missing (0 = missing; NaN elsewhere: no opinion on real values)."""
    x = data.values
    hit = np.zeros(x.shape, dtype=bool)
    for fill in fill_values:  # a handful of sentinels, each a vectorised comparison
        hit |= np.abs(x - fill) <= tolerance
    return np.where(hit, 0.0, np.nan)
