"""Basic flags set at import: time stamps put in order, missing values, impossible values.

These are the checks that need no configuration and no judgement, applied to every imported
Dataset before it is stored (the QC framework does the rest):

* **time stamps**: records out of order are sorted (stable), exact duplicate time stamps keep
  their first record, NaT records are dropped — each counted in the report, and duplicates
  whose values differ are reported as conflicts, since which one is right is a question for the
  PI;
* **missing**: NaN values, and values equal to a declared ``_FillValue``/``missing_value``
  still present, get the flag ``missing`` (values themselves are stored as read);
* **impossible**: values outside the physically possible range of the quantity get ``bad``.
  Ranges are looked up by ``standard_name``, else by the dimension of the units (any pressure,
  any temperature); they are written in convenient units and converted to the variable's units
  with pint, so ``hPa``, ``Pa``, ``degC`` and ``K`` all work.

Existing flags are only ever made worse, never better.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from stratoflow.dataset import TIME, data_variables, flag_name, flags_of, validate
from stratoflow.errors import ConfigError, DatasetError
from stratoflow.flags import FLAG_DTYPE, Flag, cf_flag_attributes
from stratoflow.processing.units import convert, convertible

__all__ = ["PHYSICAL_RANGES", "basic_flags", "physical_range"]

#: standard_name -> (low, high, units); None = unbounded on that side.
PHYSICAL_RANGES: dict[str, tuple[float | None, float | None, str]] = {
    "air_pressure": (0.0, 1200.0, "hPa"),
    "air_temperature": (150.0, 350.0, "K"),
    "dew_point_temperature": (150.0, 350.0, "K"),
    "relative_humidity": (0.0, 200.0, "percent"),
    "latitude": (-90.0, 90.0, "degree_north"),
    "longitude": (-180.0, 360.0, "degree_east"),
    "altitude": (-1000.0, 60000.0, "m"),
    "wind_speed": (0.0, 250.0, "m s-1"),
    "mole_fraction_of_ozone_in_air": (None, 1.0, "mol mol-1"),
    "mole_fraction_of_carbon_monoxide_in_air": (None, 1.0, "mol mol-1"),
}
#: fallback by units dimension: any pressure, any temperature
_BY_DIMENSION: tuple[tuple[str, tuple[float | None, float | None, str]], ...] = (
    ("hPa", (0.0, 1200.0, "hPa")),
    ("K", (-150.0, 200.0, "degC")),
)


def physical_range(standard_name: str, units: str) -> tuple[float, float] | None:
    """``(low, high)`` in ``units`` of what is physically possible, or None if unknown."""
    spec = PHYSICAL_RANGES.get(standard_name)
    if spec is None:
        spec = next((s for u, s in _BY_DIMENSION if convertible(units, u)), None)
    if spec is None or not units or not convertible(units, spec[2]):
        return None
    low, high, given = spec
    lo = -np.inf if low is None else float(convert([low], given, units)[0])
    hi = np.inf if high is None else float(convert([high], given, units)[0])
    return (min(lo, hi), max(lo, hi))


def _order(ds: xr.Dataset, report: dict[str, Any]) -> xr.Dataset:
    times = np.asarray(ds[TIME].values)
    if times.dtype.kind != "M":
        raise DatasetError(f"time must be datetime64, got {times.dtype}")
    times = times.astype("datetime64[ns]")
    keep = ~np.isnat(times)
    report["nat_dropped"] = int((~keep).sum())
    if not keep.all():
        ds = ds.isel({TIME: np.flatnonzero(keep)})
        times = times[keep]
    steps = np.diff(times.astype(np.int64))
    report["out_of_order"] = int((steps < 0).sum())
    order = np.argsort(times, kind="stable")
    if report["out_of_order"]:
        ds = ds.isel({TIME: order})
        times = times[order]
    first = np.ones(times.size, dtype=bool)
    first[1:] = times[1:] != times[:-1]
    report["duplicates_dropped"] = int((~first).sum())
    if report["duplicates_dropped"]:
        conflicts = 0
        group = np.cumsum(first) - 1
        for name in data_variables(ds):
            values = np.asarray(ds[name].values)
            head = values[first][group]
            same = (values == head) | (
                (values != values) & (head != head) if values.dtype.kind == "f" else False
            )
            conflicts += int((~np.asarray(same)).sum())
        report["duplicate_conflicts"] = conflicts
        ds = ds.isel({TIME: np.flatnonzero(first)})
    return ds


def basic_flags(ds: xr.Dataset) -> tuple[xr.Dataset, dict[str, Any]]:
    """``ds`` with ordered time stamps and basic flags set, and a report of what was done."""
    report: dict[str, Any] = {"missing": {}, "impossible": {}, "notes": []}
    ds = _order(ds.copy(), report)
    for what in ("nat_dropped", "out_of_order", "duplicates_dropped", "duplicate_conflicts"):
        if report.get(what):
            report["notes"].append(f"{what.replace('_', ' ')}: {report[what]}")
    updates: dict[str, xr.Variable] = {}
    for name in data_variables(ds):
        var = ds.variables[name]  # the Variable: no DataArray built per variable
        values = np.asarray(var.values)
        if values.dtype.kind not in "fiu":
            continue
        flags = flags_of(ds, name).copy()
        missing = np.isnan(values) if values.dtype.kind == "f" else np.zeros(values.size, bool)
        for attr in ("_FillValue", "missing_value"):
            fill = var.attrs.get(attr, var.encoding.get(attr))
            if fill is not None:
                fills = np.atleast_1d(np.asarray(fill, dtype=values.dtype)).ravel()
                # one fill value (the usual case): a comparison, not a set lookup
                missing |= values == fills[0] if fills.size == 1 else np.isin(values, fills)
        flags[missing] = int(Flag.MISSING)
        try:
            limits = physical_range(
                str(var.attrs.get("standard_name", "")), str(var.attrs.get("units", ""))
            )
        except ConfigError:
            limits = None
        impossible = np.zeros(values.size, dtype=bool)
        if limits is not None:
            impossible = ~missing & ((values < limits[0]) | (values > limits[1]))
            flags[impossible & (flags != int(Flag.MISSING))] = int(Flag.BAD)
        report["missing"][name] = int(missing.sum())
        report["impossible"][name] = int(impossible.sum())
        if impossible.any():
            report["notes"].append(f"{name}: {int(impossible.sum())} physically impossible")
        fname = flag_name(name)
        attrs = dict(ds[fname].attrs) if fname in ds.data_vars else cf_flag_attributes()
        attrs.setdefault("long_name", f"validity flag of {name}")
        # a new flag variable is found by its name (see dataset.flags_of); the variable's own
        # attributes, stored with the series, stay as the reader made them
        updates[fname] = xr.Variable((TIME,), flags.astype(FLAG_DTYPE), attrs)
    ds = ds.assign(updates)
    return validate(ds), report
