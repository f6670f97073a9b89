"""Stuck values: flat line (QARTOD) and low variance over a window.

``flat_line`` equals ``ioos_qc.qartod.flat_line_test`` point by point (``doubtful_duration`` /
``bad_duration`` = its ``suspect_threshold`` / ``fail_threshold`` in seconds): durations become
point counts ``c = floor(duration / median time step)``, and point ``i`` is flagged when the
range of the ``c + 1`` values ending at ``i`` (missing ones ignored) is below ``tolerance``.
The first ``c`` points cannot be judged and pass, as in QARTOD. (ioos_qc truncates the median
step to whole seconds; the two agree whenever it is a whole number of seconds.) With
``whole_window`` every point of a flat window is flagged, which is what SaQC's
``flagConstants`` does. Only stretches where no step between neighbours reaches ``tolerance``
can hold a flat window, so the exact window ranges are computed on those alone
(:func:`~stratoflow.qc.window.linked_runs`).

``low_variance`` flags points whose centred window has a standard deviation below a limit: a
sensor that still wiggles by one digit but no longer follows the atmosphere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.errors import QCConfigError
from stratoflow.qc.base import (
    P_SUSPECT,
    InputUnavailable,
    Param,
    Probability,
    QCInput,
    new_probability,
    qc_test,
    soft_limit,
    sparse_flatnonzero,
)
from stratoflow.qc.window import centered_sums, flat_windows, linked_runs

__all__ = ["flat_line", "low_variance", "stuck_value"]


def _durations(params: dict[str, Any], where: str) -> None:
    if params["bad_duration"] < params["doubtful_duration"]:
        raise QCConfigError(f"{where}.bad_duration: must be >= doubtful_duration")


@qc_test(
    "flat_line",
    version="1.1",
    parameters=[
        Param("doubtful_duration", "number", exclusive_minimum=0.0, doc="seconds"),
        Param("bad_duration", "number", exclusive_minimum=0.0, doc="seconds"),
        Param("tolerance", "number", default=0.0, minimum=0.0, doc="data units"),
        Param(
            "whole_window",
            "boolean",
            default=False,
            doc="flag every point of a flat window, not only its last (like SaQC flagConstants)",
        ),
    ],
    validator=_durations,
    bounded=True,
)
def flat_line(
    data: QCInput,
    *,
    doubtful_duration: float,
    bad_duration: float,
    tolerance: float,
    whole_window: bool,
) -> Probability:
    """Values that stay within ``tolerance`` for longer than a duration.

    By default (QARTOD) a point is judged by the window that ends at it, so the first points
    of a stuck period pass; ``whole_window`` flags every point of each flat window instead.
    """
    x = data.values
    p = new_probability(x.shape, 1.0)
    if x.size < 3:
        return p
    step = data.median_step()
    if not step > 0:
        return p
    runs = linked_runs(x, tolerance, np.empty(x.size - 1))
    for duration, prob in ((doubtful_duration, P_SUSPECT), (bad_duration, 0.0)):
        count = int(np.floor(duration / step))
        if count < 0 or count + 1 > x.size:
            continue
        p[flat_windows(x, count + 1, tolerance, runs, cover=whole_window)] = prob
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
    bounded=True,
)
def low_variance(
    data: QCInput, *, window: float, doubtful_std: float, bad_std: float, min_valid: int
) -> Probability:
    """Standard deviation over a centred window of ``window`` seconds below a limit."""
    x = data.values
    step = data.median_step()
    if not step > 0:
        return np.full(x.shape, np.nan)
    # a window beyond both ends from every point holds the whole series: cut to it (1e30 s
    # overflowed the index arithmetic); windows are truncated at the ends anyway
    half = max(1, round(min(window / step, 2.0 * x.size + 1)) // 2)
    if 2 * half + 1 < min_valid:  # all NaN would look like a test that found nothing wrong
        raise InputUnavailable(
            f"{data.variable}: low_variance window of {window:g} s holds {2 * half + 1} points "
            f"at this series' median step of {step:g} s, fewer than min_valid {min_valid}: "
            "it could never judge a point"
        )
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
    version="1.1",
    parameters=[
        Param("doubtful_duration", "number", exclusive_minimum=0.0, doc="seconds"),
        Param("bad_duration", "number", exclusive_minimum=0.0, doc="seconds"),
        Param("tolerance", "number", default=0.0, minimum=0.0, doc="step within = same value"),
        Param(
            "min_points",
            "integer",
            default=5,
            minimum=2,
            doc="a run needs this many points: two equal hourly means are no evidence",
        ),
        Param(
            "plateau_factor",
            "number",
            default=5.0,
            minimum=1.0,
            doc="durations are this many times longer for a plateau of quantised data",
        ),
    ],
    validator=_durations,
    bounded=True,
)
def stuck_value(
    data: QCInput,
    *,
    doubtful_duration: float,
    bad_duration: float,
    tolerance: float,
    min_points: int,
    plateau_factor: float,
) -> Probability:
    """Every point of a run of repeated values that lasts longer than a duration.

    Unlike QARTOD's flat line, which can only judge a point once a full window has passed,
    this flags the whole run, first points included: a stuck sensor is wrong from the moment
    it sticks. Consecutive valid values whose step is at most ``tolerance`` form a run; its
    duration is the time from its first to its last point; runs of fewer than ``min_points``
    values pass whatever their duration (coarse data: hourly means may repeat once by chance).

    Quantised data need care: real instruments log ozone and CO in whole ppb, water vapour in
    whole ppm, temperatures in tenths of a kelvin; such a series stays on one value for minutes
    whenever the atmosphere varies by less than one step — a plateau, not a stuck sensor (in
    a real IAGOS flight a third to three quarters of all steps are zero). A stuck sensor
    betrays itself when it recovers: the value jumps to where the atmosphere went meanwhile.
    So when a series is quantised (at least a fifth of its steps are zero) and a run is
    entered and left by small steps (at most twice the series' median non-zero step), the run
    is judged with ``plateau_factor`` times longer durations. Continuous (noisy float) data,
    where repeated values only come from a stuck sensor, are judged with the durations given.
    """
    x = data.values
    valid = ~np.isnan(x)
    p = np.where(valid, np.float32(1.0), np.float32(np.nan))
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return p
    seconds = data.seconds()  # refuses a missing time, whether or not a run is long
    v = x[idx] if idx.size < x.size else x
    steps = np.diff(v)
    np.abs(steps, out=steps)  # in place: at 10^7 points every fresh array costs 80 MB
    # a run of repeated values is a stretch of steps within the tolerance, from step a to
    # step b - 1: values a..b. Its edges are the few places where "small" changes, so the
    # work is on the stretches, not on every point (continuous data have few or none).
    small = np.less_equal(steps, tolerance).view(np.int8)
    edges = sparse_flatnonzero(np.diff(small, prepend=np.int8(0), append=np.int8(0)) != 0)
    first, size = edges[0::2], edges[1::2] - edges[0::2] + 1
    long = size >= min_points  # shorter runs pass (two equal hourly means are no evidence)
    if not long.any():
        return p
    first, size = first[long], size[long]
    last = first + size - 1
    duration = np.abs(seconds[idx[last]] - seconds[idx[first]])  # newest first: backwards
    q = _typical_step(steps, tolerance)
    runs = steps.size + 1 - int(np.count_nonzero(small))  # each step beyond ends a run
    if q > 0 and plateau_factor > 1 and runs > 2:
        # step into each run (from the previous value) and out of it (to the next value);
        # the ends of the series give no evidence either way
        entry = np.where(first > 0, steps[np.maximum(first - 1, 0)], 0.0)
        leave = np.where(last < v.size - 1, steps[np.minimum(last, steps.size - 1)], 0.0)
        plateau = (entry <= 2 * q) & (leave <= 2 * q)
        duration[plateau] /= plateau_factor
    prob = soft_limit(duration, doubtful_duration, bad_duration)
    # the positions of every point of the long runs, run after run: first[k] + 0..size[k]-1
    before = np.cumsum(size) - size
    where = np.arange(int(size.sum()))
    where += np.repeat(first - before, size)
    p[idx[where]] = np.repeat(prob, size)
    return p


def _typical_step(steps: npt.NDArray[np.float64], tolerance: float) -> float:
    """The median non-zero step of a quantised series; 0 for continuous data.

    Quantised: at least a fifth of the steps are zero (within ``tolerance``); continuous data
    only repeat a value when something is wrong.
    """
    if steps.size < 20:
        return 0.0
    moving = steps > tolerance
    if moving.mean() > 0.8 or not moving.any():
        return 0.0
    return float(np.median(steps[moving]))
