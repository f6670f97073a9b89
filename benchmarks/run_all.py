"""Run every benchmark (``benchmarks/bench_*.py``) one after the other, as ``./dev bench`` does.

Each script measures stratoflow and the reference library on the same data in the same run and
prints the ratio, with the machine and library versions. Arguments select scripts by name,
e.g. ``./dev bench qc netcdf``; ``--list`` shows them. Numbers are only comparable within one
run: other load on the machine moves both sides.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run ({', '.join(scripts)})")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args()
    if args.list:
        print("\n".join(scripts))
        return 0
    unknown = [n for n in args.names if n not in scripts]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {', '.join(scripts)}")
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    failed = []
    for name in args.names or list(scripts):
        print(f"\n##### {name} ({scripts[name].name})", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(scripts[name])])
        print(f"##### {name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
