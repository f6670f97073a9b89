"""Vectorised sliding-window statistics with NaN treated as absent.

These are the building blocks of the window tests (flat line, Hampel, low variance, jump). They
are O(n) or O(n·w) numpy without Python loops over points: running extremes use the
van Herk/Gil-Werman block trick, means and variances cumulative sums, medians a selection
network over the window's columns (a sort for windows with a NaN), done in chunks so memory
stays bounded on 10^7 points.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "centered_median_mad",
    "centered_sums",
    "flat_windows",
    "linked_runs",
    "trailing_count",
    "trailing_extremes",
]

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
_CHUNK = 1 << 18
#: windows per chunk on the selection network: its columns (w x 256 kB) stay in cache between
#: the compare-exchange steps; 2^15 measured fastest here (75 ms per 10^6 points, w=9, against
#: 170 ms with 2^18 and 300 ms for sorting every window)
_NETWORK_CHUNK = 1 << 15
#: at most this many values (windows x window length) per chunk where windows are sorted:
#: 64 MB of float64 per copy
_SORT_CHUNK_VALUES = 1 << 23


def _block_running(a: FloatArray, w: int, fn: Any) -> FloatArray:
    """``fn``-reduction (np.maximum/np.minimum) of each trailing window a[i-w+1..i], i >= w-1."""
    n = a.size
    nb = -(-n // w)
    identity = -np.inf if fn is np.maximum else np.inf
    padded = np.full(nb * w, identity)
    padded[:n] = a
    blocks = padded.reshape(nb, w)
    prefix = fn.accumulate(blocks, axis=1).ravel()
    suffix = fn.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    # window [j, j+w-1]: suffix of j's block up to its end, prefix of the next block up to j+w-1
    out: FloatArray = fn(suffix[: n - w + 1], prefix[w - 1 : n])
    return out


def trailing_extremes(a: FloatArray, w: int) -> tuple[FloatArray, FloatArray]:
    """Max and min over each trailing window of ``w`` points, ignoring NaN.

    Element ``i`` of the result covers ``a[i : i + w]``; the arrays have ``n - w + 1`` elements
    (empty if ``w > n``). A window with no valid value gives ``-inf``/``+inf``.
    """
    if w > a.size or w < 1:
        return np.empty(0), np.empty(0)
    nan = np.isnan(a)
    hi = _block_running(np.where(nan, -np.inf, a), w, np.maximum)
    lo = _block_running(np.where(nan, np.inf, a), w, np.minimum)
    return hi, lo


def trailing_count(valid: npt.NDArray[np.bool_], w: int) -> npt.NDArray[np.int64]:
    """Number of valid points in each window ``valid[i : i + w]`` (``n - w + 1`` elements)."""
    if w > valid.size or w < 1:
        return np.empty(0, dtype=np.int64)
    c = np.concatenate(([0], np.cumsum(valid, dtype=np.int64)))
    out: npt.NDArray[np.int64] = c[w:] - c[:-w]
    return out


def linked_runs(
    a: FloatArray, tolerance: float, scratch: FloatArray | None = None
) -> tuple[IndexArray, IndexArray]:
    """Maximal segments ``a[start:stop]`` in which no step between neighbours is ``>= tolerance``.

    A window whose values span less than ``tolerance`` (NaN ignored) lies inside one such
    segment: each of its steps spans at most the whole range (a step touching NaN counts as
    linked). So the flat-window search only needs the segments at least a window long, which
    on real data are few and short; the segments cost one diff, one comparison and one scan
    for changes over the data. ``scratch`` (``n - 1`` float64) avoids allocating the diff.
    """
    n = a.size
    if n < 2:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    d = np.empty(n - 1) if scratch is None else scratch
    np.subtract(a[1:], a[:-1], out=d)
    np.abs(d, out=d)
    with np.errstate(invalid="ignore"):
        broken = np.greater_equal(d, tolerance)  # NaN: False, linked
    change = np.flatnonzero(broken[1:] != broken[:-1]) + 1
    first = np.concatenate(([0], change))  # runs of equal `broken` over steps [first, last)
    last = np.concatenate((change, [n - 1]))
    linked = ~broken[first]
    # linked steps [s, e) join points s..e; each point not in such a run is a segment of its own
    starts, stops = first[linked], last[linked] + 1
    return starts, stops


def flat_windows(
    a: FloatArray,
    w: int,
    tolerance: float,
    runs: tuple[IndexArray, IndexArray],
    *,
    cover: bool = False,
) -> IndexArray:
    """Windows of ``w`` consecutive points whose valid values span less than ``tolerance``.

    Returns the index of the last point of each such window (``cover=False``) or every point
    covered by one (``cover=True``). A window with no valid value is not flat. ``runs`` comes
    from :func:`linked_runs` with the same tolerance; only segments at least ``w`` long are
    searched, gathered into one array, so the cost follows the (usually tiny) candidate count.
    """
    if w < 1:
        return np.empty(0, dtype=np.intp)
    if w == 1:  # one-point windows: every valid value spans 0
        valid = np.flatnonzero(~np.isnan(a))
        return valid if tolerance > 0 else valid[:0]
    starts, stops = runs
    long = stops - starts >= w
    starts, stops = starts[long], stops[long]
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.intp)
    offsets = np.cumsum(lengths) - lengths  # where each segment begins in the gathered array
    gathered = np.arange(total) + np.repeat(starts - offsets, lengths)  # indices into `a`
    seg = np.repeat(np.arange(lengths.size), lengths)
    v = a[gathered]
    hi, lo = trailing_extremes(v, w)
    count = trailing_count(~np.isnan(v), w)
    with np.errstate(invalid="ignore"):
        flat = (count > 0) & (hi - lo < tolerance) & (seg[: total - w + 1] == seg[w - 1 :])
    if not cover:
        out: IndexArray = gathered[w - 1 :][flat]
        return out
    # point k of the gathered array is covered if a flat window starts in [k - w + 1, k]
    c = np.concatenate(([0], np.cumsum(flat, dtype=np.int64)))
    k = np.arange(total)
    covered = c[np.minimum(k, total - w) + 1] - c[np.maximum(k - w + 1, 0)] > 0
    out = gathered[covered]
    return out


def centered_sums(a: FloatArray, half: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Count, sum and sum of squares over the centred window ``a[i-half : i+half+1]``.

    NaN points do not count; windows are truncated at the ends. Values are centred on the
    global mean first, which keeps the variance from cumulative sums accurate.
    """
    valid = ~np.isnan(a)
    mean = float(a[valid].mean()) if valid.any() else 0.0
    x = np.where(valid, a - mean, 0.0)
    n = a.size
    idx = np.arange(n)
    lo = np.clip(idx - half, 0, n)
    hi = np.clip(idx + half + 1, 0, n)

    def window_sum(v: FloatArray) -> FloatArray:
        c = np.concatenate(([0.0], np.cumsum(v)))
        out: FloatArray = c[hi] - c[lo]
        return out

    count = window_sum(valid.astype(np.float64))
    total = window_sum(x)
    squares = window_sum(x * x)
    return count, total + count * mean, squares + 2 * mean * total + count * mean * mean


#: Windows up to this many points take the selection network; longer ones a sort per window.
NETWORK_MAX_WINDOW = 25


def centered_median_mad(
    a: FloatArray, half: int, min_valid: int = 3
) -> tuple[FloatArray, FloatArray]:
    """Median and median absolute deviation over centred windows of ``2*half+1`` points.

    NaN points are ignored; windows are truncated at the ends; a window with fewer than
    ``min_valid`` values gives NaN for both.

    Windows without a NaN (nearly all of them in measured data) take a selection network:
    compare-exchange steps (``np.minimum``/``np.maximum``) between the window's columns that
    leave the middle order statistic in place, about 4x faster than sorting every window and
    exactly the same value (only ever min/max of the inputs). The few windows with a NaN, or cut
    by the ends of the series, are sorted (:func:`_nanmedian_rows`).
    """
    n = a.size
    # a window reaching past both ends from every point holds the whole series: wider ones
    # only add padding to sort (a day's window on a short file ran out of memory)
    half = min(half, max(n - 1, 0))
    w = 2 * half + 1
    padded = np.concatenate((np.full(half, np.nan), a, np.full(half, np.nan)))
    med = np.full(n, np.nan)
    mad = np.full(n, np.nan)
    if n == 0:
        return med, mad
    nan = np.isnan(padded)
    # windows holding a NaN (including those reaching into the padding): a running count
    counts = np.concatenate(([0], np.cumsum(nan, dtype=np.int64)))
    holed = (counts[w:] - counts[:-w]) > 0
    network = w <= NETWORK_MAX_WINDOW and w >= min_valid
    # the sort copies every window of a chunk (and its deviations, and their sort): chunks
    # of a fixed window count held 2^18 x 301 floats (2 GB at peak) for a 5-minute window
    chunk = _NETWORK_CHUNK if network else max(1, min(_CHUNK, _SORT_CHUNK_VALUES // w))
    for start in range(0, n, chunk):  # chunks of windows, not points: bounded memory
        stop = min(n, start + chunk)
        if network:
            columns = [padded[start + j : stop + j] for j in range(w)]
            m = _select_middle(columns)
            med[start:stop] = m
            mad[start:stop] = _select_middle([np.abs(c - m) for c in columns])
            rows = np.flatnonzero(holed[start:stop])
        else:
            rows = np.arange(stop - start)
        if not rows.size:
            continue
        win = sliding_window_view(padded[start : stop + w - 1], w)[rows]
        med_c, k = _nanmedian_rows(win)
        mad_c, _ = _nanmedian_rows(np.abs(win - med_c[:, None]))
        ok = k >= min_valid
        med[start + rows] = np.where(ok, med_c, np.nan)
        mad[start + rows] = np.where(ok, mad_c, np.nan)
    return med, mad


@lru_cache(maxsize=64)
def _middle_network(w: int) -> tuple[tuple[int, int, bool, bool], ...]:
    """Compare-exchange steps ``(i, j, keep_min, keep_max)`` that put the median of ``w``
    (odd) inputs at position ``w // 2``.

    Batcher's odd-even merge sort for the next power of two, with the comparators touching the
    padding dropped (padding is +inf: they would never exchange), then pruned backwards from
    the middle output: a step is kept only if an output it writes is read later on the way to
    the middle, and only that output (min or max) is computed.
    """
    size = 1
    while size < w:
        size *= 2
    steps: list[tuple[int, int]] = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        steps.append((i + j, i + j + k))
            k //= 2
        p *= 2
    needed = {w // 2}
    kept: list[tuple[int, int, bool, bool]] = []
    for i, j in reversed([(i, j) for i, j in steps if j < w]):
        lo, hi = i in needed, j in needed
        if lo or hi:
            kept.append((i, j, lo, hi))
            needed |= {i, j}
    return tuple(reversed(kept))


def _select_middle(columns: list[FloatArray]) -> FloatArray:
    """The middle order statistic, element-wise, of an odd number of equally long arrays."""
    cols: list[FloatArray] = list(columns)
    for i, j, keep_min, keep_max in _middle_network(len(cols)):
        a, b = cols[i], cols[j]
        if keep_min and keep_max:
            cols[i], cols[j] = np.minimum(a, b), np.maximum(a, b)
        elif keep_min:
            cols[i] = np.minimum(a, b)
        else:
            cols[j] = np.maximum(a, b)
    return cols[len(cols) // 2]


def _nanmedian_rows(win: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    s = np.sort(win, axis=1)  # NaN sorts last
    k = (~np.isnan(s)).sum(axis=1)
    lo = np.maximum((k - 1) // 2, 0)
    hi = np.maximum(k // 2, 0)
    rows = np.arange(s.shape[0])
    med = 0.5 * (s[rows, lo] + s[rows, hi])
    med = np.where(k > 0, med, np.nan)
    return med, k
