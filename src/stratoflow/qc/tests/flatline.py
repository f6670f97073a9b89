"""Stuck values: flat line (QARTOD) and low variance over a window.

``flat_line`` equals ``ioos_qc.qartod.flat_line_test`` point by point (``doubtful_duration`` /
``bad_duration`` = its ``suspect_threshold`` / ``fail_threshold`` in seconds): durations become
point counts ``c = floor(duration / median time step)``, and point ``i`` is flagged when the
range of the ``c + 1`` values ending at ``i`` (missing ones ignored) is below ``tolerance``.
The first ``c`` points cannot be judged and pass, as in QARTOD.

``low_variance`` flags points whose centred window has a standard deviation below a limit: a
sensor that still wiggles by one digit but no longer follows the atmosphere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.errors import QCConfigError
from stratoflow.qc.base import P_SUSPECT, Param, Probability, QCInput, qc_test, soft_limit
from stratoflow.qc.window import centered_sums, trailing_count, trailing_extremes

__all__ = ["flat_line", "low_variance", "stuck_value"]


def _median_step(data: QCInput) -> float:
    if data.time.size < 2:
        return float("nan")
    return float(np.median(np.diff(data.seconds())))


def _flat_ending_at(x: npt.NDArray[np.float64], count: int, tolerance: float) -> Any:
    flagged = np.zeros(x.shape, dtype=bool)
    w = count + 1
    if count < 0 or w > x.size:
        return flagged
    hi, lo = trailing_extremes(x, w)
    valid = trailing_count(~np.isnan(x), w) > 0
    flagged[count:] = valid & (hi - lo < tolerance)
    return flagged


def _durations(params: dict[str, Any], where: str) -> None:
    if params["bad_duration"] < params["doubtful_duration"]:
        raise QCConfigError(f"{where}.bad_duration: must be >= doubtful_duration")


@qc_test(
    "flat_line",
    version="1.0",
    parameters=[
        Param("doubtful_duration", "number", exclusive_minimum=0.0, doc="seconds"),
        Param("bad_duration", "number", exclusive_minimum=0.0, doc="seconds"),
        Param("tolerance", "number", default=0.0, minimum=0.0, doc="data units"),
    ],
    validator=_durations,
)
def flat_line(
    data: QCInput, *, doubtful_duration: float, bad_duration: float, tolerance: float
) -> Probability:
    """Values that stay within ``tolerance`` for longer than a duration."""
    x = data.values
    p = np.ones(x.shape)
    step = _median_step(data)
    if x.size < 3 or not step > 0:
        return p
    for duration, prob in ((doubtful_duration, P_SUSPECT), (bad_duration, 0.0)):
        count = int(np.floor(duration / step))
        p[_flat_ending_at(x, count, tolerance)] = prob
    p[np.isnan(x)] = np.nan
    return p


def _stds(params: dict[str, Any], where: str) -> None:
    if params["bad_std"] > params["doubtful_std"]:
        raise QCConfigError(f"{where}.bad_std: must be <= doubtful_std")


@qc_test(
    "low_variance",
    version="1.0",
    parameters=[
        Param("window", "number", exclusive_minimum=0.0, doc="seconds"),
        Param("doubtful_std", "number", minimum=0.0, doc="data units"),
        Param("bad_std", "number", minimum=0.0, doc="data units"),
        Param("min_valid", "integer", default=5, minimum=2),
    ],
    validator=_stds,
)
def low_variance(
    data: QCInput, *, window: float, doubtful_std: float, bad_std: float, min_valid: int
) -> Probability:
    """Standard deviation over a centred window of ``window`` seconds below a limit."""
    x = data.values
    step = _median_step(data)
    if not step > 0:
        return np.full(x.shape, np.nan)
    half = max(1, round(window / step) // 2)
    count, total, squares = centered_sums(x, half)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (squares - total * total / count) / (count - 1)
    std = np.sqrt(np.maximum(var, 0.0))
    std[count < min_valid] = np.nan
    p = soft_limit(-std, -doubtful_std, -bad_std)
    p[np.isnan(x)] = np.nan
    return p


@qc_test(
    "stuck_value",
    version="1.0",
    parameters=[
        Param("doubtful_duration", "number", exclusive_minimum=0.0, doc="seconds"),
        Param("bad_duration", "number", exclusive_minimum=0.0, doc="seconds"),
        Param("tolerance", "number", default=0.0, minimum=0.0, doc="step within = same value"),
    ],
    validator=_durations,
)
def stuck_value(
    data: QCInput, *, doubtful_duration: float, bad_duration: float, tolerance: float
) -> Probability:
    """Every point of a run of repeated values that lasts longer than a duration.

    Unlike QARTOD's flat line, which can only judge a point once a full window has passed,
    this flags the whole run, first points included: a stuck sensor is wrong from the moment
    it sticks. Consecutive valid values whose step is at most ``tolerance`` form a run; its
    duration is the time from its first to its last point.
    """
    x = data.values
    p = np.full(x.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(x))
    if idx.size == 0:
        return p
    v, s = x[idx], data.seconds()[idx]
    breaks = np.concatenate(([True], np.abs(np.diff(v)) > tolerance))
    run = np.cumsum(breaks) - 1
    starts = np.flatnonzero(breaks)
    ends = np.concatenate((starts[1:], [v.size])) - 1
    duration = (s[ends] - s[starts])[run]
    p[idx] = soft_limit(duration, doubtful_duration, bad_duration)
    return p
