"""Synthetic IAGOS-like flights with known faults, for the demo, tests and benchmarks.

Real data cannot ship with the project, and a QC test is only as good as what it is measured
against, so the generator writes realistic flights *and* tells exactly which points it broke.

A flight: great-circle route between two airports, ascent (~20 min), cruise at 10–12 km with a
step climb, descent (~25 min); 1, 2 or 4 s resolution. Variables follow the IAGOS-CORE package 1
(ozone, carbon monoxide, water vapour) plus aircraft data (temperature, pressure, position):

=========  ==========  =================================================================
name       units       behaviour
=========  ==========  =================================================================
O3         1e-9        30–40 ppb boundary layer, 50–70 ppb free troposphere, 100–400 ppb
                       in stratospheric air at cruise
CO         1e-9        anticorrelated with O3: 150–200 ppb near ground, 30–50 ppb in the
                       stratosphere
H2O        1e-6        ~10^4 ppmv near ground, decaying to tens of ppmv at cruise
T          K           ISA profile with weather
p          Pa          ISA pressure of the altitude
lat, lon   degrees     along the route
alt        m           flight profile
=========  ==========  =================================================================

Injected faults (recorded in :attr:`SampleFlight.faults`): ``spike`` (isolated outliers),
``stuck`` (a window holding one value), ``out_of_range`` (physically impossible values),
``gap`` (missing values, and records missing altogether). Everything is deterministic given
the seed.

Example::

    >>> flight = generate_flight(seed=1)
    >>> int(flight.faults["O3"]["spike"].sum()) > 0
    True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.dataset import make_dataset

__all__ = ["AIRPORTS", "FAULT_KINDS", "SampleFlight", "generate_flight", "write_sample_flights"]

#: IATA code -> (name, latitude, longitude)
AIRPORTS: dict[str, tuple[str, float, float]] = {
    "FRA": ("Frankfurt", 50.033, 8.570),
    "DTW": ("Detroit", 42.212, -83.353),
    "JFK": ("New York", 40.641, -73.778),
    "MUC": ("Munich", 48.354, 11.786),
    "CPT": ("Cape Town", -33.965, 18.602),
    "NRT": ("Tokyo Narita", 35.772, 140.393),
    "TPE": ("Taipei", 25.080, 121.232),
    "WDH": ("Windhoek", -22.480, 17.471),
    "CDG": ("Paris", 49.010, 2.548),
    "YVR": ("Vancouver", 49.195, -123.184),
}
FAULT_KINDS = ("spike", "stuck", "out_of_range", "gap")
_EARTH_RADIUS_M = 6_371_000.0
_QC_VARIABLES = ("O3", "CO", "H2O", "T")


@dataclass(frozen=True)
class SampleFlight:
    """A generated flight: the standardized Dataset and the truth about its faults.

    ``faults[var][kind]`` is a boolean array over ``dataset.time`` marking the points where
    the fault of that kind was injected into ``var``.
    """

    flight_id: str
    dataset: xr.Dataset
    faults: dict[str, dict[str, npt.NDArray[np.bool_]]] = field(repr=False)

    @property
    def file_name(self) -> str:
        """The IAGOS-style file name the data portal would use for this flight."""
        return f"IAGOS_timeseries_{self.flight_id}_L2_sample.nc"


def _great_circle(
    start: tuple[float, float], end: tuple[float, float], fraction: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    lat1, lon1, lat2, lon2 = np.radians([start[0], start[1], end[0], end[1]])
    p1 = np.array([np.cos(lat1) * np.cos(lon1), np.cos(lat1) * np.sin(lon1), np.sin(lat1)])
    p2 = np.array([np.cos(lat2) * np.cos(lon2), np.cos(lat2) * np.sin(lon2), np.sin(lat2)])
    omega = np.arccos(np.clip(p1 @ p2, -1.0, 1.0))
    a = np.sin((1 - fraction) * omega) / np.sin(omega)
    b = np.sin(fraction * omega) / np.sin(omega)
    xyz = np.outer(p1, a) + np.outer(p2, b)
    lat = np.degrees(np.arctan2(xyz[2], np.hypot(xyz[0], xyz[1])))
    lon = np.degrees(np.arctan2(xyz[1], xyz[0]))
    return lat, lon


def _route_length(start: tuple[float, float], end: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = np.radians([start[0], start[1], end[0], end[1]])
    cos_angle = np.sin(lat1) * np.sin(lat2) + np.cos(lat1) * np.cos(lat2) * np.cos(lon2 - lon1)
    return float(_EARTH_RADIUS_M * np.arccos(np.clip(cos_angle, -1.0, 1.0)))


def _isa(alt: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """International Standard Atmosphere pressure (Pa) and temperature (K) below 20 km."""
    troposphere = alt < 11_000.0
    t = np.where(troposphere, 288.15 - 0.0065 * alt, 216.65)
    p = np.where(
        troposphere,
        101_325.0 * (1 - 2.25577e-5 * np.minimum(alt, 11_000.0)) ** 5.25588,
        22_632.1 * np.exp(-(alt - 11_000.0) / 6_341.62),
    )
    return p, t


def _smooth_noise(
    rng: np.random.Generator, n: int, scale: float, width: int
) -> npt.NDArray[np.float64]:
    kernel = np.hanning(max(3, width))
    kernel /= kernel.sum()
    raw = rng.normal(0.0, 1.0, n + kernel.size)
    smooth = np.convolve(raw, kernel, mode="same")[:n]
    std = smooth.std()
    return np.asarray(smooth / (std if std > 0 else 1.0) * scale, dtype=np.float64)


def _profile(
    rng: np.random.Generator, n: int, step_s: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Altitude (m) and along-route fraction for ascent, cruise with a step climb, descent."""
    t = np.arange(n, dtype=np.float64) * step_s
    total = t[-1]
    climb = min(rng.uniform(18, 24) * 60, total * 0.25)
    descent = min(rng.uniform(22, 30) * 60, total * 0.3)
    cruise1 = rng.uniform(10_000, 10_700)
    cruise2 = cruise1 + rng.choice([0.0, 600.0, 1_200.0])
    step_at = climb + (total - climb - descent) * rng.uniform(0.3, 0.7)
    alt = np.where(t < step_at, cruise1, cruise2)
    ascent = t < climb
    alt = np.where(ascent, cruise1 * np.sin(0.5 * np.pi * np.minimum(t / climb, 1.0)) ** 0.8, alt)
    step = (t >= step_at) & (t < step_at + 300)
    alt = np.where(step, cruise1 + (cruise2 - cruise1) * (t - step_at) / 300, alt)
    down = t > total - descent
    alt = np.where(down, cruise2 * np.clip((total - t) / descent, 0.0, 1.0) ** 1.2, alt)
    alt = np.clip(alt + 100.0, 100.0, None)  # airports are not at sea level
    # ground speed grows with altitude; integrate it to get the along-route fraction
    speed = 80.0 + 170.0 * np.clip(alt / cruise1, 0.0, 1.0)
    distance = np.concatenate([[0.0], np.cumsum(speed[1:] * step_s)])
    return alt, distance / distance[-1]


def generate_flight(
    seed: int = 0,
    *,
    origin: str | None = None,
    destination: str | None = None,
    start: np.datetime64 | None = None,
    hours: float | None = None,
    step_s: int | None = None,
    faults: bool = True,
) -> SampleFlight:
    """Generate one flight; the same arguments always give the same flight."""
    rng = np.random.default_rng(seed)
    codes = sorted(AIRPORTS)
    if origin is None:
        origin = codes[int(rng.integers(len(codes)))]
    if destination is None:
        others = [c for c in codes if c != origin]
        destination = others[int(rng.integers(len(others)))]
    step = int(step_s if step_s is not None else rng.choice([1, 2, 4]))
    if hours is None:  # block time of the route: cruise at ~240 m/s plus climb and descent
        route_m = _route_length(AIRPORTS[origin][1:], AIRPORTS[destination][1:])
        hours = route_m / 240.0 / 3600.0 + 0.6
    duration_h = float(hours)
    if start is None:
        day = np.datetime64("2024-01-01T00:00:00", "s") + np.timedelta64(
            int(rng.integers(365)), "D"
        )
        start = day + np.timedelta64(int(rng.integers(0, 20 * 3600)), "s")
    start_s = np.asarray(start).astype("datetime64[s]")
    n = max(int(duration_h * 3600 / step), 600)
    times = start_s + np.arange(n) * np.timedelta64(step, "s")

    alt, fraction = _profile(rng, n, step)
    lat, lon = _great_circle(AIRPORTS[origin][1:], AIRPORTS[destination][1:], fraction)
    p_isa, t_isa = _isa(alt)
    weather = _smooth_noise(rng, n, 3.0, 900 // step)
    temperature = t_isa + weather + rng.normal(0, 0.15, n)
    pressure = p_isa * (1 + _smooth_noise(rng, n, 0.003, 600 // step)) + rng.normal(0, 5, n)

    # stratospheric air: a few cruise sections with high ozone and low CO
    strat = np.zeros(n)
    cruising = np.flatnonzero(alt > 9_000)
    for _ in range(int(rng.integers(1, 4))):
        if cruising.size < 200:
            break
        centre = int(rng.choice(cruising))
        width = int(rng.uniform(600, 2_400) / step)
        strat += np.exp(-0.5 * ((np.arange(n) - centre) / max(width / 2, 1)) ** 2)
    strat = np.clip(strat, 0, 1) * (alt > 8_000)
    h = alt / 1_000.0
    o3 = 35 + 25 * np.clip(h / 10, 0, 1) + strat * rng.uniform(120, 350)
    o3 += _smooth_noise(rng, n, 4.0, 300 // step) + rng.normal(0, 1.0, n)
    co = 180 - 90 * np.clip(h / 10, 0, 1) - strat * 45
    co += _smooth_noise(rng, n, 6.0, 300 // step) + rng.normal(0, 2.0, n)
    h2o = 12_000 * np.exp(-h / 2.2) + 15 + np.abs(_smooth_noise(rng, n, 8.0, 600 // step))
    h2o *= 1 + rng.normal(0, 0.02, n)

    values: dict[str, npt.NDArray[np.float64]] = {
        "O3": o3,
        "CO": co,
        "H2O": h2o,
        "T": temperature,
        "p": pressure,
        "lat": lat,
        "lon": lon,
        "alt": alt,
    }
    truth = {v: {k: np.zeros(n, dtype=bool) for k in FAULT_KINDS} for v in values}
    keep = np.ones(n, dtype=bool)
    if faults:
        keep = _inject(rng, values, truth, step)

    attrs = {
        "title": f"Synthetic IAGOS-like flight {origin}->{destination}",
        "platform": f"SYNTH-{int(rng.integers(1, 9)):02d}",
        "departure_airport": origin,
        "arrival_airport": destination,
        "flight_id": "",
        "provider": "stratoflow sample generator",
        "source": "synthetic data (stratoflow.samples)",
        "generator_seed": seed,
        "license": "CC0-1.0",
    }
    flight_id = (
        f"{str(times[0]).replace('-', '').replace('T', '').replace(':', '')}{seed % 100:02d}"
    )
    attrs["flight_id"] = flight_id
    meta = {
        "O3": ("1e-9", "ozone mole fraction", "mole_fraction_of_ozone_in_air"),
        "CO": ("1e-9", "carbon monoxide mole fraction", "mole_fraction_of_carbon_monoxide_in_air"),
        "H2O": ("1e-6", "water vapour mole fraction", "mole_fraction_of_water_vapor_in_air"),
        "T": ("K", "static air temperature", "air_temperature"),
        "p": ("Pa", "static air pressure", "air_pressure"),
        "lat": ("degree_north", "latitude", "latitude"),
        "lon": ("degree_east", "longitude", "longitude"),
        "alt": ("m", "barometric altitude", "altitude"),
    }
    variables = {
        name: (
            values[name][keep].astype(np.float64),
            {"units": meta[name][0], "long_name": meta[name][1], "standard_name": meta[name][2]},
        )
        for name in values
    }
    ds = make_dataset(times[keep], variables, attrs=attrs)
    kept_truth = {v: {k: m[keep] for k, m in kinds.items()} for v, kinds in truth.items()}
    return SampleFlight(flight_id=flight_id, dataset=ds, faults=kept_truth)


def _inject(
    rng: np.random.Generator,
    values: dict[str, npt.NDArray[np.float64]],
    truth: dict[str, dict[str, npt.NDArray[np.bool_]]],
    step: int,
) -> npt.NDArray[np.bool_]:
    """Break the flight in known ways; return the mask of records kept (time gaps removed)."""
    n = values["O3"].size
    margin = 120
    impossible = {
        "O3": (-60.0, 2_500.0),
        "CO": (-80.0, 8_000.0),
        "H2O": (-50.0, 90_000.0),
        "T": (120.0, 360.0),
    }
    for var in _QC_VARIABLES:
        x = values[var]
        scale = max(float(np.std(np.diff(x))) * 15, float(np.median(np.abs(x))) * 0.25, 5.0)
        # spikes: isolated points far from their neighbours, none adjacent to another fault
        idx = rng.choice(np.arange(margin, n - margin), size=max(3, n // 3_000), replace=False)
        idx = idx[
            np.min(np.abs(idx[:, None] - idx[None, :]) + np.eye(idx.size, dtype=int) * n, axis=1)
            > 30
        ]
        x[idx] += rng.choice([-1.0, 1.0], idx.size) * scale * rng.uniform(1.5, 3.0, idx.size)
        if var in ("O3", "CO", "H2O"):
            x[idx] = np.abs(x[idx])  # stays physically possible: a spike, not out of range
        truth[var]["spike"][idx] = True
        # stuck: one or two windows of 2–5 minutes holding one value
        wanted, placed = int(rng.integers(1, 3)), 0
        for _ in range(20):  # retry positions that would overlap another fault
            if placed == wanted:
                break
            length = int(rng.uniform(120, 300) / step) + 5
            s = int(rng.integers(margin, n - margin - length))
            window = slice(s - 2, s + length + 2)
            if np.any([m[window].any() for m in truth[var].values()]):
                continue
            x[s : s + length] = x[s]
            truth[var]["stuck"][s + 1 : s + length] = True
            placed += 1
        # out of range: a few physically impossible values
        free = np.flatnonzero(~np.any([m for m in truth[var].values()], axis=0))
        free = free[(free > margin) & (free < n - margin)]
        bad = rng.choice(free, size=max(2, n // 10_000), replace=False)
        low, high = impossible[var]
        # beyond the limits: below the low one (scaled towards zero or more negative) or above
        # the high one
        below = low - np.abs(low) * rng.uniform(0.0, 0.5, bad.size)
        above = high * rng.uniform(1.0, 1.5, bad.size)
        x[bad] = np.where(rng.random(bad.size) < 0.5, below, above)
        truth[var]["out_of_range"][bad] = True
        # missing values: a short NaN window
        free = np.flatnonzero(~np.any([m for m in truth[var].values()], axis=0))
        free = free[(free > margin) & (free < n - margin - 100)]
        s = int(rng.choice(free))
        length = int(rng.integers(10, 60))
        x[s : s + length] = np.nan
        truth[var]["gap"][s : s + length] = True
    # a data-transmission gap: records missing altogether (all variables)
    keep = np.ones(n, dtype=bool)
    faulty = np.any([m for kinds in truth.values() for m in kinds.values()], axis=0)
    length = int(rng.uniform(60, 600) / step)
    clear = np.convolve(faulty, np.ones(length + 2), mode="valid") == 0
    starts = np.flatnonzero(clear[n // 4 : 3 * n // 4]) + n // 4
    if starts.size:
        s = int(rng.choice(starts)) + 1
        keep[s : s + length] = False
    return keep


def write_sample_flights(
    directory: str | os.PathLike[str], count: int = 3, seed: int = 0
) -> list[Path]:
    """Write ``count`` flights in the IAGOS netCDF layout into ``directory`` (the data portal).

    Existing files with the same content are left untouched, so running twice changes nothing.
    """
    from stratoflow import write_dataset

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        flight = generate_flight(seed=seed + i)
        path = out / flight.file_name
        if not path.exists():
            write_dataset(flight.dataset, path, writer="netcdf", layout="iagos")
        paths.append(path)
    return paths
