"""Running QC on a Dataset (or a plain array): the framework around the tests.

:func:`run_qc` matches each variable to a profile of the configuration, masks its missing
points, runs its tests in order (the fill-value tests of every variable first, so that no test
reads a fill value as a value, not even another variable's; propagation tests last, once every
source has its results), records each test's parameters, version
and runtime, and evaluates the results. A test that needs a variable the dataset does not have
is skipped and the reason kept, so the default configuration works on any file.

Example::

    result = run_qc(ds)                                  # default configuration, worst case
    flagged = result.to_dataset(ds)                      # adds O3_P1_flag, ...
    other = result.evaluate("critical")                  # no test re-run
"""

from __future__ import annotations

import os
import re
import time as _time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.dataset import TIME, as_ns, data_variables, flag_name, validate
from stratoflow.errors import DatasetError, QCError, StratoflowError
from stratoflow.flags import Flag
from stratoflow.processing.units import convert, convertible, to_pint
from stratoflow.qc.base import (
    InputUnavailable,
    QCInput,
    QCTest,
    TimeAxis,
    get_test,
    sparse_flatnonzero,
)
from stratoflow.qc.config import QCConfig, TestSpec, as_config
from stratoflow.qc.evaluation import ManualFlag
from stratoflow.qc.result import QCResult, TestRun, VariableQC

__all__ = ["run_qc", "run_test"]

FloatArray = npt.NDArray[np.float64]
_NS = np.dtype("datetime64[ns]")


def _one_per_second(n: int) -> npt.NDArray[np.datetime64]:
    return np.arange(0, n * 1_000_000_000, 1_000_000_000, dtype=np.int64).view(_NS)


_NO_POINTS = np.empty(0, dtype=np.intp)


def _values(ds: xr.Dataset, name: str) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    values = np.asarray(ds[name].values, dtype=np.float64)
    missing = ~np.isfinite(values)
    fname = flag_name(name)
    if fname in ds.data_vars:
        missing |= np.asarray(ds[fname].values) == int(Flag.MISSING)
    if missing.any() and not np.isnan(values[missing]).all():  # copy only if needed
        values = np.where(missing, np.nan, values)
    return values, missing


_MOLE_FRACTION = re.compile(
    r"^(pp[mbtq]v?|1e-?\d+|[nuµμp]?mol[ /]*(mol|mol-1|mol\^-1)(-1)?|[nuµμp]?mol\s+mol-1)$"
)


def _convertible_for_qc(units: str, target: str) -> bool:
    """Whether ``units`` may be converted to a profile's ``target`` units for its tests.

    Units of a physical dimension convert whenever pint says so (hPa -> Pa, degC -> K). For
    dimensionless quantities the dimension says nothing: percent relative humidity, a mass
    mixing ratio in g/kg and a mole fraction in ppm are all "dimensionless", yet converting
    one into another is wrong. Those convert only between mole-fraction spellings
    (ppm, ppbv, 1e-9, nmol/mol...).
    """
    if not convertible(units, target):
        return False
    if not to_pint(units)[1].dimensionless:
        return True
    spelled = [u.strip().lower().replace("**", "^") for u in (units, target)]
    return all(_MOLE_FRACTION.match(u) for u in spelled)


def _probability(
    test: QCTest,
    params: Mapping[str, Any],
    label: str,
    data: QCInput,
    missing: npt.NDArray[np.bool_] | npt.NDArray[np.intp],
    has_missing: bool,
    raw: Any = None,
) -> npt.NDArray[np.float32]:
    """Run ``test`` (unless its output ``raw`` is given) and make its output a result.

    The part of running a test that :func:`run_test` needs too: a float32 array of the data's
    shape, clipped to [0, 1] unless the test promises it is, NaN at the ``missing`` points (a
    mask or indices), and the test's own failures reported as :class:`QCError` naming it.
    """
    if raw is None:
        try:
            raw = test(data, **params)
        except StratoflowError:
            raise
        except (ValueError, TypeError, ArithmeticError, IndexError, MemoryError) as exc:
            raise QCError(f"{data.variable}: test {label!r} failed: {exc}") from exc
    # a float32 array (what the built-in tests return) as is: asarray's own checks are a
    # microsecond, a few per cent of a call on 10^4 points
    p = raw if type(raw) is np.ndarray and raw.dtype == np.float32 else np.asarray(raw, np.float32)
    if p.shape != data.values.shape:
        raise QCError(
            f"{data.variable}: test {label!r} returned shape {p.shape}, "
            f"expected {data.values.shape}"
        )
    if not test.bounded:
        np.clip(p, 0, 1, out=p)  # NaN passes through clip
    if has_missing:
        p[missing] = np.nan
    return p


def _execute(
    spec: TestSpec,
    data: QCInput,
    missing: npt.NDArray[np.bool_] | npt.NDArray[np.intp],
    has_missing: bool = True,
    of_time: dict[tuple[str, str], npt.NDArray[np.float32]] | None = None,
) -> TestRun:
    """Run one test and record it; ``missing`` (a mask or indices) is set to NaN in the result.

    ``of_time`` keeps the outcomes of tests that judge the time stamps alone (the same for
    every variable of a dataset): such a test runs once per QC run, and each variable gets a
    copy with its own missing points.
    """
    start = _time.perf_counter()
    raw = None
    if of_time is not None and spec.test.judges_time:
        key = (spec.test.name, repr(sorted(spec.params.items())))
        if key not in of_time:  # its own copy: the result is masked per variable
            of_time[key] = _probability(spec.test, spec.params, spec.label, data, missing, False)
        raw = of_time[key].copy()
    p = _probability(spec.test, spec.params, spec.label, data, missing, has_missing, raw)
    return TestRun(
        spec.label,
        spec.test.name,
        spec.test.version,
        dict(spec.params),
        _time.perf_counter() - start,
        p,
        spec.critical,
        spec.weight,
    )


def run_qc(
    ds: xr.Dataset,
    config: QCConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    evaluation: str | None = None,
    *,
    overrides: Sequence[ManualFlag] = (),
    variables: Sequence[str] | None = None,
) -> QCResult:
    """Run the configured tests on every matched variable of ``ds`` and evaluate them.

    ``config``: a :class:`~stratoflow.qc.config.QCConfig`, a YAML path or plain data (None: the
    shipped defaults). ``evaluation``: method name (None: the configuration's, ``worst`` by
    default). ``variables`` (names, or one name) restricts QC to them; tests still read the other
    variables as in a whole run. A variable a test reads without any profile matching it has
    the fill values of the ``common`` fill-value tests masked. ``ds`` must be a standardized
    Dataset (:func:`stratoflow.dataset.validate`); read files with ``stratoflow.open_dataset``.
    """
    if TIME in ds.coords and ds[TIME].dims == (TIME,) and ds[TIME].dtype.kind == "M":
        _time_of(ds[TIME].values, ds.sizes[TIME])  # before validate's plain cast: 2300 in
        # datetime64[s] wraps round to 1715
    ds = validate(ds)
    unknown = sorted({o.variable for o in overrides} - {str(v) for v in ds.data_vars})
    if unknown:  # a PI decision must not vanish over a misspelt name
        raise QCError(f"manual flags for {', '.join(map(repr, unknown))}: no such variable")
    cfg = as_config(config)
    time = np.asarray(ds[TIME].values).astype("datetime64[ns]")
    axis = TimeAxis(time)  # seconds and median step: once for every test and variable
    of_time: dict[tuple[str, str], npt.NDArray[np.float32]] = {}
    if isinstance(variables, str):  # one name, not a sequence of one-letter names
        variables = [variables]
    names = list(variables) if variables is not None else data_variables(ds)
    for name in names:
        if name not in ds.data_vars:
            raise QCError(f"no variable {name!r} in the dataset")
    # every profiled variable is planned, those left out of ``variables`` too: the tests run
    # only on ``names``, but another variable's tests read the others as they would in a
    # whole run (found by profile name, fill values masked, in the profile's units)
    plan: dict[str, tuple[str, tuple[TestSpec, ...]]] = {}
    skipped: dict[str, dict[str, str]] = {}
    convert_to: dict[str, tuple[str, str]] = {}
    for name in [*names, *(n for n in data_variables(ds) if n not in names)]:
        var = ds[name]
        if var.dims != (TIME,) or var.dtype.kind not in "fiu":
            continue
        profile = cfg.profile_for(name, var.attrs)
        if profile is None:
            continue
        skipped[name] = {}
        units = str(var.attrs.get("units", ""))
        if profile.units is not None and units not in profile.units:
            # limits are in the profile's units: values in other units of the same quantity
            # are converted for the tests (hPa -> Pa, degC -> K, ppm -> ppb), never judged raw
            target = next((u for u in profile.units if _convertible_for_qc(units, u)), None)
            if target is None:
                skipped[name]["*"] = (
                    f"units {units!r} not in {list(profile.units)} of profile "
                    "and not convertible to them"
                )
                plan[name] = (profile.name, ())
                continue
            convert_to[name] = (units, target)
        plan[name] = (profile.name, (*cfg.common, *profile.tests))

    by_profile = {prof: name for name, (prof, _) in reversed(list(plan.items()))}
    inputs = {name: plan.pop(name) for name in list(plan) if name not in names}
    cache: dict[str, tuple[FloatArray, npt.NDArray[np.bool_]]] = {}

    def load(name: str) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        if name not in cache:
            cache[name] = _values(ds, name)
        return cache[name]

    def resolve(name: str) -> str:
        if name in ds.data_vars:
            return name
        if name in by_profile:
            return by_profile[name]
        raise InputUnavailable(f"needs variable or profile {name!r}, not in this dataset")

    converted: dict[str, tuple[FloatArray, FloatArray]] = {}

    def in_profile_units(name: str) -> FloatArray:
        """Values in the units the profile's limits are written in (fill values masked)."""
        values = load(name)[0]
        if name not in convert_to:
            return values
        hit = converted.get(name)
        if hit is None or hit[0] is not values:  # (re)convert after the missing mask grew
            hit = (values, convert(values, *convert_to[name]))
            converted[name] = hit
        return hit[1]

    masked = set(plan)  # their fill-value tests run before any other test

    def as_input(name: str) -> str:
        """``resolve``, with the fill values of a variable QC reads but does not judge masked.

        Its profile's fill-value tests, or, if no profile matches it, the configuration's
        common ones: a sentinel of a valve state or a raw pressure must not fire a rule or
        choose range_by's limits. Only declared values are masked; nothing is guessed.
        """
        src = resolve(name)
        if src not in masked:
            masked.add(src)
            values, missing = load(src)
            for spec in inputs[src][1] if src in inputs else cfg.common:
                if spec.test.marks_missing:
                    data = QCInput(values, axis, src, dict(ds[src].attrs))
                    newly = _execute(spec, data, missing).probability == 0
                    missing, values = missing | newly, np.where(newly, np.nan, values)
            cache[src] = (values, missing)
        return src

    def other(name: str) -> FloatArray:
        src = as_input(name)
        if "*" in skipped.get(src, {}):  # its numbers are not in its profile's units
            raise InputUnavailable(
                f"needs {name!r}, but {src} is in units "
                f"{str(ds[src].attrs.get('units', ''))!r} its profile cannot take"
            )
        return in_profile_units(src)

    def stored(name: str) -> npt.NDArray[Any]:
        return np.asarray(ds[resolve(name)].values)

    results: dict[str, list[TestRun]] = {}
    missing_of: dict[str, npt.NDArray[np.bool_]] = {}

    # per variable, the results that judge its values: not its fill-value marks (a missing
    # pressure is no bad pressure: its 0 there made the ozone bad) nor its own propagations
    # (which would make the outcome depend on the order the variables come in)
    judging: dict[str, list[npt.NDArray[np.float32]]] = {}

    def worst_of(name: str) -> FloatArray:
        src = resolve(name)
        if src not in plan:  # all NaN would read as "the source had no opinion"
            raise InputUnavailable(
                f"needs the test results of {name!r} ({src}), which this run does not check "
                "(no profile matches it, or it was left out of variables=)"
            )
        probs = judging.get(src, [])
        if not probs:
            return np.full(time.shape, np.nan)
        out: FloatArray = np.fmin.reduce(np.stack(probs), axis=0)
        return out.astype(np.float64)

    def run_specs(name: str, specs: Sequence[TestSpec]) -> None:
        values, missing = load(name)
        attrs = dict(ds[name].attrs)
        if name in convert_to:
            attrs["units"] = convert_to[name][1]
        for spec in specs:
            if spec.test.marks_missing:  # fill values are written in the file's own units
                data = QCInput(values, axis, name, dict(ds[name].attrs), other, worst_of, stored)
            else:
                data = QCInput(in_profile_units(name), axis, name, attrs, other, worst_of, stored)
            try:
                run = _execute(spec, data, missing, of_time=of_time)
            except InputUnavailable as exc:
                skipped[name][spec.label] = str(exc)
                continue
            if spec.test.marks_missing:
                newly = run.probability == 0
                if newly.any():
                    missing = missing | newly
                    values = np.where(newly, np.nan, values)
                    cache[name] = (values, missing)
            results.setdefault(name, []).append(run)
            if not spec.test.marks_missing and spec.test.name != "propagate":
                judging.setdefault(name, []).append(run.probability)
        missing_of[name] = missing

    for name, (_, specs) in plan.items():  # fill values first, of every variable: no test
        results[name] = []  # (of its own variable or of another, e.g. range_by's pressure)
        run_specs(name, [s for s in specs if s.test.marks_missing])  # reads them as values
    for name, (_, specs) in plan.items():  # then every test but propagation
        run_specs(
            name, [s for s in specs if not s.test.marks_missing and s.test.name != "propagate"]
        )
    for name, (_, specs) in plan.items():  # then propagation, from complete sources
        propagation = [s for s in specs if s.test.name == "propagate"]
        if propagation:
            run_specs(name, propagation)

    per_var = {
        name: VariableQC(
            name,
            prof,
            missing_of[name],
            tuple(results[name]),
            skipped[name],
            " -> ".join(convert_to[name]) if name in convert_to else "",
        )
        for name, (prof, _) in plan.items()
    }
    method = evaluation or cfg.evaluation
    params = dict(cfg.evaluation_params) if method == cfg.evaluation else {}
    return QCResult.evaluated(time, per_var, method, params, overrides)


def run_test(
    name: str,
    values: npt.ArrayLike,
    time: npt.ArrayLike | None = None,
    params: Mapping[str, Any] | None = None,
) -> npt.NDArray[np.float32]:
    """Run one registered test on a plain array (notebook use); returns its probabilities.

    ``values`` is one-dimensional; non-finite values, and the masked points of a masked array
    (what netCDF4 gives for fill values), are missing. ``time`` defaults to one point per
    second; it may be ``datetime64`` of any unit, ISO strings, ``datetime`` or pandas
    timestamps (time-zone aware ones are converted to UTC, naive ones are taken as UTC), or
    numbers, which are seconds since 1970-01-01 (as in ioos_qc).
    """
    x = _values_of(values)
    t: npt.NDArray[np.datetime64] | Callable[[], npt.NDArray[np.datetime64]]
    # no time: one per second, built only if the test asks for it
    t = partial(_one_per_second, x.size) if time is None else _time_of(time, x.size)
    test = get_test(name)
    if time is None and test.judges_time:  # made-up times from 1970 were judged: all bad
        raise QCError(f"{name}: judges the time stamps, so it needs them: pass time=")
    checked = test.check(params or {}, name)
    # only the probabilities are returned: no record of the run (TestSpec, TestRun) is built
    if test.handles_nonfinite:  # NaN/inf are missing by the test's own contract: no scan
        return _probability(test, checked, name, QCInput(x, t, name), _NO_POINTS, False)
    # missing points as indices, not a mask: usually few, so setting them to NaN in the result
    # afterwards costs nothing, and a series without any costs one isfinite pass in all
    flags = np.isfinite(x)
    has_missing = not flags.all()
    missing = sparse_flatnonzero(np.logical_not(flags, out=flags)) if has_missing else _NO_POINTS
    if has_missing and not np.isnan(x[missing]).all():  # infinities: copy, then NaN
        x = x.copy()
        x[missing] = np.nan
    return _probability(test, checked, name, QCInput(x, t, name), missing, has_missing)


def _values_of(values: npt.ArrayLike) -> FloatArray:
    """``values`` as a 1-d float64 array, masked points (of a masked array) as NaN."""
    try:
        if np.ma.isMaskedArray(values):
            mask = np.ma.getmaskarray(values)
            x = np.array(np.ma.getdata(values), dtype=np.float64)  # a copy: NaN goes in
            x[mask] = np.nan
        else:
            x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise QCError(f"values are not numbers: {exc}") from exc
    if x.ndim != 1:
        raise QCError(f"values must be one-dimensional, got shape {x.shape}")
    return x


def _time_of(time: npt.ArrayLike, n: int) -> npt.NDArray[np.datetime64]:
    """``time`` as ``datetime64[ns]`` of ``n`` points, or :class:`QCError` saying why not."""
    raw = np.asarray(time)
    if raw.dtype == _NS:
        t = raw
    elif raw.dtype.kind == "M":
        try:
            t = as_ns(raw)
        except DatasetError as exc:
            raise QCError(str(exc)) from None
    else:
        import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the venv

        numeric = raw.dtype.kind in "iufb"
        try:
            if numeric:  # seconds since 1970, as ioos_qc reads numbers
                stamps = pd.to_datetime(raw.astype(np.float64).reshape(-1), unit="s", utc=True)
            elif raw.dtype.kind in "SU":  # ISO strings ("Z" or an offset: to UTC)
                text = raw.astype(str).reshape(-1)
                stamps = pd.to_datetime(text, utc=True, format="ISO8601")
            else:  # datetime objects, pandas timestamps (tz-aware: to UTC)
                given = time if isinstance(time, pd.Index | pd.Series) else raw.reshape(-1)
                stamps = pd.to_datetime(given, utc=True)
            utc = pd.DatetimeIndex(stamps).tz_convert(None).as_unit("ns")
        except (ValueError, TypeError, OverflowError) as exc:
            reason = str(exc).split("\n", 1)[0]
            raise QCError(f"time: not times within 1678-2261: {reason}") from exc
        t = np.asarray(utc).reshape(raw.shape)
    if t.shape != (n,):
        raise QCError(f"time has shape {t.shape}, values {n} points: give one time per value")
    return t
