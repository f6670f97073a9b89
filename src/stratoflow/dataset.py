"""The standardized Dataset: the one contract between readers, importers, QC, exporters, writers.

A standardized Dataset is an :class:`xarray.Dataset` with

* exactly one dimension, ``time``: a ``datetime64[ns]`` coordinate in UTC (naive numpy
  datetimes are UTC by definition; a ``timezone`` attribute other than UTC is rejected),
  strictly increasing, without NaT;
* data variables on ``time`` with a ``units`` attribute (a UDUNITS string, ``"1"`` for
  dimensionless), a ``long_name`` and optionally a ``standard_name``;
* optional flag variables ``<var>_flag`` (``uint8``, IAGOS validity codes, see
  :mod:`stratoflow.flags`) carrying CF ``flag_values``/``flag_meanings``; a data variable names
  its flag variable (and any other ancillary variables) in ``ancillary_variables``;
* global attributes describing the source (``source_file``, ``source_checksum``, ``provider``,
  ``platform``, ``flight``...).

Readers produce it and call :func:`validate`; importers, QC and writers may rely on it.

Example::

    >>> import numpy as np
    >>> ds = make_dataset(
    ...     np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:04"], dtype="datetime64[ns]"),
    ...     {"O3": (np.array([40.1, 40.3]), {"units": "1e-9", "long_name": "ozone"})},
    ... )
    >>> validate(ds)["O3"].attrs["units"]
    '1e-9'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.errors import DatasetError
from stratoflow.flags import FLAG_DTYPE, Flag, cf_flag_attributes, declares_iagos_flags

__all__ = [
    "FLAG_SUFFIX",
    "TIME",
    "as_ns",
    "data_variables",
    "flag_name",
    "flags_of",
    "make_dataset",
    "validate",
]

TIME = "time"
FLAG_SUFFIX = "_flag"
_UTC_NAMES = {"utc", "z", "gmt", "etc/utc", "+00:00", "00:00"}
_VALID_CODES = np.array(sorted(int(f) for f in Flag))
#: lookup table: is a byte a flag code? (one gather per point, far cheaper than ``np.isin``,
#: and validation runs on every flag variable of every file read, processed and stored)
_VALID_LUT = np.zeros(256, dtype=bool)
_VALID_LUT[_VALID_CODES] = True


def _invalid_codes(codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.bool_]:
    """Where ``codes`` (any integer dtype) holds a value that is not an IAGOS flag code."""
    if codes.dtype == np.uint8:
        invalid: npt.NDArray[np.bool_] = ~_VALID_LUT[codes]
        return invalid
    inside = (codes >= 0) & (codes <= 255)
    bad = ~inside
    bad[inside] = ~_VALID_LUT[codes[inside].astype(np.intp)]
    return bad


def flag_name(variable: str) -> str:
    """Name of the flag variable that belongs to ``variable``."""
    return f"{variable}{FLAG_SUFFIX}"


def _is_flag_variable(ds: xr.Dataset, name: str) -> bool:
    return name.endswith(FLAG_SUFFIX) and name[: -len(FLAG_SUFFIX)] in ds.data_vars


def _ancillary_names(ds: xr.Dataset) -> set[str]:
    names: set[str] = set()
    for var in ds.data_vars.values():
        names.update(str(var.attrs.get("ancillary_variables", "")).split())
    return names


def data_variables(ds: xr.Dataset) -> list[str]:
    """The measured variables: data variables that are neither flags nor ancillary variables."""
    ancillary = _ancillary_names(ds)
    return [
        str(name)
        for name in ds.data_vars
        if not _is_flag_variable(ds, str(name)) and str(name) not in ancillary
    ]


def flags_of(ds: xr.Dataset, variable: str) -> npt.NDArray[np.uint8]:
    """The flags of ``variable``: its flag variable if present, else derived from the values.

    Without a flag variable, NaN points are ``missing`` and the rest ``not_validated``.
    """
    name = flag_name(variable)
    if name in ds.data_vars:
        return np.asarray(ds.variables[name].values, dtype=FLAG_DTYPE)
    values = np.asarray(ds.variables[variable].values)
    out = np.full(values.shape, int(Flag.NOT_VALIDATED), dtype=FLAG_DTYPE)
    if values.dtype.kind == "f":
        out[np.isnan(values)] = int(Flag.MISSING)
    return out


def make_dataset(
    time: npt.ArrayLike,
    variables: Mapping[str, tuple[npt.ArrayLike, Mapping[str, Any]]],
    *,
    flags: Mapping[str, npt.ArrayLike] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build (and validate) a standardized Dataset from plain arrays.

    ``variables`` maps a name to ``(values, attributes)``; ``flags`` maps a variable name to its
    IAGOS validity flags, which become ``<name>_flag`` variables with CF attributes.
    """
    times = np.asarray(time)
    if times.dtype.kind != "M":
        raise DatasetError(f"time must be numpy datetime64 values in UTC, got dtype {times.dtype}")
    data_vars: dict[str, Any] = {}
    flags = dict(flags or {})
    for name, (values, var_attrs) in variables.items():
        if name == TIME:  # a column named like the coordinate (its time is another column)
            name = _free(f"{TIME}_original", variables)
            var_attrs = {**var_attrs, "original_name": TIME}
            if TIME in flags:
                flags[name] = flags.pop(TIME)
        data_vars[name] = xr.Variable((TIME,), np.asarray(values), dict(var_attrs))
    flags = _keep_source_flag_columns(data_vars, flags)
    for name, codes in flags.items():
        if name not in data_vars:
            raise DatasetError(f"flags given for unknown variable {name!r}")
        attrs_ = cf_flag_attributes()
        attrs_["long_name"] = f"validity flag of {name}"
        data_vars[flag_name(name)] = xr.Variable(
            (TIME,), np.asarray(codes, dtype=FLAG_DTYPE), attrs_
        )
        _add_ancillary(data_vars[name].attrs, flag_name(name))
    ds = xr.Dataset(
        data_vars,
        coords={TIME: (TIME, times.astype("datetime64[ns]"), {"standard_name": "time"})},
        attrs=dict(attrs or {}),
    )
    return validate(ds)


def _free(name: str, taken: Mapping[str, Any]) -> str:
    """``name``, or ``name_2``, ``name_3``... whichever is not taken."""
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name}_{i}", i + 1
    return candidate


def _keep_source_flag_columns(
    data_vars: dict[str, Any], flags: Mapping[str, Any]
) -> dict[str, Any]:
    """Move a file's own ``<var>_flag`` column out of the way of ``<var>``'s validity flags.

    ``<var>_flag`` is where a Dataset keeps the IAGOS validity flags of ``<var>``. A file may
    have a column of that name with other codes (an instrument's status, a provider's own
    scheme): it would be overwritten by the flags a reader sets, or break the contract. It is
    kept, as ``<var>_flag_original`` (an ancillary variable of ``<var>``, so not measured data),
    unless it is IAGOS flags: integer IAGOS codes, no other flags given for ``<var>``, and no
    ``flag_meanings`` of another scheme (codes 0, 2, 3, 4, 7 that mean cloud types are not
    validity flags). Returns ``flags`` without entries for the moved columns (ancillary
    variables have no flags).
    """
    flags = dict(flags)
    for name in [n for n in data_vars if n.endswith(FLAG_SUFFIX)]:
        owner = name[: -len(FLAG_SUFFIX)]
        if owner not in data_vars or owner.endswith(FLAG_SUFFIX):
            continue
        var = data_vars[name]
        codes = np.asarray(var.values)
        if (
            owner not in flags
            and codes.dtype.kind in "ui"
            and not _invalid_codes(codes).any()
            and declares_iagos_flags(var.attrs) is not False
        ):
            continue  # already validity flags
        new = _free(f"{name}_original", data_vars)
        attrs = {**var.attrs, "original_name": name}
        attrs.setdefault("comment", f"the file's own column {name!r}, not IAGOS validity flags")
        data_vars[new] = xr.Variable(var.dims, var.values, attrs)
        del data_vars[name]
        flags.pop(name, None)
        _add_ancillary(data_vars[owner].attrs, new)
    return flags


def _add_ancillary(attrs: dict[str, Any], name: str) -> None:
    present = str(attrs.get("ancillary_variables", "")).split()
    if name not in present:
        attrs["ancillary_variables"] = " ".join([*present, name])


def _problems(ds: xr.Dataset) -> Iterable[str]:
    if TIME not in ds.coords:
        yield "no 'time' coordinate"
        return
    dims = set(ds.dims)
    if dims != {TIME}:
        yield f"dimensions must be exactly ('time',), found {tuple(sorted(map(str, dims)))}"
    time = ds[TIME]
    tz = str(time.attrs.get("timezone", time.attrs.get("time_zone", "UTC"))).strip().lower()
    if tz not in _UTC_NAMES:
        yield f"time must be UTC, found timezone {tz!r}"
    if time.dtype.kind != "M":
        yield f"time must be datetime64 in UTC, found dtype {time.dtype} (tz-aware or text?)"
        return
    values = time.values.astype("datetime64[ns]").view(np.int64)
    if np.isnat(time.values).any():
        yield f"time has {int(np.isnat(time.values).sum())} missing (NaT) values"
    elif values.size > 1:
        steps = np.diff(values)
        if (steps <= 0).any():
            first = int(np.argmax(steps <= 0))
            yield (
                "time must be strictly increasing; first violation at index "
                f"{first + 1} ({time.values[first]} -> {time.values[first + 1]})"
            )
    for name in ds.data_vars:
        var = ds.variables[name]  # the Variable: no DataArray built per variable
        if var.dims != (TIME,):
            yield f"variable {name!r} must have dimension ('time',), has {var.dims}"
        if _is_flag_variable(ds, str(name)):
            codes = np.asarray(var.values)
            if codes.dtype.kind not in "ui":
                yield f"flag variable {name!r} must be integer, is {codes.dtype}"
            elif codes.size and (invalid := _invalid_codes(codes)).any():
                bad = np.unique(codes[invalid])[:5].tolist()
                yield f"flag variable {name!r} holds codes outside the IAGOS scheme: {bad}"
            continue
        units = var.attrs.get("units")
        if not isinstance(units, str) or not units.strip():
            yield f"variable {name!r} has no units attribute"


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check ``ds`` against the contract; return it unchanged, or raise :class:`DatasetError`.

    All problems are reported in one message so a reader author can fix them at once.
    """
    problems = list(_problems(ds))
    if problems:
        raise DatasetError("not a standardized Dataset: " + "; ".join(problems))
    if ds[TIME].dtype != np.dtype("datetime64[ns]"):
        ns = as_ns(np.asarray(ds[TIME].values))
        ds = ds.assign_coords({TIME: (ds[TIME].dims, ns, ds[TIME].attrs)})
    return ds


#: datetime64 units whose cast to ns can overflow (finer ones only lose digits)
_COARSER_THAN_NS = ("Y", "M", "W", "D", "h", "m", "s", "ms", "us")


def as_ns(raw: npt.NDArray[Any]) -> npt.NDArray[np.datetime64]:
    """``raw`` (datetime64 of any unit) as ``datetime64[ns]``, or :class:`DatasetError`.

    numpy's cast from a coarser unit wraps silently beyond 1677-2262 (2300 becomes 1715),
    so the cast is checked by casting back.
    """
    ns = raw.astype("datetime64[ns]")
    if raw.dtype.kind == "M" and np.datetime_data(raw.dtype)[0] in _COARSER_THAN_NS:
        wrapped = (ns.astype(raw.dtype) != raw) & ~np.isnat(raw)
        if wrapped.any():
            first = raw[wrapped].reshape(-1)[0]
            raise DatasetError(
                f"time {first} is outside the range of datetime64[ns] (1678-2261); "
                f"{int(wrapped.sum())} time(s) would wrap round to other dates"
            )
    return ns
