"""netCDF readers: IAGOS L2 time series and generic CF time series.

Two readers share one decoding path (:func:`_open_raw` and :func:`_standardize`):

* :class:`CfNetcdfReader` (``cf_netcdf``) reads any netCDF file that has a time coordinate:
  every one-dimensional numeric or text (string) variable on that coordinate becomes a data
  variable; scalar text variables (a flight id with ``cf_role``) become global attributes;
  anything else is named in ``reader_skipped_variables``. A file converted from an ICARTT
  file that kept its name lands on the ICARTT file's flight when its attributes agree with
  the name (:func:`stratoflow.flights.converted_flight`).
* :class:`IagosNetcdfReader` (``iagos_netcdf``) adds what an IAGOS L2 file means beyond CF:
  ``<var>_validity_flag`` variables (``<var>_val`` in older IAGOS files) become stratoflow
  flags ``<var>_flag`` (translated by their ``flag_meanings``, not by trusting the codes),
  ``<var>_process_flag`` and ``<var>_error`` stay as ancillary variables of ``<var>``, and the
  flight metadata (platform, airports, departure and arrival times) become standard global
  attributes.

Real files have quirks that a naive ``xarray.open_dataset`` turns into wrong data, handled here:

* a ``_FillValue`` (0.0 in IAGOS files) on the time coordinate: a time of exactly 0 would be
  masked, so the time coordinate is decoded without masking;
* ``flag_meanings`` stored as an array of strings instead of one blank-separated string;
* wrong ``axis`` attributes (IAGOS files swap X and Y on ``lon``/``lat``): dropped, the writer
  decides axes;
* integer variables with a fill value: decoded to float with NaN where the fill value was, and
  kept integer where no value is missing;
* ``valid_min``/``valid_max``/``valid_range`` (which xarray does not apply): values outside
  are missing, compared in the packed type as CF says, except on flag variables.
* times stored as rounded fractions of a coarse unit (``days since 1900-01-01`` with six
  decimals, as EBAS writes them): put back on the second (or 0.1 s...) they stand for, as the
  NASA Ames reader does, never further than half the written step;
* a 32-bit ``scale_factor`` on the time: taken as the decimal written (``0.1``), not as the
  binary number stored (0.100000001490116), which put every time nanoseconds off.

Example::

    >>> from stratoflow.readers.netcdf import IagosNetcdfReader
    >>> path = "IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4"
    >>> ds = IagosNetcdfReader().read(path)  # doctest: +SKIP
    >>> ds["O3_P1_flag"].attrs["flag_meanings"]  # doctest: +SKIP
    'good limited bad not_validated missing'
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.dataset import TIME, flag_name
from stratoflow.errors import ReaderError, TimeUnitsError
from stratoflow.flags import (
    FLAG_DTYPE,
    FLAG_MEANINGS,
    Flag,
    cf_flag_attributes,
    declares_iagos_flags,
)
from stratoflow.flights import converted_flight
from stratoflow.netcdf_library import LIBRARY_LOCK
from stratoflow.readers.base import UNKNOWN_UNITS, Reader
from stratoflow.readers.nasa_ames import snap_times, written_resolution
from stratoflow.timeunits import is_time_units, parse_time_units

__all__ = ["NETCDF_MAGIC", "CfNetcdfReader", "IagosNetcdfReader"]

#: Signatures of netCDF classic (CDF1/2/5) and netCDF-4 (HDF5) files.
NETCDF_MAGIC: tuple[bytes, ...] = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")
_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf", ".h5")

# Attributes that describe the encoding in the file, not the quantity: xarray moves most of them
# to ``encoding``; the rest are dropped so a writer makes its own, consistent choices.
_ENCODING_ATTRS = frozenset(
    {
        "_FillValue",
        "missing_value",
        "scale_factor",
        "add_offset",
        "coordinates",
        "axis",
        "valid_min",
        "valid_max",
        "valid_range",
        "_Unsigned",
        "calendar",
    }
)

# IAGOS flag_meanings (as found in the files) -> stratoflow flag.
_IAGOS_MEANINGS: dict[str, Flag] = FLAG_MEANINGS
_VALIDITY_SUFFIX = "_validity_flag"
#: Validity flags of older IAGOS files (v2: ``baro_alt_AC_val``), IAGOS codes.
_OLD_VALIDITY_SUFFIX = "_val"
_ANCILLARY_SUFFIXES = ("_process_flag", "_error", "_source_flag")
_REGISTRATION = re.compile(r"\b([A-Z0-9]{1,2}-[A-Z0-9]{3,5})\b")


def _joined(items: list[str]) -> str:
    """A string-array attribute as one string, its items still told apart.

    Blank-separated when no item holds a blank (the CF form of ``flag_meanings``); items
    that do (ACDD ``keywords`` such as ``atmosphere > atmospheric chemistry > ozone``) ran
    into each other that way, so they are joined by ``", "`` (ACDD's list form), or by
    newlines when an item holds a comma too.
    """
    if not any(re.search(r"\s", item) for item in items):
        return " ".join(items)
    if not any("," in item for item in items):
        return ", ".join(items)
    return "\n".join(items)


def _text(value: Any) -> Any:
    """Attribute values as netCDF and the contract expect: string arrays as one string."""
    if isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value):
            return _joined(list(value))
        return np.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "USO":
        return _joined([str(v) for v in value.ravel()])
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _clean_attrs(attrs: Mapping[Hashable, Any]) -> dict[str, Any]:
    clean = {str(k): _text(v) for k, v in attrs.items() if str(k) not in _ENCODING_ATTRS}
    # flag attributes written as text ("0 2 3 4 7", "good, limited"): read as CF means them
    meanings = clean.get("flag_meanings")
    if isinstance(meanings, str) and "," in meanings:
        clean["flag_meanings"] = " ".join(meanings.replace(",", " ").split())
    codes = clean.get("flag_values")
    if isinstance(codes, str):
        try:
            numbers = np.array([float(c) for c in codes.replace(",", " ").split()])
        except ValueError:
            return clean  # not numbers: _flag_lut names the variable and its flag_values
        whole = numbers.size and (numbers == np.rint(numbers)).all()
        clean["flag_values"] = numbers.astype(np.int64) if whole else numbers
    return clean


def _check_signature(path: Path) -> None:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:  # a transfer that created the file and wrote nothing
        raise ReaderError("an empty file (0 bytes), not a netCDF file", path=path)
    if not any(head.startswith(m) for m in NETCDF_MAGIC):
        raise ReaderError(
            "not a netCDF file (no netCDF or HDF5 signature in the first bytes)", path=path
        )


def _is_time_variable(var: xr.Variable) -> bool:
    units = str(var.attrs.get("units", ""))
    return (
        is_time_units(units)
        or var.attrs.get("standard_name") == "time"
        or str(var.attrs.get("axis", "")).upper() == "T"
    )


def _find_time(path: Path, raw: xr.Dataset, preferred: str | None) -> str:
    if preferred is not None:
        if preferred not in raw.variables or raw[preferred].ndim != 1:
            raise ReaderError(f"no one-dimensional time variable {preferred!r}", path=path)
        return preferred
    candidates = [
        str(name)
        for name, var in raw.variables.items()
        if var.ndim == 1 and var.dims[0] == name and _is_time_variable(var)
    ]
    if not candidates:
        candidates = [
            str(name)
            for name, var in raw.variables.items()
            if var.ndim == 1 and is_time_units(str(var.attrs.get("units", "")))
        ]
    if not candidates:
        raise ReaderError(
            "no time coordinate (a 1-D variable with units '<unit> since <date>')"
            + _why_not_time(raw),
            path=path,
        )
    return candidates[0]


_TIME_NAME = re.compile(r"time|date|utc|epoch", re.IGNORECASE)


def _why_not_time(raw: xr.Dataset) -> str:
    """Why the variables named like a time (``time``, ``UTC``, ``date``) are none: text (ISO
    dates, which CF does not allow), no units, or units that are no ``<unit> since <date>``."""
    reasons = []
    for name, var in raw.variables.items():
        if not _TIME_NAME.search(str(name)):
            continue
        if var.dtype.kind in "SUO":
            first = np.asarray(var.values).ravel()[:1].tolist()
            sample = first[0].decode("utf-8", "replace") if first and isinstance(
                first[0], bytes) else str(first[0]) if first else ""  # fmt: skip
            reasons.append(f"{str(name)!r} holds text ({sample!r}), not numbers")
        elif "units" not in var.attrs:
            reasons.append(f"{str(name)!r} has no units")
        else:
            reasons.append(f"{str(name)!r} has units {str(var.attrs['units'])!r}")
    return f"; {', '.join(reasons)}" if reasons else ""


def _decode_time(path: Path, var: xr.Variable, name: str) -> npt.NDArray[np.datetime64]:
    """Decode the time coordinate without masking (see the module docstring)."""
    values = np.asarray(var.values)
    attrs = {"units": var.attrs.get("units", var.encoding.get("units"))}
    calendar = var.attrs.get("calendar", var.encoding.get("calendar"))
    if calendar is not None:  # "Gregorian", "standard " as some writers spell them
        calendar = str(_text(calendar)).strip().lower()
        attrs["calendar"] = calendar
    if attrs["units"] is None or not is_time_units(str(attrs["units"])):
        raise ReaderError(f"time variable {name!r} has no '<unit> since <date>' units", path=path)
    if calendar is not None and calendar not in _REAL_CALENDARS:
        why = _NOT_UTC.get(calendar, "not a CF calendar")
        raise ReaderError(
            f"time variable {name!r} uses calendar {calendar!r} ({why}), so its times are no "
            "UTC instants; stratoflow reads 'standard' (or 'gregorian', 'proleptic_gregorian')",
            path=path,
        )
    units = str(attrs["units"])
    try:
        parsed = parse_time_units(units)
    except TimeUnitsError as exc:
        raise ReaderError(f"time variable {name!r}: {exc}", path=path) from None
    # the zone is applied here, after decoding (see stratoflow.timeunits for why not by
    # cftime/xarray); the date stays as written, for the calendar to read
    attrs["units"] = f"{parsed.unit} since {parsed.reference}"
    _check_time_gaps(path, var, name, values)
    scale, offset = (var.attrs.get(k, var.encoding.get(k)) for k in ("scale_factor", "add_offset"))
    if scale is not None or offset is not None:  # packed times: unpacked, though not masked
        values = values * (1.0 if scale is None else _as_written(scale))
        values = values + (0.0 if offset is None else _as_written(offset))
    plain = xr.Dataset({"t": xr.Variable(("t",), values, attrs)})
    try:
        decoded = xr.decode_cf(plain, decode_times=True)["t"].values
    except (ValueError, OverflowError) as exc:  # pandas' OutOfBoundsDatetime is a ValueError
        raise _undecodable_time(path, name, values, {**attrs, "units": units}) from exc
    if np.asarray(decoded).dtype.kind != "M":
        raise ReaderError(
            f"time variable {name!r} uses calendar {calendar!r}, which has no UTC datetimes",
            path=path,
        )
    utc = np.asarray(decoded).astype("datetime64[ns]") - parsed.offset
    if values.dtype.kind == "f" and parsed.ns is not None:
        # times stored as rounded fractions of a coarse unit (EBAS: days with 6 decimals,
        # 86.4 ms) decode 30 ms off the second they stand for: back on the clock's grid, as
        # the NASA Ames reader puts them (never further than half the written step)
        step = written_resolution(np.asarray(values, dtype=np.float64)) * parsed.ns
        ns = snap_times(utc.astype("datetime64[ns]").view(np.int64), step)
        utc = ns.astype("datetime64[ns]")
    return np.asarray(utc, dtype="datetime64[ns]")


def _as_written(attribute: Any) -> float:
    """A packing attribute (``scale_factor``, ``add_offset``) as the number its writer meant.

    A ``float`` (32-bit) ``scale_factor = 0.1f`` is stored as 0.100000001490116; widened to
    64 bits as it is, it put 10 packed units at 1.000000015 s, so times came out 15 ns off
    the second they were written at, and no longer matched the same instants of other
    files. The shortest decimal that gives back the stored number in its own precision
    (``0.1``) is what was written; a 64-bit value is that number already.
    """
    value = np.asarray(attribute).ravel()[0]
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        return float(str(value))  # numpy prints the shortest round-trip decimal
    return float(value)


#: CF calendars whose dates are those of the real (Gregorian) calendar: times in UTC
_REAL_CALENDARS = frozenset({"standard", "gregorian", "proleptic_gregorian"})
_MODEL = "a model calendar: its dates are not those of real days"
#: why the other CF calendars have no UTC reading (decoding them gave cftime objects, or for
#: 'tai' instants shifted by the leap seconds and a misleading "outside 1678-2261")
_NOT_UTC = {
    **dict.fromkeys(("noleap", "365_day", "all_leap", "366_day", "360_day"), _MODEL),
    "julian": "the Julian calendar, whose dates now run 13 days behind the Gregorian ones",
    "tai": "International Atomic Time, ahead of UTC by the leap seconds",
    "utc": "counts leap seconds, which a UTC datetime without them cannot hold",
    "none": "no calendar at all",
}


def _undecodable_time(
    path: Path, name: str, values: npt.NDArray[Any], attrs: Mapping[str, Any]
) -> ReaderError:
    """Why xarray could not decode a time (its own message only says to install cftime).

    cftime, which netCDF4 uses, tells units it cannot read (``months since``, ``seconds since
    flight start``, year 0 in the standard calendar) from instants it can compute but that
    lie outside the datetime64 range (a fill value, wrong units).
    """
    import cftime

    units, calendar = str(attrs["units"]), str(attrs.get("calendar", "standard"))
    try:
        cftime.num2date(values[:1], units, calendar)
    except ValueError as exc:
        return ReaderError(
            f"time variable {name!r}: units {units!r} (calendar {calendar!r}) cannot be "
            f"decoded: {exc}",
            path=path,
        )
    except OverflowError:
        pass
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    span = f" with values {finite.min():g} to {finite.max():g}" if finite.size else ""
    return ReaderError(
        f"time variable {name!r}: {units!r}{span} gives instants outside the years "
        "1678-2261 that a time can take (a fill value, or wrong units?)",
        path=path,
    )


def _check_time_gaps(path: Path, var: xr.Variable, name: str, values: npt.NDArray[Any]) -> None:
    """Refuse records without a time, naming them, before they are decoded into nonsense.

    The time coordinate is read unmasked (IAGOS files declare ``_FillValue = 0`` on a time
    that really is 0 at the reference instant), so a record whose time *is* the fill value
    would decode to an instant far before the flight and be reported as "time not
    increasing". A fill value counts as a real time only where the times around it still
    increase (the IAGOS case); NaN or infinite times are never times.
    """
    if values.dtype.kind not in "fiu" or not values.size:
        return
    numbers = values.astype(np.float64)
    bad = ~np.isfinite(numbers)
    fills = [
        float(np.asarray(v).ravel()[0])
        for v in (var.attrs.get(k, var.encoding.get(k)) for k in ("_FillValue", "missing_value"))
        if v is not None and np.asarray(v).size
    ]
    hit = np.isin(numbers, fills) if fills else np.zeros(numbers.shape, dtype=bool)
    if hit.any():
        ordered = np.where(bad, 0.0, numbers)
        steps_ok = numbers.size < 2 or bool((np.diff(ordered) > 0).all())
        if not steps_ok:
            bad |= hit
    # Records never written (a logger that stopped between writing a variable and the time)
    # hold the netCDF library's default fill when the file declares none: never a time.
    default = None if fills else _default_fill(values.dtype)
    unwritten = numbers == default if default is not None else np.zeros(numbers.shape, bool)
    bad |= unwritten
    if bad.any():
        first = int(np.argmax(bad))
        what = (
            f"the netCDF default fill value {numbers[first]:g}: never written"
            if unwritten[first]
            else f"its fill value {numbers[first]:g}"
            if np.isfinite(numbers[first])
            else f"{numbers[first]:g}"
        )
        raise ReaderError(
            f"time variable {name!r} has no valid time in {int(bad.sum())} record(s), the first "
            f"at index {first} ({what}): records without a time cannot be placed on the time "
            "axis; remove them or fill in their times",
            path=path,
        )


def _default_fill(dtype: np.dtype[Any]) -> float | None:
    """netCDF-C's default fill value for ``dtype`` (None for types without one)."""
    import netCDF4

    code = f"{dtype.kind}{dtype.itemsize}"
    value = netCDF4.default_fillvals.get(code)
    return None if value is None else float(np.asarray(value, dtype=dtype))


def _open_raw(path: Path, time: str | None, group: str | None = None) -> tuple[xr.Dataset, str]:
    """Open, find the time variable, and load everything with the time decoded unmasked
    (under :data:`LIBRARY_LOCK`: nothing of the file is read after it returns)."""
    with LIBRARY_LOCK:
        return _open_raw_locked(path, time, group)


def _open_raw_locked(
    path: Path, time: str | None, group: str | None = None
) -> tuple[xr.Dataset, str]:
    _check_signature(path)
    groups = _groups(path) if group is not None else []
    if group is not None and group.strip("/") not in [g.strip("/") for g in groups]:
        found = ", ".join(groups) or "none"
        raise ReaderError(f"no group {group!r} in the file (its groups: {found})", path=path)
    try:
        probe = xr.open_dataset(
            path,
            engine="netcdf4",
            decode_times=False,
            decode_coords=False,
            decode_timedelta=False,
            group=group,
        )
    except (OSError, RuntimeError) as exc:
        # netCDF-C says "HDF error" or "Unknown file format" for a file cut short by a broken
        # transfer or a full disk (a RuntimeError when the damage is in the coordinates xarray
        # reads on opening): say what that means for the user.
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ReaderError(
            f"damaged or truncated netCDF file ({path.stat().st_size:,} bytes): the netCDF "
            f"library cannot open it ({reason})",
            path=path,
        ) from exc
    groups = groups or _groups(path)
    with probe:
        if not probe.variables and not groups:
            raise ReaderError("an empty netCDF file: it holds no variables", path=path)
        _check_packing_attributes(path, probe)
        try:
            time_name = _find_time(path, probe, time)
        except ReaderError as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            if group is not None:
                raise ReaderError(f"{reason} in group {group!r}", path=path) from exc
            if groups:  # the data may well be in a group: say which
                raise ReaderError(
                    f"{reason} in the root group; the file has groups {', '.join(groups)}: "
                    "read one with the option group='<path>'",
                    path=path,
                ) from exc
            raise
    with xr.open_dataset(
        path,
        engine="netcdf4",
        decode_times=False,
        decode_coords=False,
        decode_timedelta=False,
        mask_and_scale={time_name: False},
        group=group,
    ) as raw:
        try:
            loaded = raw.load()
        except (OSError, RuntimeError) as exc:  # the header opened, the data do not read
            raise ReaderError(
                f"damaged netCDF file: the netCDF library cannot read its data ({exc})", path=path
            ) from exc
    # xarray reads one group only: say what was left out
    chosen = "/" + group.strip("/") if group is not None else ""
    if chosen:  # the file's global attributes still describe the data of a group
        with xr.open_dataset(path, engine="netcdf4", decode_times=False) as root:
            loaded.attrs = {**root.attrs, **loaded.attrs, "netcdf_group": chosen}
    skipped = [g for g in groups if g != chosen and not chosen.startswith(g + "/")]
    if skipped:
        loaded.attrs["reader_skipped_groups"] = " ".join(skipped)
    return loaded, time_name


def _groups(path: Path) -> list[str]:
    """The sub-groups of a netCDF-4 file (paths such as ``/instrument/raw``)."""
    import netCDF4

    found: list[str] = []
    with LIBRARY_LOCK, netCDF4.Dataset(path) as nc:
        stack = list(nc.groups.values())
        while stack:
            group = stack.pop(0)
            found.append(group.path)
            stack.extend(group.groups.values())
    return found


def _integer_where_possible(var: xr.Variable) -> npt.NDArray[Any]:
    """Keep integer variables integer when no value was masked (fill values decode to NaN)."""
    values = np.asarray(var.values)
    dtype = var.encoding.get("dtype")
    if dtype is None or np.dtype(dtype).kind not in "iu" or values.dtype.kind != "f":
        return values
    scale = float(var.encoding.get("scale_factor", 1.0))
    offset = float(var.encoding.get("add_offset", 0.0))
    if (scale, offset) != (1.0, 0.0):
        return values  # packed: the unpacked values are the data, decimals and all
    if np.isnan(values).any():
        return values
    return values.astype(dtype)


def _unwritten(var: xr.Variable, values: npt.NDArray[Any]) -> npt.NDArray[np.bool_] | None:
    """Where a float variable holds netCDF's default fill because it was never written.

    A logger that stops between writing the time and a variable leaves the netCDF default
    fill (9.97e36) there; xarray masks only a declared ``_FillValue``, so without one those
    records would be read as 9.97e36 ppb. Only float variables without a declared fill value
    or ``missing_value`` are looked at: 9.97e36 is no measurement (None when there is none).
    """
    declared = ("_FillValue", "missing_value")
    if any(k in var.attrs or k in var.encoding for k in declared) or values.dtype.kind != "f":
        return None
    stored = np.dtype(var.encoding.get("dtype", values.dtype))
    default = _default_fill(stored) if stored.kind == "f" else None
    if default is None:
        return None
    hit = np.asarray(values == default)
    return hit if hit.any() else None


_PACKING = ("scale_factor", "add_offset", "missing_value", "_FillValue")
_FLAG_ATTRS = frozenset({"flag_values", "flag_masks", "flag_meanings"})


def _check_packing_attributes(path: Path, ds: xr.Dataset) -> None:
    """Refuse packing and fill attributes written as text, naming variable and attribute.

    xarray ignores a text ``missing_value`` (its values stay data) and fails on a text
    ``scale_factor`` with a numpy type error; CF requires the variable's own type.
    """
    for name, var in ds.variables.items():
        stored = np.dtype(var.encoding.get("dtype", var.dtype))  # as stored, before decoding
        if stored.kind in "SUO":
            continue  # a text variable's fill value is text (CF allows it)
        for key in _PACKING:
            value = var.attrs.get(key, var.encoding.get(key))
            if isinstance(value, str | bytes) or (
                isinstance(value, np.ndarray) and value.dtype.kind in "SUO"
            ):
                raise ReaderError(
                    f"variable {str(name)!r}: {key} is the text {value!r}, not a number of the "
                    "variable's type as CF requires: fix the attribute",
                    path=path,
                )


def _limit(path: Path, var_name: str, key: str, value: Any) -> npt.NDArray[np.float64]:
    """A ``valid_*`` attribute as numbers (a numeric text such as ``"0 100"`` is read too)."""
    try:
        if isinstance(value, str | bytes):
            text = value.decode() if isinstance(value, bytes) else value
            numbers = np.array([float(v) for v in text.replace(",", " ").split()])
        else:
            numbers = np.asarray(value, dtype=np.float64).ravel()
    except (ValueError, UnicodeDecodeError):
        numbers = np.array([])
    if not numbers.size:
        raise ReaderError(f"variable {var_name!r}: {key} {value!r} is not a number", path=path)
    return numbers


def _outside_valid_range(var: xr.Variable, name: str, path: Path) -> npt.NDArray[np.bool_] | None:
    """Where ``var`` lies outside its CF ``valid_*`` attributes (None: it has none).

    CF states the limits in the packed type, before ``scale_factor``/``add_offset``; xarray has
    unpacked the values already, so they are packed again to compare. Flag variables (with
    ``flag_values``/``flag_meanings``) are left alone: their codes are translated, not masked.
    """
    a = var.attrs
    if "flag_values" in a or "flag_meanings" in a or "flag_masks" in a:
        return None
    low = high = None
    if "valid_range" in a:
        bounds = _limit(path, name, "valid_range", a["valid_range"])
        if bounds.size == 2:
            low, high = float(bounds[0]), float(bounds[1])
    if "valid_min" in a:
        low = float(_limit(path, name, "valid_min", a["valid_min"])[0])
    if "valid_max" in a:
        high = float(_limit(path, name, "valid_max", a["valid_max"])[0])
    if low is None and high is None:
        return None
    values = np.asarray(var.values, dtype=np.float64)
    scale = float(var.encoding.get("scale_factor", 1.0))
    offset = float(var.encoding.get("add_offset", 0.0))
    packed = (values - offset) / scale if (scale, offset) != (1.0, 0.0) else values
    dtype = var.encoding.get("dtype")
    if dtype is not None and np.dtype(dtype).kind in "iu":
        packed = np.rint(packed)
    outside = np.zeros(values.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        if low is not None:
            outside |= packed < low
        if high is not None:
            outside |= packed > high
    return outside


def _standardize(path: Path, raw: xr.Dataset, time_name: str) -> xr.Dataset:
    """The common part: time coordinate, numeric variables on it, clean attributes."""
    time_dim = raw[time_name].dims[0]
    if not raw.sizes[time_dim]:
        # a logger that created the file and never wrote a record: an empty Dataset would be
        # imported as a flight without data (or fail later, far from the file)
        raise ReaderError(
            f"an empty netCDF file: the time variable {time_name!r} has no records "
            f"(dimension {str(time_dim)!r} has length 0)",
            path=path,
        )
    times = _decode_time(path, raw[time_name].variable, time_name)
    data_vars: dict[str, xr.Variable] = {}
    attrs = _clean_attrs(raw.attrs)
    skipped: list[str] = []
    for name, var in raw.variables.items():
        key = str(name)
        if key == time_name:
            continue
        if var.dims == (time_dim,) and var.dtype.kind in "biuf":
            clean = _clean_attrs(var.attrs)
            units = str(clean.get("units", "")).strip()
            if units.lower() == "none" or (not units and _FLAG_ATTRS & set(clean)):
                clean["units"] = "1"  # said dimensionless, or codes (CF flags need no units)
            elif not units:
                clean["units"] = UNKNOWN_UNITS
            outside = _outside_valid_range(var, key, path)
            if outside is not None and outside.any():
                values = np.asarray(var.values, dtype=np.float64).copy()
                values[outside] = np.nan
                clean["reader_outside_valid_range"] = int(outside.sum())
            else:
                values = _integer_where_possible(var)
            unwritten = _unwritten(var, values)
            if unwritten is not None:
                values = np.where(unwritten, np.nan, values).astype(values.dtype)
                clean["reader_unwritten_values"] = int(unwritten.sum())
            data_vars[key] = xr.Variable((TIME,), values, clean)
        elif var.dims == (time_dim,) and var.dtype.kind in "SUO":
            # a text series (an instrument state): kept as text, as the other readers do
            clean = _clean_attrs(var.attrs)
            if str(clean.get("units", "")).strip().lower() in {"", "none"}:
                clean["units"] = "1"
            text = np.asarray(var.values)
            text = np.char.decode(text, "utf-8", "replace") if text.dtype.kind == "S" else text
            if text.dtype.kind == "O":  # a masked element (missing_value) is NaN: no text
                text = np.where(np.asarray(var.isnull()), "", text)
            data_vars[key] = xr.Variable((TIME,), text.astype(str), clean)
        elif var.ndim == 0 and var.dtype.kind in "SUO":
            text = _text(var.values.item())
            if var.attrs.get("cf_role") == "trajectory_id":
                attrs.setdefault("flight", str(text).strip())
            else:
                attrs.setdefault(key, str(text).strip())
        else:
            skipped.append(key)
    if not data_vars:
        others = f" (only {', '.join(skipped)}, not on it)" if skipped else ""
        raise ReaderError(
            f"no data: no variable of the file lies along the time variable {time_name!r}{others}",
            path=path,
        )
    if skipped:
        attrs["reader_skipped_variables"] = " ".join(skipped)
    time_attrs = {"standard_name": "time", "long_name": "time (UTC)"}
    return xr.Dataset(data_vars, coords={TIME: (TIME, times, time_attrs)}, attrs=attrs)


def _netcdf_magic_matches(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return any(head.startswith(m) for m in NETCDF_MAGIC)


class CfNetcdfReader(Reader):
    """Generic CF netCDF time series: any file with a time coordinate.

    ``time`` names the time variable when the file has several candidates (default: the first
    coordinate variable with ``<unit> since <date>`` units, ``standard_name = time`` or
    ``axis = T``). ``group`` reads a netCDF-4 group (``"/flight"``) instead of the root group.
    """

    name: ClassVar[str] = "cf_netcdf"
    description: ClassVar[str] = "CF netCDF time series (any netCDF file with a time coordinate)"
    magic: ClassVar[tuple[bytes, ...]] = NETCDF_MAGIC
    suffixes: ClassVar[tuple[str, ...]] = _SUFFIXES
    priority: ClassVar[int] = 0

    def __init__(self, *, time: str | None = None, group: str | None = None) -> None:
        self.time = time
        self.group = group

    def _read(self, path: Path) -> xr.Dataset:
        raw, time_name = _open_raw(path, self.time, self.group)
        ds = _translate_flags(path, _standardize(path, raw, time_name), "_flag", strict=False)
        _link_ancillaries(ds)
        # the CF conversion of an ICARTT file (it kept the ICARTT name) lands on the ICARTT
        # file's flight when nothing in it says otherwise; the file's own label (a trajectory
        # id, ``merge_20170121``: one per campaign day, not per aircraft) stays as
        # ``flight_label``
        times = ds[TIME].values
        joined = converted_flight(path.name, ds.attrs, times[0] if times.size else None)
        if joined is not None:
            label = str(ds.attrs.get("flight", "")).strip()
            if label and label != joined:
                ds.attrs.setdefault("flight_label", label)
            ds.attrs["flight"] = joined
        return ds


class IagosNetcdfReader(Reader):
    """IAGOS L2 time-series netCDF (``IAGOS_timeseries_*_L2_*.nc4``) and IAGOS-layout files.

    Recognised by the netCDF signature plus a ``UTC_time`` variable (also the layout that
    stratoflow's netCDF writer produces with ``layout="iagos"``).
    """

    name: ClassVar[str] = "iagos_netcdf"
    description: ClassVar[str] = (
        "IAGOS L2 time-series netCDF: validity flags, process flags, errors, flight metadata"
    )
    magic: ClassVar[tuple[bytes, ...]] = NETCDF_MAGIC
    suffixes: ClassVar[tuple[str, ...]] = _SUFFIXES
    priority: ClassVar[int] = 10
    time_variable: ClassVar[str] = "UTC_time"

    @classmethod
    def guess_can_open(cls, path: str | os.PathLike[str]) -> bool:
        """netCDF signature and a ``UTC_time`` variable.

        The file name is not enough: a file converted to the CF layout may keep its
        ``IAGOS_`` name. Only a file netCDF4 cannot open is claimed by its name, so that its
        defect is reported by this reader.
        """
        p = Path(path)
        if not _netcdf_magic_matches(p):
            return False
        try:
            import netCDF4

            with LIBRARY_LOCK, netCDF4.Dataset(p, "r") as nc:
                return cls.time_variable in nc.variables
        except (OSError, RuntimeError, ValueError):
            return p.name.upper().startswith("IAGOS_")

    def _read(self, path: Path) -> xr.Dataset:
        raw, time_name = _open_raw(path, self.time_variable)
        ds = _standardize(path, raw, time_name)
        ds = _translate_flags(path, ds, _VALIDITY_SUFFIX, strict=True)
        ds = _old_validity_flags(path, ds)
        # any other <var>_flag of the file is flags only if its flag_meanings say IAGOS ones
        ds = _translate_flags(path, ds, "_flag", strict=False)
        _link_ancillaries(ds)
        ds.attrs.update(_flight_attrs(ds.attrs))
        return ds


def _old_validity_flags(path: Path, ds: xr.Dataset) -> xr.Dataset:
    """``<var>_val`` of older IAGOS files: validity flags like ``<var>_validity_flag``.

    With ``flag_meanings`` they are translated by them (strictly); without, they are read as
    IAGOS codes when every value is one (or the fill value), else left alone as data.
    """
    valid = [float(f) for f in Flag]
    for name in [str(n) for n in ds.data_vars if str(n).endswith(_OLD_VALIDITY_SUFFIX)]:
        base = name[: -len(_OLD_VALIDITY_SUFFIX)]
        if base not in ds.data_vars or flag_name(base) in ds.data_vars:
            continue
        var = ds.variables[name]
        if "flag_meanings" not in var.attrs:
            values = np.asarray(var.values, dtype=np.float64)
            if not np.isin(values[~np.isnan(values)], valid).all():
                continue
            iagos = cf_flag_attributes()
            var.attrs.update(flag_values=iagos["flag_values"], flag_meanings=iagos["flag_meanings"])
        ds = _translate_flags(path, ds, _OLD_VALIDITY_SUFFIX, strict=True, only=name)
    return ds


def _flag_lut(path: Path, name: str, attrs: Mapping[str, Any]) -> npt.NDArray[np.int64]:
    """Lookup table file code -> stratoflow flag, built from flag_values/flag_meanings."""
    try:
        values = np.atleast_1d(np.asarray(attrs.get("flag_values", []))).astype(np.int64)
    except ValueError:
        raise ReaderError(
            f"flag variable {name!r}: flag_values {attrs.get('flag_values')!r} are not numbers",
            path=path,
        ) from None
    meanings = str(attrs.get("flag_meanings", "")).split()
    if not values.size or len(meanings) != values.size:
        raise ReaderError(
            f"flag variable {name!r}: flag_values {values.tolist()} do not match "
            f"flag_meanings {meanings}",
            path=path,
        )
    if values.min() < 0:
        raise ReaderError(f"flag variable {name!r}: negative flag values", path=path)
    lut = np.full(int(values.max()) + 1, -1, dtype=np.int64)
    for value, meaning in zip(values.tolist(), meanings, strict=True):
        flag = _IAGOS_MEANINGS.get(meaning.lower())
        if flag is None:
            raise ReaderError(
                f"flag variable {name!r}: unknown flag meaning {meaning!r} "
                f"(known: {', '.join(sorted(_IAGOS_MEANINGS))})",
                path=path,
            )
        lut[value] = int(flag)
    return lut


def _translate(
    path: Path, name: str, var: xr.DataArray
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """Stratoflow flags of a flag variable, and where the file gives no flag at all (fill)."""
    lut = _flag_lut(path, name, var.attrs)
    values = np.asarray(var.values, dtype=np.float64)
    missing = np.isnan(values)  # the fill value, decoded: no flag given
    finite = np.isfinite(values)  # +-inf is no code either, but not "no flag": an error
    codes = np.where(finite, values, 0).astype(np.int64)
    bad = (codes < 0) | (codes >= lut.size) | (codes != np.where(finite, values, 0))
    bad |= ~finite & ~missing
    bad |= ~missing & (lut[np.clip(codes, 0, lut.size - 1)] < 0)
    if bad.any():
        first = int(np.argmax(bad))
        raise ReaderError(
            f"flag variable {name!r}: value {float(values[first]):g} at index {first} is not "
            "one of its flag_values",
            path=path,
        )
    out = lut[np.clip(codes, 0, lut.size - 1)].astype(FLAG_DTYPE)
    out[missing] = int(Flag.MISSING)
    return out, missing


def _translate_flags(
    path: Path, ds: xr.Dataset, suffix: str, *, strict: bool, only: str | None = None
) -> xr.Dataset:
    """Turn ``<var><suffix>`` variables into stratoflow ``<var>_flag`` variables.

    The translation goes through ``flag_meanings``, so a file whose codes differ from the IAGOS
    ones is still read right. ``strict`` (IAGOS files) makes unknown meanings an error; otherwise
    such a flag is kept, renamed ``<var>_source_flag``, as an ordinary ancillary variable. A
    value that is no code (+-inf, a fraction, a code not in ``flag_values``) in a variable
    whose meanings are the IAGOS ones is always an error naming variable and index; NaN (the
    decoded fill value) means "no flag given".
    """
    new: dict[str, xr.Variable] = {}
    drop: list[str] = []
    for name in list(ds.data_vars):
        key = str(name)
        base = key[: -len(suffix)]
        if not key.endswith(suffix) or base not in ds.data_vars or only not in (None, key):
            continue
        try:
            codes, no_flag = _translate(path, key, ds[key])
        except ReaderError:
            # a variable that declares IAGOS flags but holds a non-code (+-inf, 5) is broken,
            # not someone else's scheme: an error naming it, in every reader
            if strict or declares_iagos_flags(ds[key].attrs):
                raise
            drop.append(key)
            attrs = dict(ds[key].attrs)
            attrs.setdefault("units", "1")
            new[f"{base}_source_flag"] = xr.Variable((TIME,), ds[key].values, attrs)
            continue
        if ds[base].dtype.kind in "fiu":
            # A value the file gives without any flag (the flag is its fill value) is data
            # nobody has judged yet: not validated, never "missing" - that would drop it.
            present = np.isfinite(np.asarray(ds[base].values, dtype=np.float64))
            codes[no_flag & present] = int(Flag.NOT_VALIDATED)
        attrs = cf_flag_attributes()
        attrs["long_name"] = f"validity flag of {base}"
        drop.append(key)
        stray = flag_name(base)
        if stray != key and stray in ds.data_vars:  # the file's own <var>_flag: kept aside
            drop.append(stray)
            new[f"{base}_source_flag"] = ds[stray].variable
        new[flag_name(base)] = xr.Variable((TIME,), codes, attrs)
    ds = ds.drop_vars(drop)
    for key, var in new.items():
        ds[key] = var
    return ds


def _link_ancillaries(ds: xr.Dataset) -> None:
    """Name flags, process flags and errors in their variable's ``ancillary_variables``."""
    for name in list(ds.data_vars):
        base = str(name)
        wanted = [flag_name(base)] + [base + s for s in _ANCILLARY_SUFFIXES]
        present = [n for n in wanted if n in ds.data_vars]
        if not present and "ancillary_variables" not in ds[base].attrs:
            continue
        # Names of translated flags are replaced; names of absent variables are dropped.
        listed = [
            flag_name(n[: -len(_VALIDITY_SUFFIX)])
            if n.endswith(_VALIDITY_SUFFIX)
            else flag_name(n[: -len(_OLD_VALIDITY_SUFFIX)])
            if n.endswith(_OLD_VALIDITY_SUFFIX) and n not in ds.data_vars
            else n
            for n in str(ds[base].attrs.get("ancillary_variables", "")).split()
        ]
        listed = [n for n in dict.fromkeys(listed) if n in ds.data_vars]
        names = listed + [n for n in present if n not in listed]
        if names:
            ds[base].attrs["ancillary_variables"] = " ".join(names)
        else:
            del ds[base].attrs["ancillary_variables"]


def _flight_attrs(attrs: Mapping[str, Any]) -> dict[str, str]:
    """Standard stratoflow attributes from IAGOS global attributes (originals are kept too)."""
    out: dict[str, str] = {}
    pairs = {
        "flight": "flight_name",
        "departure_time": "departure_UTC_time",
        "arrival_time": "arrival_UTC_time",
        "departure_airport": "departure_airport",
        "arrival_airport": "arrival_airport",
        "platform": "platform",
    }
    for key, source in pairs.items():
        if source in attrs and str(attrs[source]).strip():
            out[key] = str(attrs[source]).strip()
    if "provider" not in attrs:
        out["provider"] = str(attrs.get("publisher_name") or attrs.get("project") or "IAGOS")
    match = _REGISTRATION.search(str(attrs.get("platform", "")))
    if match and "aircraft_registration" not in attrs:
        out["aircraft_registration"] = match.group(1)
    return out
