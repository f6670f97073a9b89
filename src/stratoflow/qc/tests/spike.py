"""Spike tests: QARTOD's neighbour test and a robust Hampel (median/MAD) test.

``spike`` equals ``ioos_qc.qartod.spike_test`` point by point with ``doubtful`` as its
``suspect_threshold`` and ``bad`` as its ``fail_threshold``: the spike height of point ``i`` is
``|x[i] - (x[i-1] + x[i+1]) / 2|`` ("average") or the smaller of the two opposite-signed steps
("differential"); the first and last points, and points next to a missing value, are not
evaluated (NaN).

``hampel`` compares each point with the median of a centred window, in units of the robust
standard deviation ``1.4826 * MAD``: it is not fooled by the spike itself, by two adjacent
spikes, or by a steady trend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.errors import QCConfigError
from stratoflow.qc.base import Param, Probability, QCInput, new_probability, qc_test, soft_limit
from stratoflow.qc.window import centered_median_mad

__all__ = ["hampel", "spike"]


def _ordered(params: dict[str, Any], where: str) -> None:
    doubtful, bad = params["doubtful"], params["bad"]
    if doubtful is None and bad is None:
        raise QCConfigError(f"{where}: give doubtful, bad or both")
    if doubtful is not None and bad is not None and bad < doubtful:
        raise QCConfigError(f"{where}.bad: must be >= doubtful ({doubtful:g}), got {bad:g}")


@qc_test(
    "spike",
    version="1.0",
    parameters=[
        Param("doubtful", "number", default=None, nullable=True, exclusive_minimum=0.0),
        Param("bad", "number", default=None, nullable=True, exclusive_minimum=0.0),
        Param("method", "string", default="average", choices=("average", "differential")),
    ],
    validator=_ordered,
    bounded=True,
)
def spike(data: QCInput, *, doubtful: float | None, bad: float | None, method: str) -> Probability:
    """Spike height against the neighbours (QARTOD spike test)."""
    x = data.values
    height = np.empty(x.shape)
    height[:1] = height[-1:] = np.nan  # the ends have no two neighbours: not judged
    if x.size >= 3:
        h = height[1:-1]  # built in place: no temporaries of n points
        if method == "average":  # |x[i] - (x[i-1] + x[i+1]) / 2|; * 0.5 is exactly / 2
            np.add(x[:-2], x[2:], out=h)
            h *= 0.5
            np.subtract(x[1:-1], h, out=h)
            np.abs(h, out=h)
        else:
            step = np.diff(x)
            with np.errstate(invalid="ignore"):
                np.multiply(step[:-1], step[1:], out=h)
                same_sign = np.greater_equal(h, 0.0)  # not a spike: a step up then down
                np.abs(step, out=step)
                np.minimum(step[:-1], step[1:], out=h)
                np.copyto(h, 0.0, where=same_sign)
    return soft_limit(height, doubtful, bad)


def _window_holds_min_valid(params: dict[str, Any], where: str) -> None:
    _ordered(params, where)
    points = 2 * (params["window"] // 2) + 1  # an even window is widened to be centred
    if params["min_valid"] > points:
        raise QCConfigError(
            f"{where}.min_valid: must be <= the {points} points of the window, "
            f"got {params['min_valid']} (the test could never judge a point)"
        )


@qc_test(
    "hampel",
    version="1.0",
    parameters=[
        Param(
            "window",
            "integer",
            default=11,
            minimum=3,
            doc="points in the centred window (an even number is widened by one)",
        ),
        Param("doubtful", "number", default=3.0, exclusive_minimum=0.0, doc="robust sigmas"),
        Param("bad", "number", default=6.0, exclusive_minimum=0.0, doc="robust sigmas"),
        Param("min_scale", "number", default=0.0, minimum=0.0, doc="floor of the sigma"),
        Param("min_valid", "integer", default=3, minimum=1),
    ],
    validator=_window_holds_min_valid,
    bounded=True,
)
def hampel(
    data: QCInput, *, window: int, doubtful: float, bad: float, min_scale: float, min_valid: int
) -> Probability:
    """Distance from the window median in robust standard deviations (Hampel filter).

    ``min_scale`` (data units) keeps quantised data (integer ppb) with a MAD of 0 from
    turning every 1-unit wiggle into a spike.

    The series is judged in chunks of :data:`CHUNK` points, each with the ``window // 2``
    neighbours its edge windows need: every point sees exactly the window it would see in the
    whole series, and the dozen temporaries per point stay in cache instead of being n-point
    arrays of fresh memory (which made 10^7 points cost 17x as much as 10^6).
    """
    x = data.values
    half = window // 2
    out = new_probability(x.shape)
    for start in range(0, x.size, CHUNK):
        stop = min(x.size, start + CHUNK)
        lo, hi = max(0, start - half), min(x.size, stop + half)
        med, mad = centered_median_mad(x[lo:hi], half, min_valid)
        core = slice(start - lo, stop - lo)
        score = _robust_score(x[start:stop], med[core], mad[core], min_scale)
        out[start:stop] = soft_limit(score, doubtful, bad)
    return out


CHUNK = 1 << 16
"""Points per chunk of :func:`hampel` (512 KiB of float64 per temporary)."""


def _robust_score(
    x: npt.NDArray[np.float64],
    med: npt.NDArray[np.float64],
    mad: npt.NDArray[np.float64],
    min_scale: float,
) -> npt.NDArray[np.float64]:
    """``|x - median|`` in robust sigmas; NaN where the point or its window's median is."""
    scale = np.maximum(1.4826 * mad, min_scale)
    dev = np.abs(x - med)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(scale > 0, dev / scale, np.where(dev > 0, np.inf, 0.0))
    score[np.isnan(med) | np.isnan(x)] = np.nan
    return score
