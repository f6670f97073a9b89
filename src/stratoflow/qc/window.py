"""Vectorised sliding-window statistics with NaN treated as absent.

These are the building blocks of the window tests (flat line, Hampel, low variance, jump). They
are O(n) or O(n·w) numpy without Python loops over points: running extremes use the
van Herk/Gil-Werman block trick, means and variances cumulative sums, medians a sort of each
window done in chunks so memory stays bounded on 10^7 points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["centered_median_mad", "centered_sums", "trailing_count", "trailing_extremes"]

FloatArray = npt.NDArray[np.float64]
_CHUNK = 1 << 18


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


def centered_median_mad(
    a: FloatArray, half: int, min_valid: int = 3
) -> tuple[FloatArray, FloatArray]:
    """Median and median absolute deviation over centred windows of ``2*half+1`` points.

    NaN points are ignored; windows are truncated at the ends; a window with fewer than
    ``min_valid`` values gives NaN for both.
    """
    n = a.size
    w = 2 * half + 1
    padded = np.concatenate((np.full(half, np.nan), a, np.full(half, np.nan)))
    med = np.full(n, np.nan)
    mad = np.full(n, np.nan)
    for start in range(0, n, _CHUNK):  # chunks of windows, not points: bounded memory
        stop = min(n, start + _CHUNK)
        win = sliding_window_view(padded[start : stop + w - 1], w)
        med_c, k = _nanmedian_rows(win)
        dev = np.abs(win - med_c[:, None])
        mad_c, _ = _nanmedian_rows(dev)
        ok = k >= min_valid
        med[start:stop] = np.where(ok, med_c, np.nan)
        mad[start:stop] = np.where(ok, mad_c, np.nan)
    return med, mad


def _nanmedian_rows(win: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    s = np.sort(win, axis=1)  # NaN sorts last
    k = (~np.isnan(s)).sum(axis=1)
    lo = np.maximum((k - 1) // 2, 0)
    hi = np.maximum(k // 2, 0)
    rows = np.arange(s.shape[0])
    med = 0.5 * (s[rows, lo] + s[rows, hi])
    med = np.where(k > 0, med, np.nan)
    return med, k
