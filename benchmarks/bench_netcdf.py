"""netCDF benchmarks: our readers and writer against plain xarray, same data, same run.

1. Read: an IAGOS-layout file with >= 10^6 points, ``IagosNetcdfReader().read`` (flags
   translated, validated, checksummed) vs ``xarray.open_dataset(...).load()``.
2. Resample to 10 s + write 10^7 points. stratoflow has no resampler yet (it belongs to the
   exporter, built elsewhere): our side uses :func:`bin_mean` below, a vectorised numpy
   stand-in for it, then ``NetcdfWriter`` (CF-1.8, trajectory, compression level 1); the
   reference is ``resample(time="10s").mean()`` + ``to_netcdf`` (xarray defaults).
3. The writers alone at native resolution (10^7 points + flags), compressed and not.

Usage: ``python benchmarks/bench_netcdf.py [--points N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import xarray as xr

from _common import best_of, machine
from stratoflow.dataset import make_dataset
from stratoflow.readers.netcdf import IagosNetcdfReader
from stratoflow.writers.netcdf import NetcdfWriter

VARIABLES = ("O3", "CO", "H2O", "T")


def flight(steps: int) -> xr.Dataset:
    """A synthetic 1 s flight with len(VARIABLES) variables, flags and a position."""
    rng = np.random.default_rng(0)
    times = np.datetime64("2024-01-01T00:00:00", "ns") + np.arange(steps) * np.timedelta64(1, "s")
    variables = {
        name: (rng.normal(50.0, 10.0, steps), {"units": "1e-9", "long_name": name})
        for name in VARIABLES
    }
    variables["lat"] = (np.linspace(50, 40, steps), {"units": "degree_north", "long_name": "lat"})
    variables["lon"] = (np.linspace(8, -80, steps), {"units": "degree_east", "long_name": "lon"})
    flags = {name: rng.choice(np.array([0, 2, 3], dtype=np.uint8), steps) for name in VARIABLES}
    return make_dataset(times, variables, flags=flags, attrs={"flight": "bench"})


def bin_mean(ds: xr.Dataset, names: tuple[str, ...], seconds: int) -> xr.Dataset:
    """Mean of each variable in fixed bins (NaN ignored, empty bins NaN), like xarray's."""
    ns = ds["time"].values.view(np.int64)
    width = seconds * 1_000_000_000
    first = ns[0] // width
    index = ns // width - first
    counts = np.bincount(index)
    out = {}
    for name in names:
        values = ds[name].values
        valid = ~np.isnan(values)
        sums = np.bincount(index[valid], weights=values[valid], minlength=counts.size)
        n = np.bincount(index[valid], minlength=counts.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = (sums / n, dict(ds[name].attrs))
    times = ((first + np.arange(counts.size)) * width).astype("datetime64[ns]")
    return make_dataset(times, out, attrs=ds.attrs)


def report(title: str, ours: float, ref: float, points: int, size: int | None = None) -> None:
    """Print one comparison line."""
    extra = f", {size / ours / 1e6:.1f} MB/s" if size else ""
    print(
        f"{title}: stratoflow {ours:.3f} s ({points / ours / 1e6:.2f} Mpoints/s{extra}) | "
        f"xarray {ref:.3f} s | ratio {ours / ref:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000, help="points to write")
    parser.add_argument("--read-points", type=int, default=2_000_000, help="points to read")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(machine("xarray"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # 1. read
        steps = args.read_points // len(VARIABLES)
        path = NetcdfWriter(layout="iagos").write(flight(steps), folder / "read.nc")
        size = path.stat().st_size
        points = steps * len(VARIABLES)

        def xarray_read() -> None:
            with xr.open_dataset(path) as ds:
                ds.load()

        ours = best_of(args.repeat, lambda: IagosNetcdfReader().read(path))
        ref = best_of(args.repeat, xarray_read)
        report(f"read {points:.1e} points ({size / 1e6:.1f} MB)", ours, ref, points, size)

        # 2. resample + write
        steps = args.points // len(VARIABLES)
        ds = flight(steps)
        points = steps * len(VARIABLES)
        data = ds[list(VARIABLES)]
        writer = NetcdfWriter()

        def ours_resampled() -> None:
            writer.write(bin_mean(ds, VARIABLES, 10), folder / "ours_10s.nc")

        def xarray_resampled() -> None:
            data.resample(time="10s").mean().to_netcdf(folder / "xr_10s.nc")

        ours = best_of(args.repeat, ours_resampled)
        ref = best_of(1, xarray_resampled)  # minutes at 10^7 points: once is enough
        with (
            xr.open_dataset(folder / "ours_10s.nc") as a,
            xr.open_dataset(folder / "xr_10s.nc") as b,
        ):
            for name in VARIABLES:
                np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-12)
        report(f"resample 10 s + write, {points:.1e} points", ours, ref, points)

        ref = best_of(args.repeat, lambda: ds.to_netcdf(folder / "xr.nc"))
        for level in (1, 0):
            level_writer = NetcdfWriter(complevel=level)
            ours = best_of(args.repeat, partial(level_writer.write, ds, folder / "ours.nc"))
            report(f"write native, {points:.1e} points + flags, zlib {level}", ours, ref, points)
        print(
            f"  file sizes: stratoflow {(folder / 'ours.nc').stat().st_size / 1e6:.1f} MB "
            f"(zlib 0), xarray {(folder / 'xr.nc').stat().st_size / 1e6:.1f} MB (uncompressed)"
        )


if __name__ == "__main__":
    main()
