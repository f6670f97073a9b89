"""Synchronise series onto one time base and resample them with flag-aware aggregation.

Pure numpy + xarray, no Django: usable in a notebook on any standardized Dataset.

Why not ``xarray.Dataset.resample(...).mean()``: it averages every finite value, bad ones
included, and says nothing about how many points made a mean or how good they were. Here

* only *valid* points contribute: their flag is in ``valid_flags`` (default: good; add
  ``Flag.LIMITED`` to use questionable data too) and their value is finite;
* every output point carries the number of contributing points (``<var>_count``), their
  standard deviation (``<var>_std``, ``ddof`` as in pandas, default 1) and an aggregated flag
  (``<var>_flag``): the ``worst`` flag of the contributing points, or the ``majority`` flag
  (ties go to the worse flag); ``missing`` when no point contributed;
* bins are ``[origin + k * step, origin + (k + 1) * step)``, labelled by their left edge, with
  the origin at midnight of the first day — pandas' and xarray's defaults (``closed="left"``,
  ``label="left"``, ``origin="start_day"``), so results can be compared with either;
* a longitude bin that crosses the antimeridian is averaged on the continuous side
  (179.5 and -179.5 give 180, not 0); every other bin is the plain mean.

Everything is vectorised: one bin index per point, then ``np.bincount`` sums per bin (values,
squared deviations, and one combined ``bin * 8 + flag`` histogram for the flags). No Python
loop runs over points.

Example::

    >>> import numpy as np
    >>> t = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01", "2024-01-01T00:00:11"],
    ...              dtype="datetime64[ns]")
    >>> r = resample_series(t, np.array([1.0, 3.0, 5.0]), np.array([0, 0, 3], dtype=np.uint8),
    ...                     step=np.timedelta64(10, "s"))
    >>> r.mean.tolist(), r.count.tolist(), r.flag.tolist()
    ([2.0, nan], [2, 0], [0, 7])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.dataset import TIME, data_variables, flag_name, flags_of, make_dataset
from stratoflow.errors import ConfigError
from stratoflow.flags import FLAG_DTYPE, Flag

__all__ = [
    "AGGREGATES",
    "Aggregate",
    "Resampled",
    "parse_resolution",
    "resample_dataset",
    "resample_series",
    "synchronise",
]

Aggregate = Literal["worst", "majority"]
AGGREGATES: tuple[Aggregate, ...] = ("worst", "majority")

_NS_PER_DAY = 86_400 * 1_000_000_000
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "min": 60_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_RESOLUTION = re.compile(r"^\s*(\d+)?\s*(ns|us|ms|s|min|m|h)\s*$", re.IGNORECASE)
# Severity rank per flag code (good < not_validated < limited < bad < missing), as flags.worst.
_SEVERITY = np.full(8, 0, dtype=np.int64)
for _flag, _rank in (
    (Flag.GOOD, 0),
    (Flag.NOT_VALIDATED, 1),
    (Flag.LIMITED, 2),
    (Flag.BAD, 3),
    (Flag.MISSING, 4),
):
    _SEVERITY[int(_flag)] = _rank
_CODES = np.array([int(f) for f in Flag], dtype=np.int64)
_CODES_BY_SEVERITY = _CODES[np.argsort(_SEVERITY[_CODES])]


def parse_resolution(text: str | np.timedelta64) -> np.timedelta64:
    """``"10s"``, ``"1min"``, ``"4 s"``, ``"500ms"``, ``"1h"`` -> a positive ``timedelta64[ns]``."""
    if isinstance(text, np.timedelta64):
        step: np.timedelta64 = np.timedelta64(
            int(text.astype("timedelta64[ns]").astype(np.int64)), "ns"
        )
    else:
        match = _RESOLUTION.match(text)
        if match is None:
            raise ConfigError(
                f"resolution {text!r} not understood: use a number and a unit such as "
                "1s, 4s, 10s, 1min, 500ms, 1h"
            )
        count = int(match.group(1) or 1)
        step = np.timedelta64(count * _UNITS[match.group(2).lower()], "ns")
    if step <= np.timedelta64(0, "ns"):
        raise ConfigError(f"resolution must be positive, got {text!r}")
    return step


@dataclass(frozen=True)
class Resampled:
    """One series on a regular grid: mean, standard deviation, count and aggregated flag."""

    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]
    count: npt.NDArray[np.int32]
    flag: npt.NDArray[np.uint8]


def _valid_codes(valid_flags: Iterable[int]) -> npt.NDArray[np.bool_]:
    table = np.zeros(256, dtype=bool)
    for code in valid_flags:
        if int(code) not in _CODES:
            raise ConfigError(f"valid flag {code!r} is not an IAGOS validity code {_CODES}")
        table[int(code)] = True
    if table[int(Flag.MISSING)]:
        raise ConfigError("'missing' points have no value and cannot be valid")
    return table


def resample_series(
    time: npt.NDArray[np.datetime64],
    values: npt.NDArray[Any],
    flags: npt.NDArray[np.uint8],
    *,
    step: np.timedelta64,
    origin: np.datetime64 | None = None,
    n_bins: int | None = None,
    valid_flags: Iterable[int] = (Flag.GOOD,),
    aggregate: Aggregate = "worst",
    ddof: int = 1,
) -> Resampled:
    """Aggregate one series into bins of width ``step`` starting at ``origin``.

    ``origin`` defaults to midnight of the first time; ``n_bins`` to as many bins as reach the
    last time. Points outside ``[origin, origin + n_bins * step)`` are ignored. ``time`` must
    be sorted (a standardized Dataset's is).
    """
    if aggregate not in AGGREGATES:
        raise ConfigError(f"aggregate must be one of {AGGREGATES}, not {aggregate!r}")
    valid_table = _valid_codes(valid_flags)
    step_ns = int(parse_resolution(step).astype(np.int64))
    t = np.asarray(time).astype("datetime64[ns]").view(np.int64)
    if origin is None:
        origin_ns = (int(t[0]) // _NS_PER_DAY) * _NS_PER_DAY if t.size else 0
    else:
        origin_ns = int(np.asarray(origin).astype("datetime64[ns]").astype(np.int64))
    if n_bins is None:
        n_bins = int((int(t[-1]) - origin_ns) // step_ns + 1) if t.size else 0
    x = np.asarray(values, dtype=np.float64)
    codes = np.asarray(flags, dtype=np.uint8)
    if not (t.shape == x.shape == codes.shape):
        raise ConfigError(
            f"time, values and flags differ in length: {t.size}, {x.size}, {codes.size}"
        )
    bins, lo, hi = _bins(t, origin_ns, step_ns, n_bins)
    return _aggregate(bins, x[lo:hi], codes[lo:hi], n_bins, valid_table, aggregate, ddof)


def _bins(
    t: npt.NDArray[np.int64], origin_ns: int, step_ns: int, n_bins: int
) -> tuple[npt.NDArray[np.int64], int, int]:
    """Bin index of each point inside the grid, and the slice of those points.

    Time is sorted, so the points inside the grid are a contiguous slice (no copies).
    """
    lo = int(np.searchsorted(t, origin_ns, side="left"))
    hi = int(np.searchsorted(t, origin_ns + n_bins * step_ns, side="left"))
    bins: npt.NDArray[np.int64] = (t[lo:hi] - origin_ns) // step_ns
    return bins, lo, hi


def _aggregate(
    bins: npt.NDArray[np.int64],
    x: npt.NDArray[np.float64],
    codes: npt.NDArray[np.uint8],
    n_bins: int,
    valid_table: npt.NDArray[np.bool_],
    aggregate: Aggregate,
    ddof: int,
) -> Resampled:
    valid = valid_table[codes] & np.isfinite(x)
    where = bins[valid]  # bin of each contributing point; all sums below run over these only
    kept = x[valid]
    count = np.bincount(where, minlength=n_bins)
    total = np.bincount(where, weights=kept, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        # Two passes (deviations from the bin mean) keep the variance exact for large offsets.
        deviation = kept - mean[where]
        squares = np.bincount(where, weights=deviation * deviation, minlength=n_bins)
        std = np.sqrt(squares / (count - ddof))
    std[count <= ddof] = np.nan

    # Histogram of the contributing points' flags per bin: one bincount over bin * 8 + flag.
    histogram = np.bincount(where * 8 + codes[valid], minlength=n_bins * 8).reshape(n_bins, 8)
    out_flag = np.full(n_bins, int(Flag.MISSING), dtype=FLAG_DTYPE)
    if aggregate == "worst":
        # The most severe code with a non-zero count: scan codes from least to most severe.
        for code in _CODES_BY_SEVERITY:  # five flag codes, not points
            out_flag[histogram[:, code] > 0] = code
    else:
        # Majority; ties go to the more severe code (argmax keeps the first of equal maxima).
        ordered = histogram[:, _CODES_BY_SEVERITY[::-1]]
        out_flag[:] = _CODES_BY_SEVERITY[::-1][np.argmax(ordered, axis=1)]
    out_flag[count == 0] = int(Flag.MISSING)
    return Resampled(
        mean=mean.astype(np.float64, copy=False),
        std=std.astype(np.float64, copy=False),
        count=count.astype(np.int32),
        flag=out_flag,
    )


def synchronise(
    series: Mapping[str, tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[np.uint8]]],
) -> tuple[npt.NDArray[np.datetime64], dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.uint8]]]]:
    """Put series with their own time bases on the union of their times (native resolution).

    ``series`` maps a name to ``(time, values, flags)``. Where a series has no point at a time
    of the union, its value is NaN and its flag ``missing``. Series that already share one
    time base are returned as they are (bit-exact, no copy).
    """
    items = list(series.items())
    if not items:
        return np.array([], dtype="datetime64[ns]"), {}
    first = np.asarray(items[0][1][0]).astype("datetime64[ns]")
    if all(np.array_equal(first, np.asarray(t)) for _, (t, _, _) in items[1:]):
        return first, {name: (np.asarray(v), np.asarray(f)) for name, (_, v, f) in items}
    union = first.view(np.int64)
    for _, (t, _, _) in items[1:]:
        union = np.union1d(union, np.asarray(t).astype("datetime64[ns]").view(np.int64))
    out: dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.uint8]]] = {}
    for name, (t, v, f) in items:
        where = np.searchsorted(union, np.asarray(t).astype("datetime64[ns]").view(np.int64))
        v = np.asarray(v)
        if v.dtype.kind in "fiub":
            values = np.full(union.size, np.nan, dtype=np.result_type(v.dtype, np.float64))
        else:  # text (an instrument state): a gap is empty text, not the text "nan"
            values = np.full(union.size, "", dtype=v.dtype if v.dtype.kind in "US" else object)
        codes = np.full(union.size, int(Flag.MISSING), dtype=FLAG_DTYPE)
        values[where] = v
        codes[where] = f
        out[name] = (values, codes)
    return union.view("datetime64[ns]"), out


def _is_longitude(name: str, attrs: Mapping[str, Any]) -> bool:
    units = str(attrs.get("units", "")).strip().lower()
    return (
        str(attrs.get("standard_name", "")) == "longitude"
        or units in ("degrees_east", "degree_east", "degrees_e", "degree_e")
        or (name.lower() in ("lon", "longitude") and units.startswith("deg"))
    )


def _unwrap_longitudes(
    bins: npt.NDArray[np.int64],
    lon: npt.NDArray[np.float64],
    valid: npt.NDArray[np.bool_],
    n_bins: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Longitudes made continuous in bins that cross the antimeridian, and those bins.

    A flight over the Pacific goes from 179.9 to -179.9 degrees: the plain mean of such a bin
    is near 0, the other side of the Earth. In a bin whose valid longitudes span more than
    180 degrees the negative ones get +360 before averaging (the caller wraps the mean back
    to [-180, 180)); every other bin is averaged exactly as before (and as pandas does).
    """
    ok = valid & np.isfinite(lon)
    lo = np.full(n_bins, np.inf)
    hi = np.full(n_bins, -np.inf)
    np.minimum.at(lo, bins[ok], lon[ok])
    np.maximum.at(hi, bins[ok], lon[ok])
    across = hi - lo > 180.0
    if not across.any():
        return lon, across
    return np.where(across[bins] & (lon < 0), lon + 360.0, lon), across


def _cell_methods(method: str, step: np.timedelta64) -> str:
    seconds = step / np.timedelta64(1, "s")
    interval = f"{seconds:g} s"
    return f"{TIME}: {method} (interval: {interval} comment: valid points only)"


def resample_dataset(
    ds: xr.Dataset,
    step: str | np.timedelta64,
    *,
    valid_flags: Iterable[int] = (Flag.GOOD,),
    aggregate: Aggregate = "worst",
    ddof: int = 1,
    coordinate_flags: Iterable[int] | None = None,
    coordinates: Iterable[str] = (),
) -> xr.Dataset:
    """Resample every measured variable of a standardized Dataset (see the module docstring).

    The result is a standardized Dataset on the regular grid from the bin of the first time to
    the bin of the last, with ``<var>``, ``<var>_flag``, ``<var>_count`` and ``<var>_std``.
    ``coordinates`` (e.g. latitude, longitude, altitude) are averaged with
    ``coordinate_flags`` as their valid flags (default: ``valid_flags`` plus
    ``not_validated``), because positions are rarely validated and a trajectory without
    positions is useless.
    """
    step64 = parse_resolution(step)
    text = [name for name in data_variables(ds) if ds[name].dtype.kind not in "fiub"]
    if text:
        # an instrument state ('MS', 'ZE'...) has no mean: say so instead of numpy's
        # "could not convert string to float"
        raise ConfigError(
            f"cannot resample: variables {', '.join(map(repr, text))} hold text "
            f"({', '.join(str(ds[n].dtype) for n in text)}), which has no mean; leave them "
            "out of the selection or export at the native resolution"
        )
    valid = tuple(int(f) for f in valid_flags)
    coord_valid = (
        tuple(int(f) for f in coordinate_flags)
        if coordinate_flags is not None
        else (*valid, int(Flag.NOT_VALIDATED))
    )
    coordinate_names = set(coordinates)
    times = np.asarray(ds[TIME].values).astype("datetime64[ns]")
    step_ns = int(step64.astype(np.int64))
    if times.size:
        t_ns = times.view(np.int64)
        day = (int(t_ns[0]) // _NS_PER_DAY) * _NS_PER_DAY
        first = day + ((int(t_ns[0]) - day) // step_ns) * step_ns
        n_bins = int((int(t_ns[-1]) - first) // step_ns + 1)
    else:
        first, n_bins = 0, 0
    grid = (first + np.arange(n_bins, dtype=np.int64) * step_ns).view("datetime64[ns]")
    variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]] = {}
    flags: dict[str, npt.NDArray[np.uint8]] = {}
    if aggregate not in AGGREGATES:
        raise ConfigError(f"aggregate must be one of {AGGREGATES}, not {aggregate!r}")
    tables = {False: _valid_codes(valid), True: _valid_codes(coord_valid)}
    bins, lo, hi = _bins(times.view(np.int64), first, step_ns, n_bins)  # shared by all
    for name in data_variables(ds):
        var = ds[name]
        values = np.asarray(var.values, dtype=np.float64)[lo:hi]
        codes = flags_of(ds, name)[lo:hi]
        table = tables[name in coordinate_names]
        across = None
        if _is_longitude(name, var.attrs):
            values, across = _unwrap_longitudes(bins, values, table[codes], n_bins)
        result = _aggregate(bins, values, codes, n_bins, table, aggregate, ddof)
        if across is not None:
            result.mean[across] = (result.mean[across] + 180.0) % 360.0 - 180.0
        base = {
            k: v
            for k, v in var.attrs.items()
            if k not in ("ancillary_variables", "cell_methods", "_FillValue", "missing_value")
        }
        long_name = str(base.get("long_name", name))
        units = str(base.get("units", "1"))
        mean_attrs = {**base, "cell_methods": _cell_methods("mean", step64)}
        mean_attrs["ancillary_variables"] = f"{name}_count {name}_std"
        variables[name] = (result.mean, mean_attrs)
        flags[name] = result.flag
        std_attrs: dict[str, Any] = {
            "units": units,
            "long_name": f"standard deviation of {long_name} in each interval",
            "cell_methods": _cell_methods("standard_deviation", step64),
        }
        if "standard_name" in base:
            std_attrs["standard_name"] = base["standard_name"]
        variables[f"{name}_std"] = (result.std, std_attrs)
        variables[f"{name}_count"] = (
            result.count,
            {
                "units": "1",
                "long_name": f"number of valid points averaged in {name}",
                "standard_name": "number_of_observations",
            },
        )
    attrs = dict(ds.attrs)
    attrs["time_coverage_resolution"] = f"PT{step64 / np.timedelta64(1, 's'):g}S"
    attrs["resampling"] = (
        f"mean of valid points (flags {','.join(Flag(c).label for c in valid)}) per "
        f"{step64 / np.timedelta64(1, 's'):g} s interval, aggregated flag: {aggregate}, "
        f"std ddof={ddof}"
    )
    out = make_dataset(grid, variables, flags=flags, attrs=attrs)
    for name in flags:
        out[flag_name(name)].attrs["long_name"] = (
            f"aggregated ({aggregate}) validity flag of {name}"
        )
    return out
