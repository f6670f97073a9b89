"""Reading speed of the NASA Ames and ICARTT readers vs nappy and icartt, on the same files.

Writes a synthetic FFI 1001 file with our writers (default 100 000 records x 10 variables =
10^6 points, a few % missing), then times, in the same run, our reader (full standardized
Dataset, validation and checksum included) against the reference library reading the same
file. Prints MB/s, points/s and the ratio. ``--rows`` makes a quick smoke run.

    python benchmarks/bench_readers_text.py [--rows 100000] [--vars 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import icartt
import nappy
import numpy as np

from stratoflow.dataset import make_dataset
from stratoflow.readers import IcarttReader, NasaAmesReader
from stratoflow.writers import IcarttWriter, NasaAmesWriter


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _nappy(path: Path) -> None:
    na = nappy.openNAFile(str(path))
    na.readData()


def _icartt(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        icartt.Dataset(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--vars", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    times = np.datetime64("2024-03-01T06:00:00", "ns") + np.arange(args.rows) * np.timedelta64(
        1, "s"
    )
    variables = {}
    for i in range(args.vars):
        values = np.round(rng.normal(50 * (i + 1), 10, args.rows), 3)
        values[rng.random(args.rows) < 0.03] = np.nan
        variables[f"V{i}"] = (values, {"units": "1e-9", "long_name": f"variable {i}"})
    ds = make_dataset(times, variables, attrs={"pi": "Bench, Mark", "mission": "benchmark"})
    points = args.rows * args.vars
    print(f"python {platform.python_version()}, numpy {np.__version__}, nappy, icartt "
          f"{icartt.__version__}; {platform.machine()} {os.cpu_count()} CPUs, "
          f"{platform.platform()}")  # fmt: skip
    print(f"{args.rows} records x {args.vars} variables = {points:.2e} points, "
          f"best of {args.repeat}")  # fmt: skip
    cases = [
        ("NASA Ames", NasaAmesWriter(), ".na", NasaAmesReader(), "nappy", _nappy),
        ("ICARTT", IcarttWriter(), ".ict", IcarttReader(), "icartt", _icartt),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, writer, suffix, reader, ref_name, ref in cases:
            path = writer.write(ds, Path(tmp) / f"bench{suffix}")
            size = path.stat().st_size / 1e6
            ours = _best(lambda r=reader, p=path: r.read(p), args.repeat)
            theirs = _best(lambda f=ref, p=path: f(p), args.repeat)
            print(f"\n{label}: {size:.1f} MB")
            for who, secs in (("stratoflow", ours), (ref_name, theirs)):
                print(f"  {who:<11} {secs:8.3f} s  {size / secs:8.1f} MB/s  "
                      f"{points / secs:12.3e} points/s")  # fmt: skip
            print(f"  ratio: stratoflow is {theirs / ours:.1f}x faster than {ref_name}")


if __name__ == "__main__":
    main()
