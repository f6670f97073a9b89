"""Clock synchronisation: estimate an instrument clock's offset against a reference clock.

Instrument computers keep their own time, and it drifts or is simply set wrong: the raw FAIRO
logs of 2022-11-16 run about 24 minutes ahead of the HALO aircraft clock. The instrument and
the aircraft both see some of the same atmosphere — pressure above all (the inlet pressure the
instrument logs follows the aircraft's static plus dynamic pressure) — so the offset is the
time shift that makes the two records of that shared signal agree best.

Method (:func:`estimate_offset`):

1. Both series are linearly interpolated onto uniform grids of the same ``step`` (by default
   the finer of the two median sampling intervals), each on its own clock. Grid points inside
   gaps longer than twice the sampling interval, and NaN values, are masked out.
2. For every whole-step shift ``d`` the Pearson correlation of the overlapping, unmasked parts
   is computed. All shifts at once: the six sums that Pearson's formula needs (count, sums,
   sums of squares, cross products over the overlap) are each one FFT cross-correlation of the
   masked series (:func:`scipy.signal.correlate`), so the cost is O(n log n), not O(n^2), and
   there is no Python loop over shifts. Each series is centred first to avoid cancellation.
3. Shifts whose overlap is below ``min_overlap`` (a fraction of the shorter series) or beyond
   ``max_offset``, or that hold fewer than ``min_samples`` samples of the coarser series, are
   excluded: small overlaps give large chance correlations.
4. A second peak within ``peak_margin`` of the best, separated from it by a dip (periodic
   signals), is refused as ambiguous. A best correlation below ``min_correlation`` is
   refused: unrelated or noisy series always have *some* best shift, and returning it would
   be a confident wrong offset. A constant signal is refused outright.
5. The best shift is refined below one step by fitting a parabola through the correlation at
   the peak and its two neighbours.

The result is ``offset = instrument clock - reference clock``; :func:`shift_time` subtracts it
from the instrument's time axis. The estimate uses only the two time series: never a record
that logs both clocks (which is what a test should use to check it).

A drifting clock (its offset grows over the flight) has no single offset. On request
(:func:`estimate_drift`) the offset is estimated as above on several consecutive segments of
the instrument series, a straight line ``offset = intercept + slope * (t - t0)`` is fitted to
them robustly (Theil-Sen, :func:`scipy.stats.theilslopes`, so one segment matched to the
wrong stretch cannot tilt it), the fit is refused when the segments do not lie on it, and
:func:`correct_drift` maps each instrument time stamp to the reference clock with that line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.dataset import TIME, validate
from stratoflow.errors import ConfigError

__all__ = [
    "ClockDrift",
    "ClockOffset",
    "correct_drift",
    "estimate_drift",
    "estimate_offset",
    "shift_time",
]

_NS = 1_000_000_000
#: grid points per series at most (a month at 1 Hz is 2.6 million)
_MAX_GRID = 50_000_000


@dataclass(frozen=True)
class ClockOffset:
    """An estimated clock offset and how well supported it is."""

    offset_s: float
    correlation: float
    overlap_s: float
    step_s: float
    #: offset on the second half of the instrument series minus on the first (None: unknown)
    drift_s: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        """JSON-able form, for provenance."""
        return {
            "offset_s": self.offset_s,
            "correlation": self.correlation,
            "overlap_s": self.overlap_s,
            "step_s": self.step_s,
            "drift_s": self.drift_s,
        }


@dataclass(frozen=True)
class ClockDrift:
    """A linear model of a drifting instrument clock: at instrument time ``t`` the offset
    (instrument - reference) is ``intercept_s + slope * (t - origin_ns)``.

    ``segments`` holds, per segment whose offset could be estimated, its mean instrument time
    (ISO 8601), offset and correlation; ``residual_s`` is the largest distance of those
    offsets from the line.
    """

    #: instrument time (nanoseconds since 1970) the line's ``intercept_s`` applies at
    origin_ns: int
    intercept_s: float
    slope: float
    residual_s: float
    segments: tuple[tuple[str, float, float], ...]
    tried: int

    def offset_at(self, time: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The modelled offset (seconds) at instrument times ``time``."""
        elapsed = _seconds(time, np.int64(self.origin_ns))
        return self.intercept_s + self.slope * elapsed

    def as_dict(self) -> dict[str, object]:
        """JSON-able form, for provenance."""
        return {
            "drift": "correct",
            "origin": str(np.datetime64(self.origin_ns, "ns")),
            "intercept_s": self.intercept_s,
            "slope": self.slope,
            "drift_s_per_hour": self.slope * 3600.0,
            "residual_s": self.residual_s,
            "segments_used": len(self.segments),
            "segments_tried": self.tried,
            "segments": [{"time": t, "offset_s": o, "correlation": c} for t, o, c in self.segments],
        }


def _seconds(time: npt.ArrayLike, origin: np.int64) -> npt.NDArray[np.float64]:
    stamps = np.asarray(time, dtype="datetime64[ns]")
    seconds = (stamps.astype(np.int64) - origin).astype(np.float64) / _NS
    return np.where(np.isnat(stamps), np.nan, seconds)  # NaT: a missing stamp, not year -292e9


def _grid(
    t: npt.NDArray[np.float64], v: npt.NDArray[np.float64], step: float, what: str
) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    ok = np.isfinite(v) & np.isfinite(t)
    t, v = t[ok], v[ok]
    if t.size < 3:
        raise ConfigError(f"clock synchronisation needs at least 3 valid values in the {what}")
    if np.ptp(v) == 0:
        raise ConfigError(
            f"clock synchronisation: the {what} signal is constant ({v[0]:g}); "
            "no time shift can be told from another"
        )
    order = np.argsort(t, kind="stable")  # readers may hand over unordered records
    t, v = t[order], v[order]
    if (t[-1] - t[0]) / step > _MAX_GRID:
        raise ConfigError(
            f"clock synchronisation: the {what} spans {t[-1] - t[0]:.0f} s, "
            f"{(t[-1] - t[0]) / step:.0f} steps of {step:g} s; more than {_MAX_GRID} "
            "(time stamps far off, or a step too fine)"
        )
    grid = np.arange(t[0], t[-1] + step / 2, step)
    values = np.interp(grid, t, v)
    # mask grid points inside gaps longer than twice the typical sampling interval
    typical = float(np.median(np.diff(t)))
    right = np.clip(np.searchsorted(t, grid), 1, t.size - 1)
    gap = (t[right] - t[right - 1]) > 2 * typical
    mask = (~gap).astype(np.float64)
    return float(grid[0]), (values - values[mask > 0].mean()) * mask, mask


def _run_ids(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Number of the contiguous run of True each element belongs to (False: of the last)."""
    starts = np.zeros(mask.size, dtype=np.int64)
    starts[1:] = (mask[1:] & ~mask[:-1]).astype(np.int64)
    starts[0] = int(mask[0])
    return np.cumsum(starts)


def estimate_offset(
    reference_time: npt.ArrayLike,
    reference_values: npt.ArrayLike,
    time: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    max_offset_s: float = 3 * 3600.0,
    step_s: float | None = None,
    min_overlap: float = 0.5,
    min_correlation: float = 0.8,
    min_samples: float = 30,
    peak_margin: float = 0.02,
    max_drift_s: float | None = 5.0,
) -> ClockOffset:
    """Offset (seconds) of the clock of ``time`` against the clock of ``reference_time``.

    ``values`` and ``reference_values`` must record a shared signal (e.g. pressure); their
    units need not match, since correlation ignores scale and offset. The offset is estimated
    again on each half of the instrument series: their difference is ``drift_s``, and a drift
    beyond ``max_drift_s`` (None: not checked) is refused, since one offset for a drifting
    clock is wrong at both ends.
    """

    def run(t: npt.ArrayLike, v: npt.ArrayLike, step: float | None) -> ClockOffset:
        return _estimate(
            reference_time,
            reference_values,
            t,
            v,
            max_offset_s=max_offset_s,
            step_s=step,
            min_overlap=min_overlap,
            min_correlation=min_correlation,
            min_samples=min_samples,
            peak_margin=peak_margin,
        )

    whole = run(time, values, step_s)
    ins_t = np.asarray(time, dtype="datetime64[ns]")
    v = np.asarray(values, dtype=np.float64)
    valid = np.flatnonzero(~np.isnat(ins_t) & np.isfinite(v))
    if valid.size < 12:
        return whole
    order = valid[np.argsort(ins_t[valid], kind="stable")]
    halves = (order[: order.size // 2], order[order.size // 2 :])
    try:
        first, second = (run(ins_t[h], v[h], whole.step_s) for h in halves)
    except ConfigError:
        return whole  # a half alone is too short or too flat to tell: drift unknown
    drift = second.offset_s - first.offset_s
    if max_drift_s is not None and abs(drift) > max_drift_s:
        raise ConfigError(
            f"clock synchronisation: the instrument clock drifts: offset {first.offset_s:.1f} s "
            f"in the first half, {second.offset_s:.1f} s in the second ({drift:+.1f} s, more "
            f"than max_drift_s {max_drift_s:g}); one offset ({whole.offset_s:.1f} s) would be "
            "wrong at both ends. Synchronise shorter pieces, or raise max_drift_s"
        )
    return replace(whole, drift_s=drift)


def estimate_drift(
    reference_time: npt.ArrayLike,
    reference_values: npt.ArrayLike,
    time: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    segments: int = 6,
    max_residual_s: float = 2.0,
    max_slope: float = 0.01,
    max_offset_s: float = 3 * 3600.0,
    step_s: float | None = None,
    min_overlap: float = 0.5,
    min_correlation: float = 0.8,
    min_samples: float = 30,
    peak_margin: float = 0.02,
) -> ClockDrift:
    """A linear clock model of the instrument clock of ``time`` against ``reference_time``.

    The valid instrument records, in time order, are cut into ``segments`` pieces of equal
    count; each piece's offset is estimated as by :func:`estimate_offset` (the same
    ``max_offset_s`` ... ``peak_margin``; a piece whose offset cannot be told is left out),
    searched within ``max_slope`` times the series' duration of the whole series' offset. A
    Theil-Sen line through the offsets at each piece's mean time is the model. Refused
    (:class:`~stratoflow.errors.ConfigError`) when fewer than 3 pieces (or fewer than half
    of them) give an offset, when any of those lies more than ``max_residual_s`` from the line
    (the drift is not linear, or a piece matched the wrong stretch), or when the slope exceeds
    ``max_slope`` (seconds per second: 0.01 is 36 s an hour, beyond any quartz clock; time
    stamps that far off are a broken log, not drift).
    """
    if not (isinstance(segments, int) and segments >= 3):
        raise ConfigError(
            f"clock drift: 'segments' must be an integer of at least 3, got {segments!r}"
        )
    ins_t = np.asarray(time, dtype="datetime64[ns]")
    v = np.asarray(values, dtype=np.float64)
    valid = np.flatnonzero(~np.isnat(ins_t) & np.isfinite(v))
    if valid.size < 3 * segments:
        raise ConfigError(
            f"clock drift: {valid.size} valid instrument values cannot be cut into {segments} "
            "segments of at least 3"
        )
    order = valid[np.argsort(ins_t[valid], kind="stable")]
    origin = ins_t[order[0]].astype(np.int64)
    span = float(_seconds(ins_t[order[-1]], origin))

    def estimate(piece: npt.NDArray[np.intp], centre: float, window: float) -> ClockOffset:
        """The offset of ``piece`` (record indices) searched within ``centre ± window``."""
        shifted = ins_t[piece] - np.timedelta64(round(centre * _NS), "ns")
        found = _estimate(
            reference_time,
            reference_values,
            shifted,
            v[piece],
            max_offset_s=window,
            step_s=step,
            min_overlap=min_overlap,
            min_correlation=min_correlation,
            min_samples=min_samples,
            peak_margin=peak_margin,
        )
        return replace(found, offset_s=centre + found.offset_s)

    # The whole series' offset (the mean one) centres every segment's search: a clock within
    # max_slope is never further from it than max_slope * span, and a short segment searched
    # over the full ±max_offset_s finds chance matches on a smooth reference far away.
    step = step_s
    try:
        whole = estimate(order, 0.0, max_offset_s)
        centre, window, step = whole.offset_s, max(max_slope * span, 5 * whole.step_s), whole.step_s
    except ConfigError:  # a strong drift smears the mean offset's peak: search everywhere
        centre, window = 0.0, max_offset_s
    found: list[tuple[float, float, float]] = []  # (mean time s since origin, offset, corr)
    for piece in np.array_split(order, segments):
        try:
            est = estimate(piece, centre, window)
        except ConfigError:
            continue  # this piece alone is too short, flat or ambiguous: left out, counted
        found.append((float(_seconds(ins_t[piece], origin).mean()), est.offset_s, est.correlation))
    if len(found) < max(3, (segments + 1) // 2):
        raise ConfigError(
            f"clock drift: the offset could be estimated on only {len(found)} of {segments} "
            "segments of the instrument series (too short, flat or ambiguous pieces); a line "
            "through so few is no clock model: use fewer segments or a longer series"
        )
    t, offsets, corr = (np.array(c) for c in zip(*found, strict=True))
    from scipy import stats  # on first use, as scipy.signal in the estimate

    fit = stats.theilslopes(offsets, t)
    slope, intercept = float(fit.slope), float(fit.intercept)
    residuals = offsets - (intercept + slope * t)
    worst = int(np.argmax(np.abs(residuals)))
    stamp = np.datetime64(int(origin), "ns")
    if abs(residuals[worst]) > max_residual_s:
        at = (stamp + np.timedelta64(round(t[worst]), "s")).astype("datetime64[s]")
        raise ConfigError(
            f"clock drift: the segment offsets do not lie on a line: the segment around "
            f"{at} (instrument clock) has offset {offsets[worst]:.2f} s, "
            f"{residuals[worst]:+.2f} s from the fitted {intercept:.2f} s "
            f"{slope * 3600:+.3f} s/h (max_residual_s {max_residual_s:g}); the drift is not "
            "linear or a segment matched the wrong stretch: synchronise shorter pieces, or "
            "raise max_residual_s"
        )
    if abs(slope) > max_slope:
        raise ConfigError(
            f"clock drift: the fitted drift {slope * 3600:+.1f} s/h (slope {slope:.4g}) exceeds "
            f"max_slope {max_slope:g}: no clock drifts that fast; check the time stamps"
        )
    return ClockDrift(
        origin_ns=int(origin),
        intercept_s=intercept,
        slope=slope,
        residual_s=float(np.abs(residuals).max()),
        segments=tuple(
            (str(stamp + np.timedelta64(round(a * _NS), "ns")), float(o), float(c))
            for a, o, c in zip(t, offsets, corr, strict=True)
        ),
        tried=segments,
    )


def _estimate(
    reference_time: npt.ArrayLike,
    reference_values: npt.ArrayLike,
    time: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    max_offset_s: float,
    step_s: float | None,
    min_overlap: float,
    min_correlation: float,
    min_samples: float,
    peak_margin: float,
) -> ClockOffset:
    ref_t = np.asarray(reference_time, dtype="datetime64[ns]")
    ins_t = np.asarray(time, dtype="datetime64[ns]")
    if ref_t.size < 3 or ins_t.size < 3:
        raise ConfigError("clock synchronisation needs at least 3 values in each series")
    valid_ref = ref_t[~np.isnat(ref_t)]
    if valid_ref.size < 3 or np.count_nonzero(~np.isnat(ins_t)) < 3:
        raise ConfigError("clock synchronisation needs at least 3 time stamps in each series")
    origin = valid_ref.min().astype(np.int64)
    rt, it = _seconds(ref_t, origin), _seconds(ins_t, origin)
    intervals = (
        float(np.median(np.diff(np.sort(rt[np.isfinite(rt)])))),
        float(np.median(np.diff(np.sort(it[np.isfinite(it)])))),
    )
    if step_s is None:
        step_s = min(intervals)
    if not step_s > 0:
        raise ConfigError(f"clock synchronisation step must be positive, got {step_s}")
    r0, r, mr = _grid(rt, np.asarray(reference_values, dtype=np.float64), step_s, "reference")
    i0, x, mx = _grid(it, np.asarray(values, dtype=np.float64), step_s, "instrument")

    # Imported here, not with the module: scipy.signal takes about a second to import, and
    # every process that sets up Django (each CLI command, worker, scheduler) imports this
    # module through the QC configuration's unit checks without ever aligning a clock.
    from scipy import signal

    def corr(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(signal.correlate(a, b, mode="full", method="fft"))

    n = np.rint(corr(mx, mr))
    sx, sy = corr(x, mr), corr(mx, r)
    sxx, syy, sxy = corr(x * x, mr), corr(mx, r * r), corr(x, r)
    shifts = np.arange(n.size) - (r.size - 1)
    offsets = (i0 - r0) + shifts * step_s
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (n * sxx - sx * sx) * (n * syy - sy * sy)
        pearson = (n * sxy - sx * sy) / np.sqrt(np.where(var > 0, var, np.nan))
    shortest = min(mx.sum(), mr.sum())
    # samples of the coarser series in the overlap: a handful of points correlates well with
    # almost any stretch of a smooth reference, so a short overlap gives a confident wrong peak
    samples = n * step_s / max(max(intervals), step_s)
    usable = (
        (n >= min_overlap * shortest) & (samples >= min_samples) & (np.abs(offsets) <= max_offset_s)
    )
    pearson = np.where(usable & np.isfinite(pearson), pearson, -np.inf)
    best = int(np.argmax(pearson))
    if not np.isfinite(pearson[best]):
        raise ConfigError(
            "clock synchronisation: the series do not overlap enough within "
            f"±{max_offset_s:g} s (min_overlap {min_overlap:g}, min_samples {min_samples:g}; "
            f"at most {float(samples.max()):.0f} samples of the coarser series overlap)"
        )
    if pearson[best] < min_correlation:
        raise ConfigError(
            f"clock synchronisation: the best correlation is {pearson[best]:.3f} (at "
            f"{offsets[best]:g} s), below min_correlation {min_correlation:g}; the series do "
            "not share a signal well enough for a trustworthy offset"
        )
    # a second peak almost as good, separated from the best by a dip, makes the offset a coin
    # toss (periodic signals, flat stretches): contiguous runs of near-best shifts are counted
    near = pearson >= pearson[best] - peak_margin
    runs = _run_ids(near)
    if runs[-1] > 1:
        rival = int(np.argmax(np.where(near & (runs != runs[best]), pearson, -np.inf)))
        raise ConfigError(
            f"clock synchronisation: ambiguous: correlation {pearson[best]:.3f} at "
            f"{offsets[best]:g} s and {pearson[rival]:.3f} at {offsets[rival]:g} s "
            f"(within peak_margin {peak_margin:g}); narrow max_offset_s or use a signal "
            "with more structure"
        )
    refine = 0.0
    if 0 < best < pearson.size - 1 and np.isfinite(pearson[best - 1 : best + 2]).all():
        lo, mid, hi = pearson[best - 1], pearson[best], pearson[best + 1]
        curvature = lo - 2 * mid + hi
        if curvature < 0:
            refine = float(np.clip(0.5 * (lo - hi) / curvature, -0.5, 0.5))
    return ClockOffset(
        offset_s=float(offsets[best] + refine * step_s),
        correlation=float(pearson[best]),
        overlap_s=float(n[best] * step_s),
        step_s=step_s,
    )


def correct_drift(ds: xr.Dataset, drift: ClockDrift) -> xr.Dataset:
    """``ds`` on the reference clock: each time stamp less the modelled offset at it.

    The line's slope is far below 1 (:func:`estimate_drift` bounds it), so the mapping keeps
    the order of the time stamps.
    """
    before = np.asarray(ds[TIME].values, dtype="datetime64[ns]")
    correction = drift.offset_at(before)
    if (
        not np.isfinite(correction[~np.isnat(before)]).all()
        or (np.abs(correction[np.isfinite(correction)]) * _NS >= 2.0**62).any()
    ):
        raise ConfigError(f"clock drift model {drift.as_dict()} gives no usable time shift")
    after = before.astype(np.int64) - np.rint(np.nan_to_num(correction) * _NS).astype(np.int64)
    after = np.where(np.isnat(before), before.astype(np.int64), after)
    out = ds.assign_coords({TIME: after.astype("datetime64[ns]")})
    out[TIME].attrs.update(ds[TIME].attrs)
    return validate(out)


def shift_time(ds: xr.Dataset, offset_s: float) -> xr.Dataset:
    """``ds`` on the reference clock: ``offset_s`` (instrument - reference) subtracted."""
    if not (np.isfinite(offset_s) and abs(offset_s) * _NS < 2.0**62):
        raise ConfigError(f"clock offset {offset_s!r} s is not a usable time shift")
    shift = np.int64(round(offset_s * _NS))
    before = np.asarray(ds[TIME].values, dtype="datetime64[ns]").astype(np.int64)
    with np.errstate(over="ignore"):
        after = before - shift
    # int64 nanoseconds wrap around silently instead of overflowing
    if after.size and ((after > before).any() if shift > 0 else (after < before).any()):
        raise ConfigError(f"shifting by {offset_s!r} s leaves the range of datetime64[ns]")
    out = ds.assign_coords({TIME: after.astype("datetime64[ns]")})
    out[TIME].attrs.update(ds[TIME].attrs)
    return validate(out)
