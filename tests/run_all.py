"""The whole test suite, as `./dev test` and CI run it.

Steps, each must pass: ruff (lint + format), mypy (strict), pytest on the embedded SQLite
database, and pytest again on the real PostgreSQL server for every test that touches the
database (same tests, second backend). Extra arguments go to both pytest runs.

Each pytest run spreads its tests over the machine's cores (pytest-xdist, ``--dist
worksteal``): many tests wait on subprocesses, servers and leases rather than compute, and one
process left a core idle a third of the time. Every worker has its own temporary home (see
:mod:`stratoflow.testing`) and its own test database (pytest-django appends the worker's
name). ``STRATOFLOW_TEST_WORKERS=1``, or ``-n``/``-p no:xdist`` among the arguments, says
otherwise. The slowest tests are listed at the end of each run, to keep CI's time in sight.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get(
    "STRATOFLOW_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)


def run(title: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
    print(f"\n=== {title}: {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    # Bytecode caches on: with PYTHONDONTWRITEBYTECODE (set in some CI images) every pytest
    # run re-rewrites the asserts of every test module, and every child process the tests
    # start (CLI, workers, schedulers) compiles stratoflow from source again.
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run(cmd, cwd=ROOT, env={**base, **(env or {})}, check=False)
    print(
        f"=== {title}: exit {result.returncode} in {time.monotonic() - started:.0f} s", flush=True
    )
    if result.returncode != 0:
        sys.exit(result.returncode)


def workers(extra: list[str]) -> list[str]:
    """The xdist arguments for this machine, unless the caller chose for themselves."""
    if any(
        a in ("-n", "--numprocesses", "no:xdist") or a.startswith(("-n", "--numprocesses="))
        for a in extra
    ):
        return []
    wanted = os.environ.get("STRATOFLOW_TEST_WORKERS", "")
    count = int(wanted) if wanted.isdigit() else min(len(os.sched_getaffinity(0)), 4)
    return ["-n", str(count), "--dist", "worksteal"] if count > 1 else []


def main() -> None:
    extra = sys.argv[1:]
    run("ruff check", [str(BIN / "ruff"), "check", "src", "tests", "benchmarks"])
    run("ruff format", [str(BIN / "ruff"), "format", "--check", "src", "tests", "benchmarks"])
    run("mypy", [str(BIN / "mypy")])
    pytest = [str(BIN / "python"), "-m", "pytest", *workers(extra), "--durations=15"]
    run("pytest (SQLite)", [*pytest, *extra], {"STRATOFLOW_DATABASE_URL": ""})
    # A test database of this run's own: two test sessions on one server (a developer's and
    # CI, or two checkouts) would otherwise drop and flush each other's "test_test".
    test_db = os.environ.get("STRATOFLOW_TEST_DATABASE_NAME") or f"test_stratoflow_{os.getpid()}"
    run(
        "pytest (PostgreSQL)",
        [*pytest, "-m", "django_db or postgres", "-p", "no:randomly", *extra],
        {
            "STRATOFLOW_DATABASE_URL": POSTGRES_URL,
            "STRATOFLOW_REQUIRE_POSTGRES": "1",
            "STRATOFLOW_TEST_DATABASE_NAME": test_db,
        },
    )


if __name__ == "__main__":
    main()
