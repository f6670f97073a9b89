"""Benchmark of the QC engine: default suite, shared tests vs ioos_qc (and SaQC), re-evaluation.

Run ``python benchmarks/bench_qc.py`` (``--quick`` for a smoke run, ``--with-saqc`` to also time
SaQC). SaQC is GPL-3: it is never imported here; with ``--with-saqc`` this script creates a
separate venv ``benchmarks/.venv-saqc``, installs saqc there and times it in a subprocess on the
same data (written to a temporary .npy file). Printed: points/s for us and the reference, and
the ratio (targets: >= 10x ioos_qc, >= 3x SaQC).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from stratoflow.dataset import make_dataset
from stratoflow.qc import get_evaluation, run_qc, run_test
from stratoflow.qc.evaluation import TestInfo

HERE = Path(__file__).resolve().parent
SAQC_VENV = HERE / ".venv-saqc"


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs (seconds) and the last result."""
    times = []
    out = None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` runs (seconds)."""
    return timed(fn, repeat)[0]


def machine() -> str:
    import ioos_qc

    return (
        f"{platform.platform()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} CPUs | Python {platform.python_version()} | numpy {np.__version__} | "
        f"ioos_qc {ioos_qc.__version__}"
    )


def series(n: int, seed: int = 0) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.datetime64]]:
    """Ozone-like series at 1 s (ppb) with spikes, stuck runs and NaNs; mostly plausible."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    x = 60 + 25 * np.sin(2 * np.pi * k / 7_200) + 10 * np.sin(2 * np.pi * k / 600)
    x += rng.normal(0, 0.5, n)
    x[rng.choice(n, n // 3000, replace=False)] += 200
    x[rng.choice(n, n // 500, replace=False)] = np.nan
    for s in rng.choice(n - 200, n // 20_000, replace=False):
        x[s : s + 150] = x[s]
    t = np.datetime64("2024-01-01T00:00:00", "ns") + np.arange(n) * np.timedelta64(1, "s")
    return x, t


def flight_dataset(n: int) -> Any:
    x, t = series(n)
    rng = np.random.default_rng(1)
    p = 25_000 + np.cumsum(rng.normal(0, 2, n))
    temp = 220 + np.cumsum(rng.normal(0, 0.02, n))
    co = 80 + np.cumsum(rng.normal(0, 0.3, n)) % 50
    h2o = 50 + np.abs(np.cumsum(rng.normal(0, 0.3, n)))
    meta = {
        "O3_P1": (x, "ppb", "mole_fraction_of_ozone_in_air"),
        "CO_P1": (co, "ppb", "mole_fraction_of_carbon_monoxide_in_air"),
        "H2O_gas_P1": (h2o, "ppm", "mole_fraction_of_water_vapor_in_air"),
        "air_temp_AC": (temp, "K", "air_temperature"),
        "air_press_AC": (p, "Pa", "air_pressure"),
    }
    return make_dataset(
        t,
        {k: (v, {"units": u, "long_name": k, "standard_name": s}) for k, (v, u, s) in meta.items()},
    )


def default_suite(sizes: list[int]) -> None:
    print("\n== default QC suite (5 variables: O3, CO, H2O, T, p; default configuration) ==")
    for n in sizes:
        ds = flight_dataset(n)
        seconds, r = timed(partial(run_qc, ds), 1)
        tests = sum(len(v.tests) for v in r.variables.values())
        points = n * len(r.variables)
        print(
            f"  n={n:>10,}  {seconds:7.2f} s  {points / seconds / 1e6:7.2f} M points/s "
            f"({tests} test runs)"
        )
        t_eval = best_of(partial(r.evaluate, "critical"), 3)
        print(f"             re-evaluation (critical, from stored results): {t_eval * 1e3:8.1f} ms")
        del ds, r


def reevaluation_per_flight() -> None:
    n = 36_000  # a 10-hour flight at 1 s
    ds = flight_dataset(n)
    r = run_qc(ds)
    print("\n== re-evaluation of one flight (10 h at 1 s, 5 variables) from stored test results ==")
    for method in ("worst", "mean", "vote", "critical"):
        t = best_of(partial(r.evaluate, method), 5)
        print(f"  {method:<9} {t * 1e3:7.2f} ms")
    t_run = best_of(lambda: run_qc(ds), 2)
    print(f"  (re-running all tests instead: {t_run * 1e3:7.1f} ms)")


SHARED: dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]] = {
    "gross_range": (
        "gross_range",
        {"doubtful_min": 10, "doubtful_max": 150, "bad_min": 0, "bad_max": 250},
        "gross_range_test",
        {"fail_span": (0, 250), "suspect_span": (10, 150)},
    ),
    "spike": (
        "spike",
        {"doubtful": 5, "bad": 50},
        "spike_test",
        {"suspect_threshold": 5, "fail_threshold": 50},
    ),
    "rate_of_change": (
        "rate_of_change",
        {"doubtful": 5, "bad": 50},
        "rate_of_change_test",
        {"threshold": 5, "fail_threshold": 50},
    ),
    "flat_line": (
        "flat_line",
        {"doubtful_duration": 60, "bad_duration": 120, "tolerance": 0.01},
        "flat_line_test",
        {"suspect_threshold": 60, "fail_threshold": 120, "tolerance": 0.01},
    ),
}
NEEDS_TIME = {"rate_of_change", "flat_line", "stuck_value"}


def versus_ioos(n: int, saqc: dict[str, float] | None) -> None:
    from ioos_qc import qartod

    x, t = series(n)
    print(f"\n== shared tests, n={n:,} points (same data, same parameters; best of 3) ==")
    header = f"  {'test':<16}{'stratoflow':>14}{'ioos_qc':>14}{'ratio':>9}"
    if saqc is not None:
        header += f"{'SaQC':>14}{'ratio':>9}"
    print(header + "   (M points/s)")
    ours_all = []
    refs = []
    for name, (ours_name, ours_params, ioos_name, ioos_params) in SHARED.items():
        tt = t if ours_name in NEEDS_TIME else None
        ours, p = timed(partial(run_test, ours_name, x, tt, ours_params), 3)
        ours_all.append(p)
        fn = getattr(qartod, ioos_name)
        args = (x, t) if ours_name in NEEDS_TIME else (x,)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref, flags = timed(partial(fn, *args, **ioos_params), 1 if n > 300_000 else 3)
        refs.append(flags)
        line = f"  {name:<16}{n / ours / 1e6:14.2f}{n / ref / 1e6:14.2f}{ref / ours:8.1f}x"
        if saqc is not None:
            s = saqc.get(name)
            line += f"{n / s / 1e6:14.2f}{s / ours:8.1f}x" if s else f"{'n/a':>14}{'':>9}"
        print(line)
    stack = np.stack(ours_all[-4:])
    infos = [TestInfo(str(i)) for i in range(4)]
    worst = get_evaluation("worst")
    missing = np.isnan(x)
    ours = best_of(lambda: worst(stack, missing, infos, good=1.0, bad=0.5), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = best_of(lambda: qartod.qartod_compare(refs[-4:]), 3)
    if saqc is not None and saqc.get("flat_line"):
        # SaQC's flagConstants flags whole constant runs, like our stuck_value (not QARTOD's
        # trailing-window flat line): compare those too
        params = {"doubtful_duration": 120, "bad_duration": 120, "tolerance": 0.01}
        stuck = best_of(partial(run_test, "stuck_value", x, t, params), 3)
        s = saqc["flat_line"]
        print(
            f"  {'stuck_value':<16}{n / stuck / 1e6:14.2f}{'':>14}{'':>9}"
            f"{n / s / 1e6:14.2f}{s / stuck:8.1f}x"
        )
    print(f"  {'aggregate/worst':<16}{n / ours / 1e6:14.2f}{n / ref / 1e6:14.2f}{ref / ours:8.1f}x")


SAQC_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np, pandas as pd
warnings.simplefilter("ignore")
import saqc
x = np.load(sys.argv[1])
idx = pd.date_range("2024-01-01", periods=x.size, freq="1s")
df = pd.DataFrame({"x": x}, index=idx)
out = {}
def timed(name, fn):
    try:
        best = None
        for _ in range(int(sys.argv[2])):
            qc = saqc.SaQC(df.copy())
            t0 = time.perf_counter(); fn(qc); dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        out[name] = best
    except Exception as exc:  # report, do not hide: the name shows as n/a
        print(f"saqc {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
timed("gross_range", lambda qc: qc.flagRange("x", min=0, max=250))
timed("spike", lambda qc: qc.flagOffset("x", thresh=50, tolerance=5, window="2s"))
timed("rate_of_change", lambda qc: qc.flagJumps("x", thresh=50, window="2s"))
timed("flat_line", lambda qc: qc.flagConstants("x", thresh=0.01, window="120s"))
print(json.dumps(out))
"""


def saqc_timings(n: int) -> dict[str, float]:
    """Time SaQC functions in their own venv (created on first use)."""
    py = SAQC_VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {SAQC_VENV} and installing saqc (GPL-3, kept out of stratoflow) ...")
        subprocess.run([sys.executable, "-m", "venv", str(SAQC_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "saqc"], check=True)
    x, _ = series(n)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "x.npy"
        np.save(data, x)
        script = Path(tmp) / "bench_saqc.py"
        script.write_text(SAQC_SCRIPT, encoding="utf-8")
        proc = subprocess.run(
            [str(py), str(script), str(data), "3"], capture_output=True, text=True, check=False
        )
    if proc.stderr.strip():
        print(proc.stderr.strip())
    if proc.returncode != 0:
        print("saqc benchmark failed; SaQC columns are n/a")
        return {}
    timings: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--with-saqc", action="store_true", help="also time SaQC (separate venv)")
    parser.add_argument("--compare-n", type=int, default=None, help="points for shared tests")
    args = parser.parse_args(argv)
    print(machine())
    sizes = [20_000] if args.quick else [1_000_000, 10_000_000]
    compare_n = args.compare_n or (20_000 if args.quick else 1_000_000)
    saqc = saqc_timings(compare_n) if args.with_saqc else None
    versus_ioos(compare_n, saqc)
    reevaluation_per_flight()
    default_suite(sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
