"""Position plausibility and ground speed between consecutive fixes.

``position`` fails points whose latitude/longitude are outside the globe or where only one of
the two is present (like QARTOD's location test). ``ground_speed`` computes the great-circle
speed from the previous valid fix; an airliner that "moves" at 500 m/s has a bad fix (or a bad
clock). Both find the coordinates by variable or profile name (default: the ``latitude`` and
``longitude`` profiles), so they can be attached to any variable measured on the aircraft.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stratoflow.qc.base import Param, Probability, QCInput, qc_test, soft_limit
from stratoflow.qc.tests.spike import _ordered

__all__ = ["ground_speed", "position"]

EARTH_RADIUS_M = 6_371_008.8

_COORDS = [
    Param("lat", "string", default="latitude", doc="latitude variable or profile"),
    Param("lon", "string", default="longitude", doc="longitude variable or profile"),
]


@qc_test("position", version="1.0", parameters=_COORDS)
def position(data: QCInput, *, lat: str, lon: str) -> Probability:
    """0 outside [-90, 90] x [-180, 360] or with only one coordinate; NaN without both."""
    la, lo = data.get(lat), data.get(lon)
    with np.errstate(invalid="ignore"):
        bad = (np.abs(la) > 90) | (lo < -180) | (lo > 360) | (np.isnan(la) != np.isnan(lo))
    p = np.where(bad, 0.0, 1.0)
    p[np.isnan(la) & np.isnan(lo)] = np.nan
    return p


def haversine(
    lat1: npt.NDArray[np.float64],
    lon1: npt.NDArray[np.float64],
    lat2: npt.NDArray[np.float64],
    lon2: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Great-circle distance in metres on a spherical Earth."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    out: npt.NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    return out


@qc_test(
    "ground_speed",
    version="1.0",
    parameters=[
        *_COORDS,
        Param("doubtful", "number", default=330.0, exclusive_minimum=0.0, doc="m/s"),
        Param("bad", "number", default=400.0, exclusive_minimum=0.0, doc="m/s"),
    ],
    validator=_ordered,
)
def ground_speed(data: QCInput, *, lat: str, lon: str, doubtful: float, bad: float) -> Probability:
    """Speed over ground from the previous valid fix (judges the later fix)."""
    la, lo = data.get(lat), data.get(lon)
    p = np.full(la.shape, np.nan)
    fix = np.flatnonzero(~(np.isnan(la) | np.isnan(lo)))
    if fix.size > 1:
        dist = haversine(la[fix[:-1]], lo[fix[:-1]], la[fix[1:]], lo[fix[1:]])
        dt = np.abs(np.diff(data.seconds()[fix]))  # newest-first data: steps back in time
        with np.errstate(divide="ignore", invalid="ignore"):
            speed = np.where(dt > 0, dist / dt, np.where(dist > 0, np.inf, 0.0))
        p[fix[1:]] = soft_limit(speed, doubtful, bad)
        p[fix[0]] = 1.0
    return p
