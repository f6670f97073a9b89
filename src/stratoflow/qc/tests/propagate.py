"""Flag propagation: a bad value of one variable makes its dependents doubtful or bad.

Ozone from a UV photometer is computed with the cell pressure: a bad pressure makes the ozone
bad too. ``propagate`` copies the worst-case probability of the ``source`` variable's own tests
(its propagation tests excepted, so there are no cycles, and its fill-value tests: a missing
source value is no opinion, not a bad one), optionally capped at ``floor``:
``floor: 0.75`` turns a bad source into a *limited* dependent. The runner runs propagation
after every other test, so the source's results exist; the copied array is stored like any test
result, so re-evaluation never needs the source again.
"""

from __future__ import annotations

import numpy as np

from stratoflow.qc.base import InputUnavailable, Param, Probability, QCInput, qc_test

__all__ = ["propagate"]


@qc_test(
    "propagate",
    version="1.0",
    parameters=[
        Param("source", "string", doc="variable or profile whose results propagate"),
        Param(
            "floor",
            "number",
            default=0.0,
            minimum=0.0,
            maximum=1.0,
            doc="the lowest probability passed on",
        ),
    ],
)
def propagate(data: QCInput, *, source: str, floor: float) -> Probability:
    """The source's worst-case probability, never lower than ``floor``."""
    if data.worst_of is None:  # run_test: one array, no other variable's results to copy
        raise InputUnavailable(
            f"{data.variable}: copies the test results of {source!r}, another variable of a "
            "dataset; run it with run_qc, which has them"
        )
    worst = data.worst_of(source)
    return np.where(np.isnan(worst), np.nan, np.maximum(worst, floor))
