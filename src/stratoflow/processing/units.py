"""Unit conversion with pint, reading UDUNITS strings as the standardized Dataset writes them.

Conversion factors are never written by hand: pint knows them (offsets such as degC -> K
included). This module only translates UDUNITS spellings pint does not read — ``m s-1``
(exponent glued to the unit), a bare scale factor such as ``1e-9`` for a mixing ratio — and
adds the handful of atmospheric names pint lacks (``ppb``, ``degree_north``...).

Example::

    >>> convert([1013.25], "hPa", "Pa").tolist()
    [101325.0]
    >>> convert([40.0], "1e-9", "ppm").tolist()
    [0.04]
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from tokenize import TokenError
from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.errors import ConfigError
from stratoflow.readers.base import UNKNOWN_UNITS

__all__ = ["convert", "convert_coefficient", "convertible", "to_pint"]

_BUILT: list[Any] = []
_BUILDING = threading.Lock()


def _registry() -> Any:
    """pint's registry with the units of our files, built on first use: importing pint and
    building it take a quarter of a second, which every process that sets up Django (each CLI
    command, worker, scheduler) would otherwise pay at start-up without converting a unit.
    Built once under a lock: units of two registries cannot be combined, so two task threads
    converting at once must not each build their own."""
    if _BUILT:
        return _BUILT[0]
    with _BUILDING:
        if not _BUILT:
            _BUILT.append(_build_registry())
    return _BUILT[0]


def _build_registry() -> Any:
    import pint

    registry: Any = pint.UnitRegistry()
    for definition in (
        "ppm = 1e-6 = ppmv",
        "ppb = 1e-9 = ppbv",
        "ppt = 1e-12 = pptv",
        "degree_north = degree = degrees_north = degree_N",
        "degree_east = degree = degrees_east = degree_E",
    ):
        registry.define(definition)
    # UDUNITS names of the temperature scales pint spells otherwise (offset units: a wrong
    # guess here would shift every value, so these are aliases of pint's own, never new
    # definitions)
    for alias in (
        "@alias degree_Celsius = Celsius = deg_C = degree_C = degrees_C = degrees_Celsius",
        "@alias kelvin = Kelvin = degree_K = degrees_K = deg_K",
        "@alias degree_Fahrenheit = Fahrenheit = degree_F = degrees_F = deg_F",
    ):
        registry.define(alias)
    return registry


def _pint_error() -> type[Exception]:
    """pint's error class, for ``except`` clauses (evaluated only when something is raised)."""
    import pint.errors

    return pint.errors.PintError


_POWER_OF_TEN = re.compile(r"^10\^(-?\d+)$")
_TOKEN = re.compile(r"^([A-Za-z_%]+)(\^?-?\d+)?$")


@lru_cache(maxsize=256)
def to_pint(units: str) -> tuple[float, Any]:
    """``(scale, pint unit)`` of a UDUNITS string; ``1e-9`` is ``(1e-9, dimensionless)``."""
    text = units.strip()
    if not text:
        raise ConfigError("empty units string")
    if text == UNKNOWN_UNITS:  # what a reader gives when the file states no units
        raise ConfigError(
            "the source file gives no units (units 'unknown'), so its values cannot be "
            "converted (for a delimited log, give them with the reader's 'units' option)"
        )
    scale = 1.0
    factors: list[str] = []
    for token in re.split(r"[\s*]+|(?<=[A-Za-z])\.(?=[A-Za-z])", text):
        if not token:
            continue
        try:
            scale *= float(token)
        except ValueError:
            pass
        else:
            continue
        power = _POWER_OF_TEN.match(token)
        if power is not None:  # UDUNITS "10^-9"
            scale *= 10.0 ** int(power[1])
            continue
        match = _TOKEN.match(token)
        if match is None:
            factors.append(f"({token})")
            continue
        name, exponent = match.groups()
        factors.append(f"{name}**{exponent.lstrip('^')}" if exponent else name)
    try:
        return scale, _registry().parse_units("*".join(factors) or "dimensionless")
    except (_pint_error(), TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"units {units!r} are not understood: {exc}") from exc
    except (TokenError, AssertionError) as exc:
        # pint's parser tokenises units as Python: unbalanced brackets ("#/cm3", "ppb)")
        # raise tokenize's TokenError, empty ones ("()", "--") fail an assertion; both
        # escaped as a crash of the whole import instead of "units not understood"
        raise ConfigError(f"units {units!r} are not understood: cannot parse them") from exc


def convertible(from_units: str, to_units: str) -> bool:
    """Whether values in ``from_units`` can be expressed in ``to_units``."""
    try:
        return bool(to_pint(from_units)[1].dimensionality == to_pint(to_units)[1].dimensionality)
    except ConfigError:
        return False


def convert(values: npt.ArrayLike, from_units: str, to_units: str) -> npt.NDArray[np.float64]:
    """``values`` in ``from_units`` expressed in ``to_units`` (vectorised; NaN stays NaN)."""
    (source_scale, source), (target_scale, target) = to_pint(from_units), to_pint(to_units)
    data = np.asarray(values, dtype=np.float64)
    try:
        # built from the unit itself, so offset units (degC) convert with their offset
        quantity = _registry().Quantity(data * source_scale, source)
        out = quantity.to(target).magnitude / target_scale
    except _pint_error() as exc:
        raise ConfigError(f"cannot convert {from_units!r} to {to_units!r}: {exc}") from exc
    return np.asarray(out, dtype=np.float64)


def convert_coefficient(value: float, given: str, data_units: str, power: int) -> float:
    """A calibration coefficient ``c`` (in ``given``) such that ``c * x**power`` is in
    ``data_units`` when ``x`` is: i.e. ``c`` expressed in ``data_units**(1 - power)``.

    Coefficients are *differences*, never absolute readings: an offset of ``0.5 degC`` added
    to a temperature in ``K`` is ``0.5 K``, not ``273.65 K``, so offset units (degC) are taken
    as their deltas. Example::

        >>> convert_coefficient(0.5, "degC", "K", 0)
        0.5
        >>> round(convert_coefficient(0.01, "ppm-1", "ppb", 2), 12)
        1e-05
    """
    (g_scale, g_unit), (d_scale, d_unit) = to_pint(given), to_pint(data_units)
    try:
        zero_base = _registry().Quantity(0.0, d_unit).to_base_units()
        if zero_base.magnitude != 0:  # offset unit (degC): its size as a difference
            one_base = _registry().Quantity(1.0, d_unit).to_base_units()
            d_scale *= float(one_base.magnitude - zero_base.magnitude)
            d_unit = zero_base.units
        if power == 0:
            # a difference: the offset of the unit conversion cancels
            zero, one = convert([0.0, value], given, data_units)
            return float(one - zero)
        target = d_unit ** (1 - power)
        quantity = _registry().Quantity(value * g_scale, g_unit)
        return float(quantity.to(target).magnitude / d_scale ** (1 - power))
    except _pint_error() as exc:
        raise ConfigError(
            f"coefficient in {given!r} cannot multiply x**{power} in {data_units!r}: {exc}"
        ) from exc
