"""Calibration of raw instrument values with the pre- and post-deployment calibrations.

A calibration is a function type and its coefficients, each with units (see
:class:`CalibrationPoint`). For a deployment the catalog picks the *pre*-calibration (latest
before it starts) and the *post*-calibration (earliest after it ends). When both exist the
instrument is assumed to have drifted linearly between them: every coefficient is interpolated
linearly in time between the pre- and post-calibration times (and held constant outside that
span), so a point measured halfway through is calibrated halfway between the two. With only one
calibration its coefficients apply unchanged.

Function types (``x`` raw value, ``y`` calibrated value, coefficients converted to the
variable's units with :mod:`stratoflow.processing.units` first: ``c_i`` in ``units**(1 - i)``,
offsets as differences, so ``0.5 degC`` added to a temperature in ``K`` is ``0.5 K``):

=============  =====================================  ===========================
``linear``     ``y = offset + slope * x``             ``offset`` (var units), ``slope``
``factor``     ``y = factor * x``                     ``factor``
``polynomial`` ``y = c0 + c1 x + c2 x^2 + ...``       ``c0``, ``c1``, ...
=============  =====================================  ===========================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.errors import ConfigError
from stratoflow.processing.units import convert_coefficient

__all__ = ["CalibrationPoint", "calibrate", "utc_time"]

FUNCTIONS = ("linear", "factor", "polynomial")


def utc_time(value: object) -> np.datetime64:
    """A calibration time as naive UTC ``datetime64[ns]``: ISO strings with any UTC offset
    (``Z``, ``+02:00``) and the ``datetime``/``date`` objects YAML turns timestamps into."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        text = str(value).strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return np.datetime64(text, "ns")  # e.g. nanoseconds; naive: taken as UTC
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return np.datetime64(moment, "ns")


@dataclass(frozen=True)
class CalibrationPoint:
    """One calibration: when, which function, coefficients ``name -> {value, units}``."""

    time: np.datetime64
    function: str
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> CalibrationPoint:
        """From ``{"time": ISO, "function": ..., "parameters": {...}}`` (a stored calibration)."""
        try:
            time = utc_time(spec["time"])
            return cls(time, str(spec["function"]), dict(spec.get("parameters") or {}))
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"calibration {dict(spec)!r} needs time (ISO 8601) and function"
            ) from exc

    def coefficients(self, units: str) -> npt.NDArray[np.float64]:
        """Polynomial coefficients ``c0, c1, ...`` with ``c0`` in ``units`` (``1`` = none)."""
        params = self.parameters

        def value(name: str, power: int) -> float:
            if name not in params:
                raise ConfigError(f"{self.function} calibration lacks parameter {name!r}")
            spec = params[name]
            if not isinstance(spec, Mapping) or "value" not in spec:
                raise ConfigError(
                    f"{self.function} calibration parameter {name!r} must be "
                    f"{{value, units}}, got {spec!r}"
                )
            try:
                raw = float(spec["value"])
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"{self.function} calibration parameter {name!r}: value "
                    f"{spec['value']!r} is not a number"
                ) from exc
            if not np.isfinite(raw):
                raise ConfigError(
                    f"{self.function} calibration parameter {name!r}: value {raw} is not finite"
                )
            given = str(spec.get("units", "") or "")
            if not given or given == "1":
                return raw  # no units: already in the variable's units (slope: a ratio)
            # c_i * x**i must come out in the variable's units: c_i in units**(1 - i)
            return convert_coefficient(raw, given, units, power)

        if self.function == "linear":
            return np.array([value("offset", 0), value("slope", 1)])
        if self.function == "factor":
            return np.array([0.0, value("factor", 1)])
        if self.function == "polynomial":
            powers = {int(n[1:]): n for n in params if n[:1] == "c" and n[1:].isdigit()}
            if not powers:
                raise ConfigError("polynomial calibration needs coefficients c0, c1, ...")
            # a coefficient left out is zero: {c0, c2} is c0 + c2 x^2, not c0 + c2 x
            coef = np.zeros(max(powers) + 1)
            for p, n in powers.items():
                coef[p] = value(n, p)
            return coef
        raise ConfigError(f"unknown calibration function {self.function!r}; known {FUNCTIONS}")


def _pad(a: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.float64]:
    return np.pad(a, (0, n - a.size))


def calibrate(
    time: npt.NDArray[np.datetime64],
    values: npt.ArrayLike,
    *,
    units: str,
    pre: CalibrationPoint | None,
    post: CalibrationPoint | None = None,
) -> npt.NDArray[np.float64]:
    """Apply ``pre`` (and ``post``, with linear drift between them) to ``values``."""
    x = np.asarray(values, dtype=np.float64)
    if pre is None and post is None:
        raise ConfigError("calibration needs a pre- or a post-calibration")
    if pre is None or post is None:
        only = pre if pre is not None else post
        assert only is not None
        coef = only.coefficients(units)[:, None] * np.ones(x.size)
    else:
        if post.time < pre.time:
            raise ConfigError(
                f"post-calibration ({post.time}) is earlier than pre-calibration ({pre.time})"
            )
        c_pre, c_post = pre.coefficients(units), post.coefficients(units)
        n = max(c_pre.size, c_post.size)
        c_pre, c_post = _pad(c_pre, n), _pad(c_post, n)
        span = (post.time - pre.time).astype("timedelta64[ns]").astype(np.int64)
        elapsed = (np.asarray(time, "datetime64[ns]") - pre.time).astype(np.int64)
        w = np.clip(elapsed / span, 0.0, 1.0) if span > 0 else np.zeros(x.size)
        coef = c_pre[:, None] * (1.0 - w) + c_post[:, None] * w
    # Horner over coefficients (a handful), vectorised over points
    out = np.zeros_like(x)
    for c in coef[::-1]:
        out = out * x + c
    return out
