"""Import benchmark: a synthetic 10-hour 1 Hz flight with 30 variables into SQLite and PostgreSQL.

For the same file in the same run it measures

* **read**: the reader alone (``open_dataset``: netCDF -> standardized Dataset), the reference;
* **import**: the whole ``import_file`` path a job uses — read, basic flags, one transaction
  storing 30 series as compressed columnar segments (bulk insert), provenance — without QC
  (QC has its own benchmark) — each time as a new source (a fresh identity), so nothing is
  skipped as already imported;

and prints points/s and the ratio import/read per database. The target is import <= 3x read.
Each database runs in its own child process (Django binds one database per process); the
PostgreSQL one is skipped with a message when no server answers at ``--postgres``.

Usage: ``python benchmarks/bench_import.py [--hours 10] [--variables 30] [--repeat 3]
[--postgres postgres://postgres@127.0.0.1:5432/bench_stratoflow_import]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import machine

TARGET = 3.0
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/bench_stratoflow_import"


def write_flight(path: Path, *, hours: float, variables: int) -> int:
    """A 1 Hz flight file with ``variables`` noisy variables (1 % NaN); returns its points."""
    from stratoflow import write_dataset
    from stratoflow.dataset import make_dataset

    steps = int(hours * 3600)
    rng = np.random.default_rng(0)
    times = np.datetime64("2024-01-01T00:00:00", "ns") + np.arange(steps) * np.timedelta64(1, "s")
    data = {}
    for i in range(variables):
        values = 50.0 + rng.normal(0.0, 1.0, steps).cumsum() * 0.1
        values[rng.random(steps) < 0.01] = np.nan
        data[f"VAR{i:02d}"] = (values, {"units": "1e-9", "long_name": f"variable {i}"})
    ds = make_dataset(times, data, attrs={"flight_id": "bench-flight", "platform": "BENCH-01"})
    write_dataset(ds, path, writer="netcdf")
    return steps * variables


def child(path: Path, repeat: int) -> dict[str, float]:
    """In the child process: migrate, then time read-only and full imports."""
    from stratoflow import open_dataset
    from stratoflow.server import setup

    setup(migrate=True)
    from django.db import connection

    from stratoflow.importers.series import import_file

    read, full = [], []
    for i in range(repeat):
        started = time.perf_counter()
        open_dataset(path)
        read.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = import_file(path, identity=f"bench/{time.time_ns()}-{i}", qc=False)
        full.append(time.perf_counter() - started)
        assert result.created
    return {"read": min(read), "import": min(full), "vendor": connection.vendor}  # type: ignore[dict-item]


def ensure_postgres(url: str) -> str | None:
    """Create the benchmark database if needed; None (with the reason) if unreachable."""
    import psycopg

    base, _, name = url.rpartition("/")
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as con:
            exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                con.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return f"PostgreSQL at {base} not reachable ({type(exc).__name__})"
    return None


def run_child(path: Path, repeat: int, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--repeat", str(repeat)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=10.0)
    parser.add_argument("--variables", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=DEFAULT_PG, help="PostgreSQL URL ('' to skip)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat)))
        return 0

    print("machine:", machine("xarray", "django", "psycopg"))
    with tempfile.TemporaryDirectory(prefix="stratoflow-bench-import-") as tmp:
        path = Path(tmp) / "flight.nc"
        points = write_flight(path, hours=args.hours, variables=args.variables)
        print(
            f"data: {args.hours:g} h at 1 Hz x {args.variables} variables = {points:,} points, "
            f"netCDF {path.stat().st_size / 1e6:.1f} MB; best of {args.repeat}"
        )
        targets = {
            "sqlite": {"STRATOFLOW_HOME": str(Path(tmp) / "home"), "STRATOFLOW_DATABASE_URL": ""}
        }
        if args.postgres:
            problem = ensure_postgres(args.postgres)
            if problem:
                print(f"postgresql: skipped: {problem}")
            else:
                targets["postgresql"] = {
                    "STRATOFLOW_HOME": str(Path(tmp) / "home-pg"),
                    "STRATOFLOW_DATABASE_URL": args.postgres,
                }
        worst = 0.0
        print(f"{'database':<11} {'read s':>8} {'import s':>9} {'import pts/s':>14} {'ratio':>6}")
        for name, extra in targets.items():
            r = run_child(path, args.repeat, {**os.environ, **extra})
            ratio = r["import"] / r["read"]
            worst = max(worst, ratio)
            print(
                f"{name:<11} {r['read']:8.3f} {r['import']:9.3f} "
                f"{points / r['import']:14,.0f} {ratio:5.2f}x"
            )
    verdict = "OK" if worst <= TARGET else "ABOVE TARGET"
    print(f"import/read ratio (worst): {worst:.2f}x, target <= {TARGET:g}x: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
