"""``stratoflow demo``: the whole workflow on the embedded default, with generated flights.

A local "data portal" directory receives synthetic IAGOS-like flights; a demo job imports them
(transfer -> reader -> importer -> QC), leaves them awaiting review, a scripted PI approves
them, and the job's export manager writes CF netCDF files to a local "external system"
directory. Running it again imports and exports nothing new.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from stratoflow.commands.arguments import positive_int
from stratoflow.server import setup

DEMO_JOB = "demo"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser("demo", help="run the demo job end to end on the embedded default")
    p.add_argument("--flights", type=positive_int, default=3, help="number of sample flights (3)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sample flights (0)")
    p.set_defaults(func=run)


def _ensure_job(home: Path) -> Any:
    from django.contrib.auth import get_user_model

    from stratoflow.server.workflow.models import DataProvider, Job, TaskManager, TransferHandler

    portal, external = home / "demo" / "data-portal", home / "demo" / "external-system"
    external.mkdir(parents=True, exist_ok=True)
    pi, _ = get_user_model().objects.get_or_create(
        username="demo-pi", defaults={"email": "pi@example.org"}
    )
    source, _ = DataProvider.objects.update_or_create(
        name="demo data portal",
        defaults={
            "description": "local directory with generated IAGOS-like flights",
            "licence": "CC0-1.0",
        },
    )
    target, _ = DataProvider.objects.update_or_create(
        name="demo external system",
        defaults={"description": "local directory receiving validated netCDF files"},
    )
    incoming, _ = TransferHandler.objects.update_or_create(
        name="demo-portal",
        defaults={
            "provider": source,
            "transfer_type": "local",
            "auth": "none",
            "transfer_options": {"root": str(portal), "pattern": "*.nc"},
        },
    )
    outgoing, _ = TransferHandler.objects.update_or_create(
        name="demo-external",
        defaults={
            "provider": target,
            "transfer_type": "local",
            "auth": "none",
            "transfer_options": {"root": str(external)},
        },
    )
    job, _ = Job.objects.update_or_create(
        name=DEMO_JOB,
        defaults={
            "description": "import sample flights, QC, export approved ones",
            "frequency": Job.Frequency.DAILY,
            "interval": 1,
            "responsible": pi,
        },
    )
    TaskManager.objects.update_or_create(
        job=job,
        name="import-flights",
        defaults={
            "kind": TaskManager.Kind.IMPORT,
            "order": 1,
            "transfer": incoming,
            "options": {"reader": "iagos_netcdf", "qc": {"evaluation": "worst"}},
        },
    )
    TaskManager.objects.update_or_create(
        job=job,
        name="export-netcdf",
        defaults={
            "kind": TaskManager.Kind.EXPORT,
            "order": 2,
            "transfer": outgoing,
            "options": {"writer": "netcdf", "level": "L1"},
        },
    )
    return job, pi, portal, external


def run(args: argparse.Namespace) -> int:
    """Run the sub-command."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    setup(migrate=True)
    from django.conf import settings

    from stratoflow.samples import write_sample_flights
    from stratoflow.server.catalog.models import Flight
    from stratoflow.server.review.services import flight_approve
    from stratoflow.server.workflow.services import RunReport, job_run

    console = Console()
    home = Path(settings.HOME)
    job, pi, portal, external = _ensure_job(home)
    files = write_sample_flights(portal, count=args.flights, seed=args.seed)
    console.print(f"[bold]stratoflow demo[/bold]  (home: {home})")
    console.print(f"data portal: {portal}  ({len(files)} sample flight files)")

    def show(report: RunReport, title: str) -> None:
        console.print(
            f"\n[bold]{title}[/bold]: job '{report.job}' run {report.run_id} -> {report.state}"
        )
        for m in report.managers:
            states = ", ".join(f"{k} {v}" for k, v in sorted(m.states.items())) or "nothing new"
            console.print(f"  {m.manager} ({m.kind}): {m.collected} new task(s): {states}")
            if m.kind == "import" and m.collected:
                console.print(f"    points stored: {m.details.get('points', 0):,}")
                table = Table("flag class", "points", box=None, padding=(0, 2))
                for name, n in m.details.get("flags", {}).items():
                    table.add_row(name, f"{n:,}")
                console.print(table)
            if m.kind == "export":
                for name in m.details.get("exported", []):
                    console.print(f"    exported {name}")
            for err in m.errors:
                console.print(f"    [red]error[/red] {err}")

    first = job_run(job)
    show(first, "Run 1 (import, QC)")
    awaiting = Flight.objects.filter(decisions__isnull=True, series__isnull=False).distinct()
    approved = [f.identifier for f in awaiting]
    for flight in awaiting:
        flight_approve(flight, user=pi, level="L1", reason="demo: scripted approval")
    console.print(
        f"\nPI review (scripted): {len(approved)} flight(s) approved to L1 by '{pi.get_username()}'"
    )
    second = job_run(job)
    show(second, "Run 2 (export of approved flights)")
    exported = sorted(p.name for p in external.glob("*.nc"))
    console.print(f"\nexternal system: {external}  ({len(exported)} file(s))")
    # The home named on the command line: `./dev demo` sets STRATOFLOW_HOME for itself only,
    # and a bare `stratoflow serve` would show another (empty) database.
    env = escape(f"STRATOFLOW_HOME={shlex.quote(str(home))}")
    console.print(
        f"web UI: [bold]{env} stratoflow serve[/bold] -> http://127.0.0.1:8000/ "
        f"(admin at /admin/; create a login with '{env} stratoflow manage createsuperuser')"
    )
    failed = first.state == "failed" or second.state == "failed"
    return 1 if failed else 0
