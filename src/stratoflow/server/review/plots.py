"""What the review page plots: compact, decimation-aware arrays, and the per-test panel.

A 10-hour 1 Hz flight with 10 variables is 360 000 points; sending them all as JSON numbers
would be ~7 MB and slow to parse. Instead, for the visible time window each variable sends at
most ``budget`` points: the minimum and maximum of each of ``budget/2`` equal buckets (so every
peak and spike stays visible) plus every point QC or the PI did not flag good (so no flag is
hidden by decimation). Arrays travel as base64 little-endian typed arrays (uint32 milliseconds
since the first point, float32 values, uint8 flags), which the browser maps onto
``Float32Array``/``Uint8Array`` without parsing numbers. Zooming asks for the new window, which
soon fits the budget and arrives at full resolution.

Example::

    payload = plot_payload(flight)                        # whole flight, decimated
    payload = plot_payload(flight, start_ms=6e5, end_ms=9e5)  # a zoomed window
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.flags import Flag
from stratoflow.qc.mapper import exact_threshold
from stratoflow.server.catalog.models import Flight, Series
from stratoflow.server.review.models import ManualFlag
from stratoflow.server.review.selectors import current_series
from stratoflow.server.review.stored import StoredQC, stored_qc

__all__ = ["ALTITUDE_NAMES", "decimate", "payload_json", "plot_payload", "qc_test_panel"]

#: Variables used as the vertical axis of profile plots, in order of preference.
ALTITUDE_NAMES = ("baro_alt_AC", "gps_alt_AC", "alt", "altitude", "press_alt_AC")
_ALTITUDE_STANDARD = ("altitude", "barometric_altitude", "height")
_NO_TEST = 255


def _b64(a: npt.NDArray[Any], dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.dtype(dtype)).tobytes()).decode()


def decimate(
    values: npt.NDArray[np.float64], keep: npt.NDArray[np.bool_], budget: int
) -> npt.NDArray[np.intp]:
    """Indices to plot: min and max of ``budget // 2`` buckets plus every ``keep`` point.

    Vectorised: the values are padded to whole buckets and reduced along the bucket axis.
    """
    n = values.size
    if n <= budget:
        return np.arange(n)
    buckets = max(budget // 2, 1)
    size = -(-n // buckets)
    padded = np.full(buckets * size, np.nan)
    padded[:n] = values
    grid = padded.reshape(buckets, size)
    finite = np.isfinite(grid)
    lo = np.where(finite, grid, np.inf).argmin(axis=1)
    hi = np.where(finite, grid, -np.inf).argmax(axis=1)
    base = np.arange(buckets) * size
    picked = np.concatenate([base + lo, base + hi, [0, n - 1]])
    flagged = np.flatnonzero(keep)
    if flagged.size > budget:  # very many flagged points: a uniform sample of them
        flagged = flagged[np.linspace(0, flagged.size - 1, budget).astype(np.intp)]
    out = np.unique(np.concatenate([picked[picked < n], flagged]))
    return out.astype(np.intp)


def _altitude(series: Sequence[Series]) -> Series | None:
    by_name = {s.variable: s for s in series}
    for name in ALTITUDE_NAMES:
        if name in by_name:
            return by_name[name]
    for s in series:
        if s.standard_name in _ALTITUDE_STANDARD:
            return s
    return None


def _epoch_ms(t: npt.NDArray[np.datetime64]) -> npt.NDArray[np.float64]:
    return t.astype("datetime64[ns]").astype(np.int64) / 1e6


def _why(stored: StoredQC, idx: npt.NDArray[np.intp]) -> tuple[npt.NDArray[Any], ...]:
    """Per plotted point: the index of the test with the lowest probability, and that p."""
    tests = stored.variable.tests
    if not tests or idx.size == 0:
        return np.full(idx.size, _NO_TEST, np.uint8), np.full(idx.size, 255, np.uint8)
    stack = np.stack([t.probability[idx] for t in tests])
    filled = np.where(np.isnan(stack), np.inf, stack)
    worst = filled.argmin(axis=0)
    p = filled[worst, np.arange(idx.size)]
    which = np.where(np.isfinite(p), worst, _NO_TEST).astype(np.uint8)
    quantized = np.where(np.isfinite(p), np.round(np.clip(p, 0, 1) * 250), 255).astype(np.uint8)
    return which, quantized


def plot_payload(
    flight: Flight,
    *,
    start_ms: float | None = None,
    end_ms: float | None = None,
    budget: int = 4000,
) -> dict[str, Any]:
    """The arrays of every current series of ``flight`` in the window, decimated to ``budget``.

    ``start_ms``/``end_ms``: the window in milliseconds since the Unix epoch (None: all);
    a NaN or infinite bound raises ``ValueError`` (it selects nothing sensible and the JSON
    of the payload cannot carry it).
    """
    for name, bound in (("start_ms", start_ms), ("end_ms", end_ms)):
        if bound is not None and not np.isfinite(bound):
            raise ValueError(f"plot window {name} must be finite, not {bound}")
    series = current_series(flight)
    decoded = [stored_qc(s) for s in series]
    alt_series = _altitude(series)
    alt = next((d for d in decoded if alt_series is not None and d.series == alt_series), None)
    t0 = None
    variables = []
    for d in decoded:
        ms = _epoch_ms(d.time)
        if t0 is None and ms.size:
            t0 = float(ms[0])
        lo = 0 if start_ms is None else int(np.searchsorted(ms, start_ms, "left"))
        hi = ms.size if end_ms is None else int(np.searchsorted(ms, end_ms, "right"))
        values = d.values[lo:hi]
        flags = d.flags[lo:hi]
        keep = (flags != int(Flag.GOOD)) & (flags != int(Flag.MISSING))
        idx = decimate(values, keep, budget) + lo
        which, p = _why(d, idx)
        entry = {
            "name": d.series.variable,
            "units": d.series.units,
            "long_name": d.series.long_name or d.series.variable,
            "n_window": hi - lo,
            "n_sent": int(idx.size),
            "t": _b64(ms[idx] - (t0 or 0.0), "<u4"),
            "v": _b64(d.values[idx], "<f4"),
            "f": _b64(d.flags[idx], "u1"),
            "w": _b64(which, "u1"),
            "p": _b64(p, "u1"),
            "tests": [t.label for t in d.variable.tests],
        }
        if alt is not None and alt.values.size == d.values.size:
            entry["a"] = _b64(alt.values[idx], "<f4")
        variables.append(entry)
    manual = [
        {
            "variable": m.variable,
            "start": m.time_start.timestamp() * 1000.0,
            "end": m.time_end.timestamp() * 1000.0,
            "flag": Flag(m.flag).label,
            "comment": m.comment,
        }
        for m in ManualFlag.objects.filter(flight=flight).order_by("created_at", "id")
    ]
    return {
        "flight": flight.identifier,
        "t0": t0 or 0.0,
        "altitude": alt_series.variable if alt_series is not None else None,
        "budget": budget,
        "window": [start_ms, end_ms],
        "flags": {str(int(f)): f.label for f in Flag},
        "variables": variables,
        "manual_flags": manual,
    }


def payload_json(payload: dict[str, Any]) -> bytes:
    """Compact JSON bytes of a payload."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def _iso(ns: np.int64) -> str:
    return datetime.fromtimestamp(int(ns) / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _intervals(
    mask: npt.NDArray[np.bool_], p: npt.NDArray[np.float32], t: npt.NDArray[np.int64], most: int
) -> list[dict[str, Any]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)  # exclusive
    if starts.size == 0:
        return []
    minima = np.fmin.reduceat(np.where(mask, p, np.nan), starts)
    order = np.argsort(minima, kind="stable")[:most]  # the worst intervals first
    return [
        {
            "start": _iso(t[starts[i]]),
            "end": _iso(t[stops[i] - 1]),
            "points": int(stops[i] - starts[i]),
            "min_p": round(float(minima[i]), 3),
        }
        for i in sorted(order)
    ]


def qc_test_panel(flight: Flight, *, most: int = 8) -> list[dict[str, Any]]:
    """Per variable and test: parameters, where the test fired (p < good) and how strongly."""
    panel = []
    for s in current_series(flight):
        d = stored_qc(s)
        if d.run is None:
            continue
        good = float(d.run.thresholds.get("good", 1.0))
        bad = float(d.run.thresholds.get("bad", 0.5))
        t = d.time.astype("datetime64[ns]").astype(np.int64)
        tests = []
        for run in d.variable.tests:
            p = run.probability
            with np.errstate(invalid="ignore"):  # decided as the evaluation decides them
                fired = p < exact_threshold(good, p.dtype)
                n_bad = int((p < exact_threshold(bad, p.dtype)).sum())
            finite = p[np.isfinite(p)]
            tests.append(
                {
                    "label": run.label,
                    "test": run.test,
                    "parameters": json.dumps(dict(run.params), sort_keys=True),
                    "critical": run.critical,
                    "weight": run.weight,
                    "fired": int(fired.sum()),
                    "bad": n_bad,
                    "min_p": round(float(finite.min()), 3) if finite.size else None,
                    "where": _intervals(fired, p, t, most),
                }
            )
        panel.append(
            {
                "variable": s.variable,
                "version": s.version,
                "evaluation": d.run.evaluation,
                "thresholds": dict(d.run.thresholds),
                "thresholds_text": " ".join(
                    f"{k}={v}" for k, v in sorted(d.run.thresholds.items())
                ),
                "counts": dict(d.run.flag_counts),
                "skipped": dict(d.run.config.get("skipped") or {}),
                "tests": tests,
            }
        )
    return panel
