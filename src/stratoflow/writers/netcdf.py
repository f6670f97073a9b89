"""netCDF writer: CF-1.8 + ACDD-1.3 files that pass the community's own checkers.

A standardized Dataset becomes a netCDF-4 file with

* an integer time coordinate (``<unit> since <first day> 00:00:00``, the coarsest of s/ms/us/ns
  that represents every time exactly, so times survive a round trip bit for bit);
* for flights (latitude and longitude present) the CF discrete-sampling ``trajectory``
  feature type: a scalar ``trajectory`` id variable with ``cf_role``, and latitude, longitude
  and altitude as auxiliary coordinates of every variable;
* units rewritten to UDUNITS spellings (``ppb`` -> ``1e-9``), standard names kept only where
  they are in the CF table (a curated subset, see :data:`STANDARD_NAMES`); a standard name is
  never guessed from a short name (``p`` may be a pressure, a probability or a pump state,
  ``O3`` a mole fraction or a mass concentration): only the source's own is written;
* flag variables with ``flag_values`` of the variable's own type and blank-separated
  ``flag_meanings``, named in ``ancillary_variables``;
* text variables (an instrument state) as netCDF-4 string variables, which the netCDF readers
  read back as text (the NASA Ames and ICARTT writers, whose formats hold numbers only,
  refuse them unless told to leave them out);
* ACDD global attributes from the Dataset's attributes (title, summary, keywords, platform,
  instrument, project, provider, licence, history of processing) plus computed geospatial and
  time coverage.

``layout="iagos"`` writes the IAGOS data-centre layout instead: ``UTC_time``, IAGOS variable
names (``O3`` -> ``O3_P1``...), ``<var>_validity_flag`` with IAGOS flag meanings; the
``iagos_netcdf`` reader reads it back.

Example::

    >>> from stratoflow.writers.netcdf import NetcdfWriter
    >>> NetcdfWriter(layout="iagos").write(ds, "flight.nc")    # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow import __version__
from stratoflow.dataset import FLAG_SUFFIX, TIME, data_variables
from stratoflow.errors import ConfigError
from stratoflow.flags import Flag
from stratoflow.netcdf_library import LIBRARY_LOCK
from stratoflow.writers.base import Writer, plain_name
from stratoflow.writers.csv import iso_times
from stratoflow.writers.names import plain_tail, unique_names

__all__ = [
    "IAGOS_NAMES",
    "STANDARD_NAMES",
    "NetcdfWriter",
    "udunits",
]

Layout = Literal["cf", "iagos"]

#: Standard names the writer emits (all in the CF standard name table, checked by the tests).
STANDARD_NAMES = frozenset(
    {
        "time",
        "latitude",
        "longitude",
        "altitude",
        "barometric_altitude",
        "height",
        "height_above_mean_sea_level",
        "air_pressure",
        "air_temperature",
        "air_potential_temperature",
        "dew_point_temperature",
        "relative_humidity",
        "humidity_mixing_ratio",
        "specific_humidity",
        "mole_fraction_of_water_vapor_in_air",
        "mole_fraction_of_ozone_in_air",
        "mole_fraction_of_carbon_monoxide_in_air",
        "mole_fraction_of_carbon_dioxide_in_air",
        "mole_fraction_of_methane_in_air",
        "mole_fraction_of_ethane_in_air",
        "mole_fraction_of_nitrogen_dioxide_in_air",
        "mole_fraction_of_nitrogen_monoxide_in_air",
        "number_concentration_of_cloud_liquid_water_particles_in_air",
        "wind_speed",
        "wind_from_direction",
        "eastward_wind",
        "northward_wind",
        "upward_air_velocity",
        "platform_speed_wrt_air",
        "platform_speed_wrt_ground",
        "platform_course",
        "platform_orientation",
        "platform_pitch",
        "platform_roll",
        "solar_zenith_angle",
        "status_flag",
        "number_of_observations",
    }
)
# Modifiers still current in CF (status_flag and number_of_observations are deprecated).
_MODIFIERS = frozenset({"detection_minimum", "standard_error"})

#: IAGOS data-centre variable names for stratoflow short names (``layout="iagos"``).
IAGOS_NAMES: dict[str, str] = {
    "O3": "O3_P1",
    "CO": "CO_P1",
    "H2O": "H2O_gas_P1",
    "RHL": "RHL_P1",
    "RHI": "RHI_P1",
    "T": "air_temp_P1",
    "p": "air_press_AC",
    "alt": "baro_alt_AC",
    "latitude": "lat",
    "longitude": "lon",
}
_IAGOS_MEANINGS = {
    Flag.GOOD: "good",
    Flag.LIMITED: "limited",
    Flag.BAD: "erroneous",
    Flag.NOT_VALIDATED: "not_validated",
    Flag.MISSING: "missing_values",
}

# Non-UDUNITS spellings found in real files -> UDUNITS.
_UNITS = {
    "ppb": "1e-9",
    "ppbv": "1e-9",
    "nmol/mol": "1e-9",
    "nmol mol-1": "1e-9",
    "ppm": "1e-6",
    "ppmv": "1e-6",
    "umol/mol": "1e-6",
    "umol mol-1": "1e-6",
    "ppt": "1e-12",
    "pptv": "1e-12",
    "pmol/mol": "1e-12",
    "pmol mol-1": "1e-12",
    "no cm-3": "cm-3",
    "#/cm3": "cm-3",
    "#/cm^3": "cm-3",
    "cm^-3": "cm-3",
    "percent": "%",
    "deg": "degree",
    "degs": "degree",
    "degrees": "degree",
    "deg c": "degC",
    "c": "degC",
    "m/s": "m s-1",
    "mps": "m s-1",
    "none": "1",
    "": "1",
    "days": "day",
    "hours": "hour",
    "hr": "hour",
    "per mil": "1e-3",
    "permil": "1e-3",
    "mach": "1",
    "gpm": "m",  # geopotential metre: a geopotential height in m (CF geopotential_height)
}
_VERTICAL = frozenset({"altitude", "barometric_altitude", "height", "height_above_mean_sea_level"})
_LAT_UNITS, _LON_UNITS = "degrees_north", "degrees_east"
_COVERAGE = frozenset(
    {
        "image",
        "thematicClassification",
        "physicalMeasurement",
        "auxiliaryInformation",
        "qualityInformation",
        "referenceInformation",
        "modelResult",
        "coordinate",
    }
)
_DROP_GLOBALS = frozenset(
    {
        "Conventions",
        "featureType",
        "cdm_data_type",
        "standard_name_vocabulary",
        "geospatial_bounds",
        "geospatial_bounds_crs",
        "geospatial_bounds_vertical_crs",
        "time_coverage_start",
        "time_coverage_end",
        "time_coverage_duration",
        "time_coverage_resolution",
        "number_observations",
        "index_ascent",
        "index_descent",
        "date_modified",
        "date_issued",
        "date_metadata_modified",
    }
)
_ALT_NAMES = ("alt", "altitude", "baro_alt_ac", "gps_alt_ac", "gps_alt", "altp", "gpsalt")
_TIME_UNITS = (
    ("seconds", 1_000_000_000),
    ("milliseconds", 1_000_000),
    ("microseconds", 1_000),
    ("nanoseconds", 1),
)
_NAME_OK = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _attribute_name(key: str) -> str:
    """``key`` as CF 2.3 wants an attribute name (:func:`plain_name`: ASCII letters, digits
    and underscores, a letter first); one of netCDF's own (``_FillValue``...) as it is."""
    return key if _NAME_OK.match(key) or key.startswith("_") else plain_name(key)


def udunits(units: str) -> str:
    """A UDUNITS spelling of ``units`` (``ppb`` -> ``1e-9``); unknown spellings are kept."""
    return _UNITS.get(units.strip().lower(), units.strip())


def _standard_name(name: str, attrs: Mapping[str, Any]) -> str | None:
    given = str(attrs.get("standard_name", "")).split()
    if given and given[0] in STANDARD_NAMES:
        if len(given) == 1:
            return given[0]
        if len(given) == 2 and given[1] in _MODIFIERS:
            return " ".join(given)
        if given[1:] == ["status_flag"]:
            return "status_flag"  # the deprecated modifier, as a standard name of its own
        return None  # an unknown modifier changes the meaning: better no standard name
    return None  # never guessed from the variable's name: a wrong one is worse than none


def _attr_value(value: Any) -> Any:
    """Attribute values netCDF can store: strings, numbers, numeric arrays."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, np.floating | np.ndarray) and np.asarray(value).dtype == np.float16:
        return np.asarray(value, dtype=np.float32)[()]  # netCDF has no half floats
    if isinstance(value, str | int | float | np.integer | np.floating):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return value
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return " ".join(value)
    return str(value)


def _encode_time(times: npt.NDArray[np.datetime64]) -> tuple[npt.NDArray[Any], str]:
    """Offsets from the first day's midnight in the coarsest exact unit.

    CF-1.8 has no 64-bit integers: int32 when the offsets fit, else float64, which is still
    exact for integer offsets below 2**53 (285 years in microseconds, 104 days in ns).
    """
    ns = times.astype("datetime64[ns]").view(np.int64)
    day = times[0].astype("datetime64[D]") if times.size else np.datetime64("1970-01-01", "D")
    offsets = ns - day.astype("datetime64[ns]").view(np.int64)
    for unit, factor in _TIME_UNITS:
        if not (offsets % factor).any():
            scaled = offsets // factor
            units = f"{unit} since {day} 00:00:00"
            if not scaled.size or (scaled.min() >= -(2**31) and scaled.max() < 2**31):
                return scaled.astype(np.int32), units
            if np.abs(scaled).max() >= 2**53:
                raise ConfigError("netcdf writer: time span too long to store exactly")
            return scaled.astype(np.float64), units
    raise AssertionError("nanoseconds always divide")  # pragma: no cover


#: Units that say "an angle in degrees" (a ``lat``/``lon`` in them is a position).
_DEGREES = {
    "latitude": {
        *("degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degn"),
        *("°n", "° n", "degrees n", "decimal degrees n"),
    },
    "longitude": {
        *("degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "dege"),
        *("°e", "° e", "degrees e", "decimal degrees e"),
    },
}
_PLAIN_DEGREES = {"degree", "degrees", "deg", "degs", "decimal degrees", "°"}
#: The units by which CF itself recognises a latitude or longitude.
_CF_UNITS = {
    "latitude": {"degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn"},
    "longitude": {"degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"},
}
_NOT_POSITION = ("_error", "_err", "_std", "_stddev", "_uncertainty", "_flag")
#: The position axes: CF ``axis`` value and the names that say which it is.
_POSITION = {"latitude": ("Y", ("lat", "latitude")), "longitude": ("X", ("lon", "longitude"))}


def _find(ds: xr.Dataset, standard: str, names: tuple[str, ...]) -> str | None:
    """The variable whose standard name is ``standard``, else one of ``names``.

    Exactly ``standard``: ``altitude standard_error`` is the uncertainty of an altitude, not
    one (this writer writes it so for an altitude's ``_error`` variable).
    """
    for name in ds.data_vars:
        if str(ds[name].attrs.get("standard_name", "")).strip() == standard:
            return str(name)
    lowered = {str(n).lower(): str(n) for n in ds.data_vars}
    for candidate in names:
        if candidate in lowered:
            return lowered[candidate]
    return None


def _in_degrees(name: str, attrs: Mapping[str, Any], standard: str) -> bool:
    """Whether the units of ``name`` make it a ``standard`` (latitude or longitude).

    CF 4.1/4.2: units of degrees_north (east) alone make a variable a latitude (longitude),
    whatever its name ("GPS_latitude"); left unnamed, the CF checker finds a latitude without
    standard_name. Plain degrees do only under the position's own name (``lat``), and a
    ``lat`` in other units (hPa) is no position. An uncertainty of it is none either, nor a
    variable whose standard name says it is something else.
    """
    unit = str(attrs.get("units", "")).strip().lower()
    if str(attrs.get("standard_name", "")).strip() not in ("", standard):
        return False
    if name.lower() in _POSITION[standard][1]:
        return unit in _DEGREES[standard] | _PLAIN_DEGREES
    return unit in _CF_UNITS[standard] and not name.lower().endswith(_NOT_POSITION)


def _position(ds: xr.Dataset, standard: str, given: str | None) -> str | None:
    """The variable the file's trajectory uses as ``standard`` (latitude or longitude).

    ``given`` (the writer's ``latitude``/``longitude`` option) wins. Otherwise the candidates
    are the variables whose standard name is exactly ``standard`` (not a ``standard_error``
    of it); failing those, the variables whose units make them one (:func:`_in_degrees`). An
    aircraft file may hold two (the aircraft's and a GPS or sub-instrument's): they are
    narrowed to the one with CF ``axis`` Y (X), then to the one ACDD calls the ``coordinate``
    (``coverage_content_type``: a file this writer wrote, read back by a reader that drops
    ``axis``), then to the one named ``lat``/``latitude`` (``lon``/``longitude``); when that
    leaves more than one, the choice would depend on the variables' order, and the writer
    refuses, naming them. The file marks its choice (``axis``) and gives the other latitudes
    their standard name too (CF takes their units for a latitude's anyway).
    """
    axis, names = _POSITION[standard]
    if given is not None:
        if given not in ds.data_vars:
            raise ConfigError(
                f"netcdf writer: the {standard} variable {given!r} (option {standard}) is not "
                f"in the dataset; its variables: {sorted(map(str, ds.data_vars))}"
            )
        _check_degrees(ds, given, standard)
        return given
    candidates = [
        str(n)
        for n in ds.data_vars
        if str(ds[n].attrs.get("standard_name", "")).strip() == standard
    ]
    if not candidates:
        candidates = [str(n) for n in ds.data_vars if _in_degrees(str(n), ds[n].attrs, standard)]
    preferences = (
        [n for n in candidates if str(ds[n].attrs.get("axis", "")).strip().upper() == axis],
        [n for n in candidates if ds[n].attrs.get("coverage_content_type") == "coordinate"],
        [n for n in candidates if n.lower() in names],
    )
    for preferred in preferences:
        if len(candidates) > 1 and (subset := [n for n in candidates if n in preferred]):
            candidates = subset
    if len(candidates) > 1:
        raise ConfigError(
            f"netcdf writer: {len(candidates)} variables could be the {standard} of the "
            f"trajectory: {sorted(candidates)} (none of them alone has axis={axis!r}, "
            f"coverage_content_type 'coordinate' or the name {names[0]!r}/{names[1]!r}); "
            f"name the one to use with the writer option {standard}=..."
        )
    if candidates:
        _check_degrees(ds, candidates[0], standard)
    return candidates[0] if candidates else None


def _check_degrees(ds: xr.Dataset, name: str, standard: str) -> None:
    """Refuse a position in units other than degrees: the writer labels it ``degrees_north``
    (``degrees_east``), which would make radians or metres (a named GPS column, a standard
    name on projected coordinates) silently wrong. No units at all are taken as degrees."""
    unit = str(ds[name].attrs.get("units", "")).strip().lower()
    if unit and unit not in _DEGREES[standard] | _PLAIN_DEGREES | _CF_UNITS[standard]:
        raise ConfigError(
            f"netcdf writer: the {standard} variable {name!r} is in {unit!r}, not degrees; "
            "convert it (processing step 'units') before writing"
        )


#: Attributes that name the flight, in order of preference (as the importer and the ICARTT
#: writer read them): readers, the catalog and the samples write ``flight_id``.
_FLIGHT_KEYS = ("flight_id", "flight", "flight_number")


def _flight_name(attrs: Mapping[Hashable, Any]) -> str:
    """The flight's name from ``attrs`` ('' when none names it)."""
    return next((str(attrs[k]).strip() for k in _FLIGHT_KEYS if str(attrs.get(k, "")).strip()), "")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(t: np.datetime64) -> str:
    """``t`` in ISO 8601 UTC at the coarsest exact precision: cut to whole seconds, a
    coverage ending at 10:00:00.75 ended before the file's last record."""
    return str(iso_times(np.array([t]))[0])


class NetcdfWriter(Writer):
    """Write CF-1.8/ACDD-1.3 netCDF-4 (``layout="cf"``) or the IAGOS layout (``"iagos"``).

    ``complevel`` is the zlib level (0 = uncompressed); ``names`` adds or overrides variable
    renames of the IAGOS layout (default :data:`IAGOS_NAMES`). ``latitude``/``longitude`` name
    the trajectory's position variables when the dataset has several candidates (see
    :func:`_position` for how they are chosen otherwise).
    """

    name: ClassVar[str] = "netcdf"
    description: ClassVar[str] = "netCDF-4, CF-1.8 + ACDD-1.3 (layout 'cf' or 'iagos')"
    suffix: ClassVar[str] = ".nc"

    def __init__(
        self,
        *,
        layout: Layout = "cf",
        complevel: int = 1,
        names: Mapping[str, str] | None = None,
        latitude: str | None = None,
        longitude: str | None = None,
    ) -> None:
        if layout not in ("cf", "iagos"):
            raise ConfigError(f"netcdf writer: unknown layout {layout!r} (use 'cf' or 'iagos')")
        if not 0 <= complevel <= 9:
            raise ConfigError(f"netcdf writer: complevel must be 0..9, got {complevel}")
        self.layout: Layout = layout
        self.complevel = complevel
        self.names = dict(names or {})
        self.latitude, self.longitude = latitude, longitude

    def __repr__(self) -> str:
        return f"NetcdfWriter(layout={self.layout!r}, complevel={self.complevel})"

    def _write(self, ds: xr.Dataset, path: Path) -> None:
        out, encoding = self.to_cf(ds)
        with LIBRARY_LOCK:  # netCDF-C/HDF5: one file at a time per process (see the module)
            out.to_netcdf(path, format="NETCDF4", engine="netcdf4", encoding=encoding)

    # The conversion is public so that callers (and tests) can inspect what would be written.
    def to_cf(self, ds: xr.Dataset) -> tuple[xr.Dataset, dict[str, dict[str, Any]]]:
        """The Dataset as it will be written, and the per-variable netCDF encoding."""
        renames = self._renames(ds)
        chosen = {**IAGOS_NAMES, **self.names} if self.layout == "iagos" else {}
        time_name = "UTC_time" if self.layout == "iagos" else TIME
        lat = _position(ds, "latitude", self.latitude)
        lon = _position(ds, "longitude", self.longitude)
        alt = _find(ds, "altitude", ()) or _find(ds, "barometric_altitude", _ALT_NAMES)
        trajectory = lat is not None and lon is not None
        reserved = {time_name: "the time coordinate"}
        if trajectory:
            reserved["trajectory"] = "the trajectory identifier (CF discrete sampling geometry)"
        for key, new in renames.items():
            if new in reserved:  # written over by (or over) that variable otherwise
                raise ConfigError(
                    f"netcdf writer: variable {key!r} would be written as {new!r}, the name of "
                    f"{reserved[new]} in this layout; rename it before writing"
                )
        coords = [n for n in (lat, lon, alt) if n is not None] if trajectory else []
        times = np.asarray(ds[TIME].values)
        offsets, units = _encode_time(times)

        variables: dict[str, xr.Variable] = {}
        encoding: dict[str, dict[str, Any]] = {}
        compress = (
            {"zlib": True, "complevel": self.complevel, "shuffle": True} if (self.complevel) else {}
        )
        time_attrs = {
            "standard_name": "time",
            "long_name": "time (UTC)",
            "units": units,
            "calendar": "standard",
            "axis": "T",
        }
        if self.layout == "iagos":
            time_attrs["long_name"] = "UTC time"
        variables[time_name] = xr.Variable((time_name,), offsets, time_attrs)
        encoding[time_name] = {"_FillValue": None, **compress}

        measured = set(data_variables(ds))
        for name, var in ds.data_vars.items():
            key = str(name)
            new = renames[key]
            attrs, values = self._variable(ds, key, var, renames, measured, coords)
            flag = key.endswith(FLAG_SUFFIX) and key.removesuffix(FLAG_SUFFIX) in ds.data_vars
            if new != key and not flag and key not in chosen:
                attrs.setdefault("original_name", key)  # the source's own name, as written
            if key == lat:
                attrs.update(standard_name="latitude", units=_LAT_UNITS)
                if trajectory:  # the one the trajectory uses, among several latitudes
                    attrs.update(axis="Y")
            elif key == lon:
                attrs.update(standard_name="longitude", units=_LON_UNITS)
                if trajectory:
                    attrs.update(axis="X")
            elif key == alt and trajectory:
                attrs.setdefault("positive", "up")
                attrs.update(axis="Z")
            elif "standard_name" not in attrs:
                # another latitude (a GPS's): CF takes its units for a latitude's, and a
                # latitude without standard name or axis is a finding of the CF checker
                for standard in _POSITION:
                    if _in_degrees(key, var.attrs, standard):
                        attrs["standard_name"] = standard
            enc: dict[str, Any] = {**compress}
            if values.dtype.kind == "f":
                enc["_FillValue"] = np.nan
            else:
                enc["_FillValue"] = None
            if trajectory and key not in coords:
                attrs["coordinates"] = " ".join([time_name, *(renames[c] for c in coords)])
            if "cell_methods" in attrs and time_name != TIME:
                # cell_methods name dimensions: follow the renamed time dimension.
                attrs["cell_methods"] = re.sub(
                    rf"(?<!\w){TIME}:", f"{time_name}:", str(attrs["cell_methods"])
                )
            variables[new] = xr.Variable((time_name,), values, attrs)
            encoding[new] = enc

        attrs = self._globals(ds, times, lat, lon, alt, trajectory)
        if trajectory:
            flight = _flight_name(ds.attrs) or str(ds.attrs.get("source_file") or "flight")
            variables["trajectory"] = xr.Variable(
                (),
                np.array(flight, dtype=object),
                {"cf_role": "trajectory_id", "long_name": "flight identifier"},
            )
        out = xr.Dataset(variables, attrs=attrs)
        return out, encoding

    def _renames(self, ds: xr.Dataset) -> dict[str, str]:
        """The name each variable is written as: a chosen one (IAGOS layout: the name table)
        as it is, a source file's own made a CF name (:func:`plain_name`, its text kept in
        ``original_name``); names that then collide are told apart (:func:`unique_names`),
        each flag, error... following its variable (``Ozone_2``, ``Ozone_2_flag``)."""
        table = {**IAGOS_NAMES, **self.names} if self.layout == "iagos" else {}
        for name, new in table.items():
            if name in ds.data_vars and not _NAME_OK.match(new):
                # a name someone chose: say so rather than change it
                raise ConfigError(f"netcdf writer: {new!r} (from {name!r}) is not a CF name")
        flag_suffix = "_validity_flag" if self.layout == "iagos" else FLAG_SUFFIX
        roots: dict[str, str] = {}
        members: dict[str, tuple[str, str]] = {}
        flags: set[str] = set()
        names = [str(n) for n in ds.data_vars]
        for name in names:
            stem = name.removesuffix(FLAG_SUFFIX)
            if stem != name and stem in ds.data_vars:
                members[name] = (stem, flag_suffix)
                flags.add(name)
                continue
            owner = _owner(name, names, table)
            if owner is not None:  # O3_error of a renamed O3: the same name + _error
                members[name] = (owner, "_" + plain_tail(name[len(owner) + 1 :]))
            else:
                roots[name] = table.get(name) or plain_name(name)
        try:
            return unique_names(
                roots,
                members,
                chosen=[n for n in roots if n in table],
                fixed_tails=flags,
                avoid=("trajectory", "UTC_time", TIME),
                fold=True,
            )
        except ConfigError as exc:
            raise ConfigError(f"netcdf writer: {exc}") from None

    def _variable(
        self,
        ds: xr.Dataset,
        key: str,
        var: xr.DataArray,
        renames: Mapping[str, str],
        measured: set[str],
        coords: list[str],
    ) -> tuple[dict[str, Any], npt.NDArray[Any]]:
        values = np.asarray(var.values)
        kept = {
            str(k): v
            for k, v in var.attrs.items()
            if str(k)
            not in {
                "standard_name",
                "units",
                "ancillary_variables",
                "axis",
                "flag_values",
                "flag_meanings",
                "coordinates",
                "positive",
            }
        }
        # a source's attribute names as CF wants them (EBAS: "Measurement uncertainty"),
        # told apart where two become one, as the global attributes are
        keys = unique_names({k: _attribute_name(k) for k in kept}, {})
        attrs: dict[str, Any] = {keys[k]: _attr_value(v) for k, v in kept.items()}
        attrs.setdefault("long_name", key)
        is_flag = key.endswith(FLAG_SUFFIX) and key[: -len(FLAG_SUFFIX)] in ds.data_vars
        if is_flag:
            # "<name> status_flag" modifiers are deprecated: the flag is tied to its variable
            # through ancillary_variables instead.
            attrs["standard_name"] = "status_flag"
            codes = [int(f) for f in Flag]
            values = values.astype(np.int8)  # CF-1.8 has no unsigned types
            attrs["flag_values"] = np.array(codes, dtype=np.int8)
            labels = _IAGOS_MEANINGS if self.layout == "iagos" else {f: f.label for f in Flag}
            attrs["flag_meanings"] = " ".join(labels[Flag(c)] for c in codes)
            attrs["coverage_content_type"] = "qualityInformation"
            return attrs, values
        values = _cf_numbers(values, key)
        if "flag_values" in var.attrs:
            values, attrs = _categorical(values, var.attrs, attrs)
        else:
            attrs["units"] = udunits(str(var.attrs.get("units", "1")))
        standard = _standard_name(key, var.attrs)
        stem = key.removesuffix("_error")
        if standard is None and stem != key and stem in ds.data_vars:
            # An uncertainty variable: "<standard name of its variable> standard_error".
            stem_standard = _standard_name(stem, ds[stem].attrs)
            if stem_standard is not None and len(stem_standard.split()) == 1:
                standard = f"{stem_standard} standard_error"
        if standard is not None:
            attrs["standard_name"] = standard
            if standard in _VERTICAL:
                attrs["positive"] = "up"  # CF: a vertical coordinate says which way is up
        ancillary = [
            renames[n]
            for n in str(var.attrs.get("ancillary_variables", "")).split()
            if n in renames
        ]
        if ancillary:
            attrs["ancillary_variables"] = " ".join(ancillary)
        if attrs.get("coverage_content_type") not in _COVERAGE:
            if key in coords:
                attrs["coverage_content_type"] = "coordinate"
            elif key in measured:
                attrs["coverage_content_type"] = "physicalMeasurement"
            else:
                attrs["coverage_content_type"] = "qualityInformation"
        return attrs, values

    def _globals(
        self,
        ds: xr.Dataset,
        times: npt.NDArray[np.datetime64],
        lat: str | None,
        lon: str | None,
        alt: str | None,
        trajectory: bool,
    ) -> dict[str, Any]:
        kept = {str(k): v for k, v in ds.attrs.items() if str(k) not in _DROP_GLOBALS}
        # a key with a ':' or blank made a netCDF name; one that then repeats another
        # (``geospatial:note`` beside ``geospatial_note``) overwrote it: told apart instead
        keys = unique_names({k: _attribute_name(k) for k in kept}, {})
        src = {keys[k]: v for k, v in kept.items()}
        attrs: dict[str, Any] = {k: _attr_value(v) for k, v in src.items()}
        if "licence" in attrs and "license" not in attrs:
            attrs["license"] = attrs.pop("licence")
        measured = data_variables(ds)
        platform = str(attrs.get("platform", "")).strip()
        flight = _flight_name(ds.attrs)
        what = ", ".join(measured[:8]) or "measurements"
        attrs.setdefault(
            "title",
            " ".join(
                p
                for p in (
                    "Flight" if trajectory else "Time series",
                    flight,
                    f"({platform})" if platform else "",
                    ":",
                    what,
                )
                if p
            ).replace(" :", ":"),
        )
        attrs.setdefault(
            "summary",
            f"{what} measured {('on ' + platform) if platform else ''}"
            f" between {_iso(times[0]) if times.size else '?'} and "
            f"{_iso(times[-1]) if times.size else '?'}, written by stratoflow.",
        )
        keywords = sorted({str(ds[n].attrs.get("long_name", n)) for n in measured})
        attrs.setdefault("keywords", ", ".join(keywords) or "atmosphere")
        attrs.setdefault("license", "unknown: ask the data provider")
        attrs.setdefault("naming_authority", "org.stratoflow")
        attrs.setdefault("id", flight or str(attrs.get("source_file") or "dataset"))
        attrs.setdefault("institution", str(attrs.get("provider", "unknown")))
        attrs.setdefault("creator_name", str(attrs.get("provider", "unknown")))
        attrs.setdefault("publisher_name", str(attrs.get("provider", "unknown")))
        attrs.setdefault("project", str(attrs.get("provider", "unknown")))
        attrs.setdefault("processing_level", str(attrs.get("data_level", "unknown")))
        attrs.setdefault("source", str(attrs.get("source_file", "stratoflow")))
        now = _now()
        history = str(attrs.get("history", "")).strip()
        line = f"{now} stratoflow {__version__} netcdf writer (layout={self.layout})"
        attrs["history"] = f"{history}\n{line}" if history else line
        attrs["Conventions"] = "CF-1.8, ACDD-1.3"
        attrs["standard_name_vocabulary"] = "CF Standard Name Table v93"
        attrs["date_created"] = attrs.get("date_created", now)
        attrs["date_modified"] = now
        attrs["date_metadata_modified"] = now
        if trajectory:
            attrs["featureType"] = "trajectory"
            attrs["cdm_data_type"] = "Trajectory"
        if times.size:
            attrs["time_coverage_start"] = _iso(times[0])
            attrs["time_coverage_end"] = _iso(times[-1])
            span = int((times[-1] - times[0]) / np.timedelta64(1, "ns"))
            seconds, ns = divmod(span, 1_000_000_000)
            fraction = f".{ns:09d}".rstrip("0") if ns else ""
            attrs["time_coverage_duration"] = f"PT{seconds}{fraction}S"
        for axis, name, unit in (
            ("lat", lat, _LAT_UNITS),
            ("lon", lon, _LON_UNITS),
            ("vertical", alt, "m"),
        ):
            if name is None:
                continue
            values = np.asarray(ds[name].values, dtype=np.float64)
            finite = values[np.isfinite(values)]
            if axis == "vertical":
                unit = _vertical_units(str(ds[name].attrs.get("units", "")))
            if finite.size:
                attrs[f"geospatial_{axis}_min"] = float(finite.min())
                attrs[f"geospatial_{axis}_max"] = float(finite.max())
                attrs[f"geospatial_{axis}_units"] = unit
        if alt is not None and "geospatial_vertical_min" in attrs:
            attrs["geospatial_vertical_positive"] = "up"
        return attrs


def _owner(name: str, names: list[str], table: Mapping[str, str]) -> str | None:
    """The variable ``name`` belongs to by its name (``O3`` of ``O3_error`` and of
    ``O3_flag_original``): the longest other variable, not a flag, that ``name`` starts with
    followed by ``_`` and more; None for a name of the table (chosen) or of no other."""
    if name in table:
        return None
    owners = [
        stem
        for stem in names
        if name.startswith(stem + "_")
        and plain_tail(name[len(stem) + 1 :])
        and not (stem.endswith(FLAG_SUFFIX) and stem.removesuffix(FLAG_SUFFIX) in names)
    ]
    return max(owners, key=len, default=None)


def _vertical_units(units: str) -> str:
    """The units of ``geospatial_vertical_min/max``: the vertical coordinate's own.

    The extents are its minimum and maximum as they stand, and ACDD checkers compare them
    with its values (compliance-checker's ``geospatial_vertical_extents_match``); an altitude
    in km (ICARTT merges) labelled ``m`` put a flight up to 6.9 km below 7 m.
    """
    return udunits(units) if units.strip() else "m"


def _cf_numbers(values: npt.NDArray[Any], name: str) -> npt.NDArray[Any]:
    """``values`` in a CF-1.8 type (byte, short, int, float, double: CF 2.2).

    Integers come from CSV columns (int64) or instruments (uint16 counters); CF-1.8 knows
    neither unsigned nor 64-bit types and the checker reports them. Unsigned bytes and shorts
    widen to the next signed type; wider integers become int32 when their values fit, else
    float64, which holds every integer below 2**53 exactly.
    """
    if values.dtype == np.float16:  # no half floats in netCDF; float32 holds each exactly
        return values.astype(np.float32)
    if values.dtype.kind not in "iu" or values.dtype in (np.int8, np.int16, np.int32):
        return values
    if values.dtype in (np.uint8, np.uint16):
        return values.astype(np.int16 if values.dtype == np.uint8 else np.int32)
    info = np.iinfo(np.int32)
    if not values.size or (values.min() >= info.min and values.max() <= info.max):
        return values.astype(np.int32)
    if np.abs(values.astype(np.float64)).max() < 2.0**53:
        return values.astype(np.float64)
    raise ConfigError(
        f"netcdf writer: variable {name!r} holds integers beyond 2**53, which CF-1.8 "
        "(no 64-bit integers) cannot store exactly"
    )


def _categorical(
    values: npt.NDArray[Any], source: Mapping[Hashable, Any], attrs: dict[str, Any]
) -> tuple[npt.NDArray[Any], dict[str, Any]]:
    """A categorical variable with flag_values: integer on disk, flag_values of the same type."""
    flag_values = np.atleast_1d(np.asarray(source["flag_values"])).astype(np.int64)
    meanings = source.get("flag_meanings", "")
    if not isinstance(meanings, str):
        meanings = " ".join(str(m) for m in np.atleast_1d(np.asarray(meanings)))
    attrs["flag_meanings"] = meanings
    if values.dtype.kind == "f":
        finite = values[np.isfinite(values)]
        if finite.size and (finite != np.round(finite)).any():
            attrs["flag_values"] = flag_values.astype(values.dtype)
            return values, attrs
        # NaN stays NaN: an integer fill value would change what a reader gets back.
        attrs["flag_values"] = flag_values.astype(values.dtype)
        return values, attrs
    attrs["flag_values"] = flag_values.astype(values.dtype)
    return values, attrs
