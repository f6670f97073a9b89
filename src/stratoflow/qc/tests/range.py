"""Range tests: fixed gross-range limits, and limits that depend on another variable.

Both use soft limits (:func:`~stratoflow.qc.base.soft_limit`): inside the doubtful limits a
value is certainly plausible (1); between the doubtful and the bad limit the probability falls
linearly to 0.5; strictly beyond the bad limit it is 0. With the doubtful limits as QARTOD's
``suspect_span`` and the bad limits as its ``fail_span`` the outcome equals
``ioos_qc.qartod.gross_range_test`` point by point.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from stratoflow.errors import QCConfigError
from stratoflow.qc.base import (
    Param,
    Probability,
    QCInput,
    new_probability,
    not_inside,
    qc_test,
    soft_range,
    soft_range_at,
)

__all__ = ["gross_range", "range_by"]


def _limits_ordered(params: dict[str, Any], where: str) -> None:
    order = ["bad_min", "doubtful_min", "doubtful_max", "bad_max"]
    given = [(k, params[k]) for k in order if params[k] is not None]
    for (k1, v1), (k2, v2) in pairwise(given):
        if v1 > v2:
            raise QCConfigError(f"{where}.{k2}: must be >= {k1} ({v1:g}), got {v2:g}")
    if not given:
        raise QCConfigError(f"{where}: give at least one of {', '.join(order)}")


_LIMITS = [
    Param("doubtful_min", "number", default=None, nullable=True),
    Param("doubtful_max", "number", default=None, nullable=True),
    Param("bad_min", "number", default=None, nullable=True),
    Param("bad_max", "number", default=None, nullable=True),
]


@qc_test(
    "gross_range",
    version="1.0",
    parameters=_LIMITS,
    validator=_limits_ordered,
    bounded=True,
    handles_nonfinite=True,
)
def gross_range(
    data: QCInput,
    *,
    doubtful_min: float | None,
    doubtful_max: float | None,
    bad_min: float | None,
    bad_max: float | None,
) -> Probability:
    """Plausible range with soft doubtful and hard bad limits.

    Missing values (NaN, ±inf) come out NaN without a separate scan for them: a side without
    limits gets the largest float as its bad limit, so every non-finite value falls among the
    few points outside the limits, which are looked at one by one anyway.
    """
    if doubtful_min is None and bad_min is None:
        bad_min = -_BIGGEST
    if doubtful_max is None and bad_max is None:
        bad_max = _BIGGEST
    return soft_range_at(
        data.values, doubtful_min, doubtful_max, bad_min, bad_max, nonfinite_missing=True
    )[0]


_BIGGEST = float(np.finfo(np.float64).max)


def _table_sorted(params: dict[str, Any], where: str) -> None:
    table = np.asarray(params["table"], dtype=np.float64)
    if (np.diff(table[:, 0]) <= 0).any():
        raise QCConfigError(f"{where}.table: rows must be sorted by strictly increasing 'by' value")
    d_min, d_max, b_min, b_max = table[:, 1], table[:, 2], table[:, 3], table[:, 4]
    if ((b_min > d_min) | (d_min > d_max) | (d_max > b_max)).any():
        row = int(np.argmax((b_min > d_min) | (d_min > d_max) | (d_max > b_max)))
        raise QCConfigError(
            f"{where}.table[{row}]: need bad_min <= doubtful_min <= doubtful_max <= bad_max"
        )


@qc_test(
    "range_by",
    version="1.0",
    parameters=[
        Param("by", "string", doc="variable or profile the limits depend on, e.g. 'pressure'"),
        Param(
            "table",
            "table",
            columns=5,
            doc="rows [by, doubtful_min, doubtful_max, bad_min, bad_max], interpolated linearly",
        ),
    ],
    validator=_table_sorted,
    bounded=True,
)
def range_by(data: QCInput, *, by: str, table: list[list[float]]) -> Probability:
    """Range whose limits are a function of another variable (a climatology table).

    Limits are interpolated linearly in the ``by`` variable and held constant beyond the first
    and last rows; where ``by`` is missing the test has no opinion (NaN).

    A value within every row's doubtful limits (above the largest doubtful_min, below the
    smallest doubtful_max) passes whatever ``by`` is, since interpolated limits lie between
    rows' limits: limits are interpolated only at the other points, usually a few. (Four
    interpolations of every point made this the slowest test of the default suite.)
    """
    z = data.get(by)
    x = data.values
    t = np.asarray(table, dtype=np.float64)
    # NaN in the table makes the envelope NaN: every point is then computed, as before
    low, high = float(np.max(t[:, 1])), float(np.min(t[:, 2]))
    out = new_probability(x.shape)
    with np.errstate(invalid="ignore"):
        idx = not_inside(x, low, high, scratch=out)
    out.fill(1.0)
    if idx.size:
        zs = z[idx]
        limits = [np.interp(zs, t[:, 0], t[:, col]) for col in range(1, 5)]
        out[idx] = soft_range(x[idx], *limits)
    out[np.isnan(z)] = np.nan
    return out
