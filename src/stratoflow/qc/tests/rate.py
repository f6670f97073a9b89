"""Rate of change and level jumps.

``rate_of_change`` equals ``ioos_qc.qartod.rate_of_change_test`` point by point (``doubtful`` =
its ``threshold``, ``bad`` = its ``fail_threshold``): the rate of point ``i`` is
``|(x[i] - x[i-1]) / dt|`` in units per second (a step back in time too) and judges point ``i``;
the first point, and a point after a missing one, pass. (Time steps are exact float seconds;
ioos_qc truncates them to whole seconds, which only differs for sub-second data. A repeated
time stamp gives an infinite rate, bad unless the value repeats too: 0/0 passes; ioos_qc's
masked division there compares ``|dx|`` as if the step were one second.)

``jump`` looks for a persistent shift of level: the difference between the means of the
``window`` points before and from point ``i``; only the point where the shift peaks is judged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stratoflow.qc import parallel
from stratoflow.qc.base import (
    BLOCK,
    Param,
    Probability,
    QCInput,
    new_probability,
    qc_test,
    require_times,
    soft_limit,
    soft_range_at,
    sparse_flatzero,
)
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

    For long regular series no array of rates is built at all: a rate beyond the limit is a
    difference beyond ``limit * step``, so each block of points is differenced and compared
    while it is in cache, and only the few selected points get their rate (see
    :data:`_BLOCKED_FROM`).
    """
    x = data.values
    limited = doubtful is not None or bad is not None
    big = x.size > _BLOCKED_FROM and x.ndim == 1 and x.flags.c_contiguous and limited
    step = _regular_step(data.time) if big else None
    if step is not None:
        p, idx, rates = _regular(x, step, doubtful, bad)
    else:
        p, idx, rates = _irregular(x, data.time, doubtful, bad, data.variable)
    # Next to a missing point (and for 0/0) the rate is not judged: passes, as in QARTOD. All
    # such points are among the few selected: no pass over all points. The first point is
    # never selected (its rate is 0), so every selected one has a previous point.
    present = np.isfinite(x[idx])
    passes = np.isfinite(x[idx - 1])
    np.logical_not(passes, out=passes)  # after a missing point
    np.logical_or(passes, np.isnan(rates), out=passes)
    np.logical_and(passes, present, out=passes)
    p[idx[passes]] = 1.0
    p[idx[np.logical_not(present, out=present)]] = np.nan
    if x.size and not np.isfinite(x[0]):  # the first point has no rate, never selected
        p[0] = np.nan
    return p


_BLOCKED_FROM = 1 << 22
"""Above this many points a series sampled at a fixed step is differenced in blocks.

An array of 2^22 float64 rates is 32 MiB, the size from which glibc's allocator maps every
allocation afresh: the kernel then zeroes and faults in the whole rate array on every call.
Measured at 10^7 points: 23 ms in blocks against 38 ms with the rate array; below 2^22 the
whole-array passes are 10 to 25 % faster (fewer numpy calls, and the array is reused memory).
"""


Selected = tuple[npt.NDArray[np.float32], npt.NDArray[np.intp], npt.NDArray[np.float64]]


def _irregular(
    x: npt.NDArray[np.float64],
    time: npt.NDArray[np.datetime64],
    doubtful: float | None,
    bad: float | None,
    variable: str = "",
) -> Selected:
    """Probabilities, the selected points and their rates, from an array of every rate."""
    rate = np.empty(x.shape)
    if x.size:
        rate[0] = 0.0  # the first point has no previous one: passes
    if x.size > 1:
        r = rate[1:]  # |x[i] - x[i-1]| / dt built in place: no temporaries of n points
        dt = _steps(time, r.view(np.int64), variable)
        with np.errstate(invalid="ignore"):  # inf - inf: a missing value, see the caller
            np.subtract(x[1:], x[:-1], out=r)
        if not (isinstance(dt, float) and dt == 1.0):  # 1 Hz: dividing by 1 changes nothing
            with np.errstate(divide="ignore", invalid="ignore"):
                np.divide(r, dt, out=r)
        np.abs(r, out=r)  # after dividing: a step back in time (dt < 0) is a rate too
    p, idx = soft_range_at(rate, None, doubtful, None, bad)
    return p, idx, rate[idx]


# a difference within limit * step * (1 - this) is certainly a rate within the limit, whatever
# the rounding of the division (a few units in the last place): the selection is a superset
_MARGIN = 2.0**-40
_BIGGEST = float(np.finfo(np.float64).max)


def _regular(
    x: npt.NDArray[np.float64], step: float, doubtful: float | None, bad: float | None
) -> Selected:
    """:func:`_irregular` for a fixed time step, without an array of rates.

    Point ``i`` is selected when ``x[i] - x[i-1]`` lies outside ``[-c, c]`` (NaN included),
    ``c`` the lower of the two limits times the step (a little less when the step is not one
    second, so that no rate beyond the limit escapes through rounding). The selected points'
    rates are then computed exactly as :func:`_irregular` does and judged by
    :func:`soft_range_at`, which gives 1 to any that is within the limit after all.
    """
    limits = [v for v in (doubtful, bad) if v is not None]
    n = x.size
    p = new_probability(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = min(limits) * step * (1.0 if step == 1.0 else 1.0 - _MARGIN)
        c = min(c, _BIGGEST)  # an infinite difference must stay outside

    def piece(start: int, stop: int) -> npt.NDArray[np.intp]:
        """The selected points of ``[start, stop)``; that part of ``p`` filled with 1."""
        part = p[start:stop]
        inside = part.view(np.bool_)[: stop - start]  # its memory as the mask, written over
        with np.errstate(invalid="ignore"):  # a worker thread has numpy's default errstate
            if start == 0:
                inside[0] = True  # the first point has no previous one: passes
                _differences_within(x[:stop], c, inside[1:])
            else:
                _differences_within(x[start - 1 : stop], c, inside)
        found = sparse_flatzero(inside, scratch=True)
        part.fill(1.0)
        found += start
        return found

    # pieces in threads for a long series (see stratoflow.qc.parallel); bit for bit the same
    idx = np.concatenate(parallel.run_pieces(piece, parallel.pieces(n, BLOCK)))
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.abs(x[idx] - x[idx - 1])
        if step != 1.0:
            np.divide(rates, step, out=rates)
        p[idx] = soft_range_at(rates, None, doubtful, None, bad)[0]
    return p, idx, rates


def _differences_within(x: npt.NDArray[np.float64], c: float, out: npt.NDArray[np.bool_]) -> None:
    """``out = |x[1:] - x[:-1]| <= c``, in blocks of :data:`BLOCK` points kept in cache."""
    m = x.size - 1
    d = np.empty(min(BLOCK, m))
    other = np.empty(min(BLOCK, m), dtype=np.bool_)
    for start in range(0, m, BLOCK):
        stop = min(start + BLOCK, m)
        k = stop - start
        a, b, ds = out[start:stop], other[:k], d[:k]
        np.subtract(x[start + 1 : stop + 1], x[start:stop], out=ds)
        np.greater_equal(ds, -c, out=a)
        np.less_equal(ds, c, out=b)
        np.logical_and(a, b, out=a)


def _regular_step(time: npt.NDArray[np.datetime64]) -> float | None:
    """The time step in seconds if every step is the same and positive, else None.

    Steps are taken block by block in cache; the first block that differs ends the search.
    A long series is searched in pieces over threads (a pass over 80 MB of times at 10^7
    points), each piece stopping at a block that differs in any of them.
    """
    ns = time.astype("datetime64[ns]", copy=False).view(np.int64).reshape(-1)
    m = ns.size - 1
    first = int(ns[1]) - int(ns[0]) if m >= 1 else 0
    if first <= 0 or int(ns[-1]) - int(ns[0]) != m * first:
        return None
    differs = False

    def piece(begin: int, end: int) -> None:
        nonlocal differs
        d = np.empty(min(BLOCK, end - begin), dtype=np.int64)
        for start in range(begin, end, BLOCK):
            if differs:  # found in another piece
                return
            stop = min(start + BLOCK, end)
            ds = d[: stop - start]
            np.subtract(ns[start + 1 : stop + 1], ns[start:stop], out=ds)
            if ds.max() > first:  # with the span checked above: no step differs
                differs = True
                return

    parallel.run_pieces(piece, parallel.pieces(m, BLOCK))
    return None if differs else first / 1e9


def _all_equal_first(steps: npt.NDArray[np.int64], span: int) -> bool:
    """Whether every step equals the first, given their sum ``span`` (last - first time).

    When no step exceeds the first and together they add up to ``m`` first steps, every step
    is the first: one reduction (the maximum) instead of a minimum and a maximum.
    """
    return (
        bool(steps.size)
        and int(steps.max()) == int(steps[0])
        and span == steps.size * int(steps[0])
    )


def _steps(
    time: npt.NDArray[np.datetime64], scratch: npt.NDArray[np.int64], variable: str = ""
) -> float | npt.NDArray[np.float64]:
    """Time steps in seconds: one scalar for regular sampling (the usual case), else an array.

    The integer nanosecond steps are written to ``scratch`` (``n - 1`` elements, the caller's
    output buffer seen as int64): a fresh array of ``n`` points costs more in page faults than
    the subtraction itself.
    """
    ns = time.astype("datetime64[ns]", copy=False).view(np.int64)
    np.subtract(ns[1:], ns[:-1], out=scratch)
    regular = _all_equal_first(scratch, int(ns[-1]) - int(ns[0]))
    # NaT: its steps wrap round (a rate of almost 0 beside it); among valid times it makes
    # the steps unequal, so regular time needs only its first point looked at
    require_times(ns, variable, first_only=regular)
    if regular:
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
