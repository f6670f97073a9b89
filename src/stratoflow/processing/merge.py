"""Merging several instrument streams onto one time base.

Instruments on one aircraft log at their own rates (FAIRO: ozone every 4 s, housekeeping every
2 s, aircraft data every second). After clock synchronisation they share a clock but not their
time stamps; :func:`merge_streams` puts them on one time base — by default the first stream's —
by linear interpolation between neighbouring samples. A point is only interpolated when both
neighbours lie within ``tolerance_s`` of it; elsewhere (gaps, outside a stream's span) it is
missing. Flags travel with the values: an interpolated point gets the worse flag of its two
neighbours, so a bad sample never turns into a good interpolated one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.dataset import TIME, data_variables, flags_of, make_dataset
from stratoflow.errors import ConfigError
from stratoflow.flags import FLAG_DTYPE, Flag, worst

__all__ = ["merge_streams", "resample_onto"]


def resample_onto(
    ds: xr.Dataset, time: npt.NDArray[np.datetime64], *, tolerance_s: float
) -> dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.uint8], dict[str, Any]]]:
    """Every numeric variable of ``ds`` on ``time``: ``name -> (values, flags, attrs)``."""
    src = ds[TIME].values.astype("datetime64[ns]").astype(np.int64)
    dst = np.asarray(time, dtype="datetime64[ns]").astype(np.int64)
    tol = int(tolerance_s * 1e9)
    if src.size == 0:
        raise ConfigError("cannot resample a stream without time stamps onto another time base")
    # neighbours left/right of each target; a one-sample stream is its own neighbour
    right = np.clip(np.searchsorted(src, dst), min(1, src.size - 1), src.size - 1)
    left = np.maximum(right - 1, 0)
    at = np.clip(np.searchsorted(src, dst), 0, src.size - 1)
    exact = src[at] == dst
    near = (np.abs(dst - src[left]) <= tol) & (np.abs(src[right] - dst) <= tol)
    inside = (dst >= src[0]) & (dst <= src[-1])
    ok = (near & inside) | exact
    out: dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.uint8], dict[str, Any]]] = {}
    for name in data_variables(ds):
        values = np.asarray(ds[name].values)
        if values.dtype.kind not in "fiu":
            continue
        v = np.interp(dst, src, values.astype(np.float64))
        v[~ok] = np.nan
        f = flags_of(ds, name)
        flags = worst(np.stack([f[left], f[right]])).astype(FLAG_DTYPE)
        flags = np.where(exact, f[at], flags)
        flags[~ok] = int(Flag.MISSING)
        attrs = {k: v_ for k, v_ in ds[name].attrs.items() if k != "ancillary_variables"}
        out[name] = (v, flags.astype(FLAG_DTYPE), attrs)
    return out


def merge_streams(
    streams: Mapping[str, xr.Dataset],
    *,
    time: npt.NDArray[np.datetime64] | None = None,
    tolerance_s: float = 10.0,
    prefix: bool = False,
) -> xr.Dataset:
    """One Dataset with the variables of every stream on one time base.

    ``time`` defaults to the first stream's time axis. Variable names that occur in several
    streams (or all of them, with ``prefix=True``) are prefixed with the stream name.
    """
    if not streams:
        raise ConfigError("merge_streams needs at least one stream")
    base = time if time is not None else next(iter(streams.values()))[TIME].values
    seen: dict[str, int] = {}
    for ds in streams.values():
        for name in data_variables(ds):
            seen[name] = seen.get(name, 0) + 1
    variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]] = {}
    flags: dict[str, npt.NDArray[np.uint8]] = {}
    for stream, ds in streams.items():
        if ds.sizes.get(TIME, 0) == 0:
            raise ConfigError(f"stream {stream!r} has no time stamps: nothing to merge")
        for name, (values, f, attrs) in resample_onto(ds, base, tolerance_s=tolerance_s).items():
            key = f"{stream}_{name}" if prefix or seen[name] > 1 else name
            variables[key] = (values, {**attrs, "source_stream": stream})
            flags[key] = f
    first = next(iter(streams.values()))
    return make_dataset(base, variables, flags=flags, attrs=dict(first.attrs))
