"""Processing steps composed by configuration, each recorded for the series' provenance.

A processing configuration is a list of ``{step: name, params: {...}}``; :func:`run_steps`
applies them in order to a standardized Dataset and returns, next to the result, one record
per step with its parameters as configured (the import's config key fingerprints them), and
in its result the defaults it used and what it found (e.g. the estimated clock offset),
which the importer stores in every series' provenance. Steps are pure functions of
the Dataset, their parameters and named *reference* Datasets (e.g. the aircraft's own data
for clock synchronisation, or further instrument streams to merge).

=================  ==========================================================================
step               params
=================  ==========================================================================
``units``          ``variables: {name: target UDUNITS}``
``calibration``    ``variable``, ``pre``/``post``: ``{time, function, parameters}``
``clock_sync``     ``variable``; ``reference`` (name), ``reference_variables`` (summed, e.g.
                   static + dynamic pressure), optional ``reference_time`` (a variable of the
                   reference holding its own clock as "seconds since <date>[ zone]", read
                   by :mod:`stratoflow.timeunits`), ``max_offset_s``,
                   ``min_overlap``, ``min_correlation``, ``max_drift_s``,
                   ``min_samples``, ``peak_margin``; ``drift``: ``check`` (default: one
                   offset, a drift beyond ``max_drift_s`` refused) or ``correct`` (a linear
                   clock model fitted on ``segments`` pieces, refused beyond
                   ``max_residual_s``, see :func:`~stratoflow.processing.clock.estimate_drift`)
``shift_time``     ``offset_s`` (instrument clock - reference clock)
``merge``          ``streams`` (reference names), ``tolerance_s``
=================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.dataset import TIME, data_variables, validate
from stratoflow.errors import ConfigError, TimeUnitsError
from stratoflow.processing.calibration import CalibrationPoint, calibrate
from stratoflow.processing.clock import correct_drift, estimate_drift, estimate_offset, shift_time
from stratoflow.processing.merge import merge_streams
from stratoflow.processing.units import convert
from stratoflow.timeunits import parse_time_units

__all__ = ["STEPS", "Step", "run_steps"]

Step = Callable[
    [xr.Dataset, dict[str, Any], Mapping[str, xr.Dataset]], tuple[xr.Dataset, dict[str, Any]]
]


#: the parameters each step understands; anything else is a typo, refused before running
PARAMS: dict[str, frozenset[str]] = {
    "units": frozenset({"variables"}),
    "calibration": frozenset({"variable", "pre", "post"}),
    "clock_sync": frozenset(
        {
            "variable",
            "reference",
            "reference_variables",
            "reference_variable",
            "reference_time",
            "max_offset_s",
            "min_overlap",
            "min_correlation",
            "max_drift_s",
            "min_samples",
            "peak_margin",
            "drift",
            "segments",
            "max_residual_s",
        }
    ),
    "shift_time": frozenset({"offset_s"}),
    "merge": frozenset({"streams", "tolerance_s"}),
}


def _number(
    params: dict[str, Any], key: str, default: float | None = None, *, low: float | None = None
) -> float:
    """``params[key]`` as a finite float (``default`` when absent, then recorded in params)."""
    raw = params.get(key, default)
    if raw is None:
        raise ConfigError(f"{key!r} is required (a number)")
    if isinstance(raw, bool):
        raise ConfigError(f"{key!r} must be a number, got {raw!r}")
    try:
        number = float(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key!r} must be a number, got {raw!r}") from exc
    if not np.isfinite(number):
        raise ConfigError(f"{key!r} must be finite, got {raw!r}")
    if low is not None and number < low:
        raise ConfigError(f"{key!r} must be at least {low:g}, got {raw!r}")
    params[key] = number  # resolved: run_steps records the defaults used with the result
    return number


def _variable(ds: xr.Dataset, params: Mapping[str, Any], key: str = "variable") -> str:
    name = params.get(key)
    if not isinstance(name, str) or name not in ds.data_vars:
        raise ConfigError(f"{key} {name!r} is not a variable of the dataset")
    return name


def _keep_fills(ds: xr.Dataset, name: str, new: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``new`` with the declared fill values of ``name`` (``_FillValue``, ``missing_value``)
    left as they were: a converted or calibrated -9999 hPa is no longer recognisable as missing
    (-999900 Pa; -9.999 ppm of ozone would even pass as a value)."""
    var = ds.variables[name]
    old = np.asarray(var.values)
    fills = [var.attrs.get(a, var.encoding.get(a)) for a in ("_FillValue", "missing_value")]
    declared = np.concatenate(
        [np.atleast_1d(np.asarray(f, dtype=np.float64)).ravel() for f in fills if f is not None]
        or [np.empty(0)]
    )
    declared = declared[np.isfinite(declared)]
    if not declared.size or old.dtype.kind not in "fiu":
        return new
    return np.where(np.isin(old, declared), old, new)


def _units(
    ds: xr.Dataset, params: dict[str, Any], refs: Mapping[str, xr.Dataset]
) -> tuple[xr.Dataset, dict[str, Any]]:
    targets = params.get("variables")
    if not isinstance(targets, Mapping) or not targets:
        raise ConfigError("units step needs 'variables': {name: units}")
    ds = ds.copy()
    done = {}
    for name, to in targets.items():
        _variable(ds, {"variable": name})
        given = str(ds[name].attrs.get("units", ""))
        if not isinstance(to, str):
            raise ConfigError(f"target units of {name!r} must be a string, got {to!r}")
        try:
            converted = convert(ds[name].values, given, to)
        except ConfigError as exc:
            raise ConfigError(f"variable {name!r}: {exc}") from exc
        converted = _keep_fills(ds, name, converted)
        ds[name] = ds[name].copy(data=converted)
        ds[name].attrs["units"] = str(to)
        done[name] = [given, str(to)]
    return ds, {"converted": done}


def _calibration(
    ds: xr.Dataset, params: dict[str, Any], refs: Mapping[str, xr.Dataset]
) -> tuple[xr.Dataset, dict[str, Any]]:
    name = _variable(ds, params)
    for key in ("pre", "post"):
        if params.get(key) is not None and not isinstance(params[key], Mapping):
            raise ConfigError(
                f"{key!r} must be {{time, function, parameters}}, got {params[key]!r}"
            )
    pre = CalibrationPoint.from_mapping(params["pre"]) if params.get("pre") else None
    post = CalibrationPoint.from_mapping(params["post"]) if params.get("post") else None
    units = str(ds[name].attrs.get("units", "1"))
    ds = ds.copy()
    calibrated = calibrate(ds[TIME].values, ds[name].values, units=units, pre=pre, post=post)
    calibrated = _keep_fills(ds, name, calibrated)
    ds[name] = ds[name].copy(data=calibrated)
    return ds, {
        "drift": pre is not None and post is not None,
        "units": units,
        # the coefficients c0, c1, ... actually applied, in the variable's units
        "coefficients": {
            key: point.coefficients(units).tolist()
            for key, point in (("pre", pre), ("post", post))
            if point is not None
        },
    }


#: global attributes that identify a reference's source file, kept in the provenance
_SOURCE_ATTRS = ("source_file", "source_checksum", "provider", "platform", "flight")


def _source_of(ds: xr.Dataset) -> dict[str, Any]:
    """The identity of ``ds``'s source (file name, checksum...), JSON-able, for provenance."""
    return {k: str(ds.attrs[k]) for k in _SOURCE_ATTRS if k in ds.attrs}


def _reference(refs: Mapping[str, xr.Dataset], params: Mapping[str, Any]) -> xr.Dataset:
    name = params.get("reference")
    if name not in refs:
        raise ConfigError(f"reference {name!r} not given; available: {sorted(refs)}")
    return refs[str(name)]


def _clock_of(ref: xr.Dataset, variable: str | None) -> npt.NDArray[np.datetime64]:
    if not variable:
        return np.asarray(ref[TIME].values, dtype="datetime64[ns]")
    if variable not in ref.variables:
        raise ConfigError(
            f"reference_time {variable!r} is not a variable of the reference; "
            f"it has {sorted(map(str, ref.variables))}"
        )
    var = ref[variable]
    units = str(var.attrs.get("units", ""))
    if var.dtype.kind == "M":
        return np.asarray(var.values, dtype="datetime64[ns]")
    try:
        parsed = parse_time_units(units)
        epoch = parsed.epoch
    except TimeUnitsError as exc:
        raise ConfigError(f"reference_time {variable!r}: {exc}") from None
    if parsed.ns is None:
        raise ConfigError(
            f"reference_time {variable!r}: units {units!r} count {parsed.unit}, whose length "
            "varies; a clock counts seconds (or ms, min, h, days)"
        )
    clock: npt.NDArray[np.datetime64] = epoch + np.rint(np.asarray(var.values) * parsed.ns).astype(
        "timedelta64[ns]"
    )
    return clock


def _clock_sync(
    ds: xr.Dataset, params: dict[str, Any], refs: Mapping[str, xr.Dataset]
) -> tuple[xr.Dataset, dict[str, Any]]:
    name = _variable(ds, params)
    ref = _reference(refs, params)
    names = params.get("reference_variables") or [params.get("reference_variable")]
    if isinstance(names, str) or not isinstance(names, Sequence):
        # a bare string would be iterated letter by letter
        raise ConfigError(f"'reference_variables' must be a list of names, got {names!r}")
    for n in names:
        _variable(ref, {"reference_variable": n}, "reference_variable")
    signal = np.sum([np.asarray(ref[n].values, dtype=np.float64) for n in names], axis=0)
    mode = params.get("drift", "check")
    if mode not in ("check", "correct"):
        raise ConfigError(f"'drift' must be 'check' or 'correct', got {mode!r}")
    other = {"check": ("segments", "max_residual_s"), "correct": ("max_drift_s",)}[mode]
    unused = [key for key in other if key in params]
    if unused:  # silently ignored, the user would believe a bound holds that does not
        raise ConfigError(
            f"parameter(s) {', '.join(unused)} apply only with drift: "
            f"{'correct' if mode == 'check' else 'check'}, not with drift: {mode}"
        )
    series = (
        _clock_of(ref, params.get("reference_time")),
        signal,
        ds[TIME].values,
        ds[name].values,
    )
    common = {
        "max_offset_s": _number(params, "max_offset_s", 3 * 3600.0, low=0.0),
        "min_overlap": _number(params, "min_overlap", 0.5, low=0.0),
        "min_correlation": _number(params, "min_correlation", 0.8, low=-1.0),
        "min_samples": _number(params, "min_samples", 30, low=3),
        "peak_margin": _number(params, "peak_margin", 0.02, low=0.0),
    }
    about = {"reference_variables": [str(n) for n in names], "reference_source": _source_of(ref)}
    if mode == "correct":
        segments = _number(params, "segments", 6, low=3)
        if segments != int(segments):
            raise ConfigError(f"'segments' must be a whole number, got {params['segments']!r}")
        model = estimate_drift(
            *series,
            segments=int(segments),
            max_residual_s=_number(params, "max_residual_s", 2.0, low=0.0),
            **common,
        )
        return correct_drift(ds, model), {**model.as_dict(), **about}
    found = estimate_offset(
        *series, max_drift_s=_number(params, "max_drift_s", 5.0, low=0.0), **common
    )
    return shift_time(ds, found.offset_s), {**found.as_dict(), **about}


def _shift_time(
    ds: xr.Dataset, params: dict[str, Any], refs: Mapping[str, xr.Dataset]
) -> tuple[xr.Dataset, dict[str, Any]]:
    offset = _number(params, "offset_s")
    return shift_time(ds, offset), {"offset_s": offset}


def _merge(
    ds: xr.Dataset, params: dict[str, Any], refs: Mapping[str, xr.Dataset]
) -> tuple[xr.Dataset, dict[str, Any]]:
    names = params.get("streams") or []
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ConfigError(f"'streams' must be a list of reference names, got {names!r}")
    streams = {"main": ds, **{n: _reference(refs, {"reference": n}) for n in names}}
    tolerance = _number(params, "tolerance_s", 10.0, low=0.0)
    merged = merge_streams(streams, tolerance_s=tolerance)
    merged.attrs = dict(ds.attrs)
    return merged, {
        "variables": len(data_variables(merged)),
        "stream_sources": {n: _source_of(streams[n]) for n in names},
    }


STEPS: dict[str, Step] = {
    "units": _units,
    "calibration": _calibration,
    "clock_sync": _clock_sync,
    "shift_time": _shift_time,
    "merge": _merge,
}


def run_steps(
    ds: xr.Dataset,
    steps: Sequence[Mapping[str, Any]],
    *,
    references: Mapping[str, xr.Dataset] | None = None,
) -> tuple[xr.Dataset, list[dict[str, Any]]]:
    """Apply ``steps`` in order; return the result and one provenance record per step."""
    refs = dict(references or {})
    records: list[dict[str, Any]] = []
    for i, spec in enumerate(steps):
        if not isinstance(spec, Mapping) or "step" not in spec:
            raise ConfigError(f"processing step {i}: must be a mapping with 'step', got {spec!r}")
        name = str(spec["step"])
        if name not in STEPS:
            raise ConfigError(f"processing step {i}: unknown step {name!r}; known {sorted(STEPS)}")
        extra = sorted(map(str, set(spec) - {"step", "params"}))
        if extra:  # e.g. 'parms': its parameters would be silently replaced by defaults
            raise ConfigError(
                f"processing step {i} ({name}): unknown key(s) {extra}; use 'step' and 'params'"
            )
        raw = spec.get("params") or {}
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f"processing step {i} ({name}): params must be a mapping, got {raw!r}"
            )
        params = dict(raw)
        unknown = sorted(set(params) - PARAMS.get(name, set(params)))
        if unknown:
            raise ConfigError(
                f"processing step {i} ({name}): unknown parameter(s) {unknown}; "
                f"known {sorted(PARAMS[name])}"
            )
        given = dict(params)
        try:
            ds, result = STEPS[name](ds, params, refs)
        except ConfigError as exc:
            raise ConfigError(f"processing step {i} ({name}): {exc}") from exc
        # defaults the step filled in go with what it found, not with its params: the params
        # are the configuration as written, which the import's config key fingerprints
        defaults = {k: v for k, v in params.items() if k not in given}
        if defaults:
            result = {**result, "defaults": defaults}
        records.append({"step": name, "params": given, "result": result})
    return validate(ds), records
