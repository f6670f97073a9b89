"""``stratoflow job``: load job definitions, list upcoming runs, run a job now.

Examples::

    $ stratoflow job load jobs/iagos.yaml
    created: job import-flights, transfer portal
    $ stratoflow job next import-flights -n 3
    2026-03-28T02:30:00+01:00
    2026-03-29T03:00:00+02:00
    2026-03-30T02:30:00+02:00
    $ stratoflow job run import-flights        # live progress on a terminal, log lines otherwise
    $ stratoflow job retry import-flights      # failed tasks of the latest failed run, again
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stratoflow.errors import ConfigError
from stratoflow.server import setup


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser("job", help="load, inspect and run jobs")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = actions.add_parser("load", help="create or update jobs from a YAML file")
    load.add_argument("file", type=Path)
    load.set_defaults(func=run_load)
    nxt = actions.add_parser("next", help="print the next run instants of a job")
    nxt.add_argument("name")
    nxt.add_argument("-n", type=int, default=10, help="how many (default 10)")
    nxt.add_argument("--json", action="store_true", help="print a JSON list")
    nxt.set_defaults(func=run_next)
    run = actions.add_parser("run", help="run a job now")
    run.add_argument("name")
    run.add_argument("--workers", type=int, default=4, help="in-process threads (default 4)")
    run.add_argument(
        "--progress",
        choices=["auto", "live", "plain"],
        default="auto",
        help="live display (terminal) or log lines (default: live on a terminal)",
    )
    run.set_defaults(func=run_run)
    retry = actions.add_parser(
        "retry", help="queue the failed tasks of the job's latest failed run again and run it"
    )
    retry.add_argument("name")
    retry.add_argument(
        "--no-run", action="store_true", help="only re-queue; the scheduler runs it later"
    )
    retry.set_defaults(func=run_retry)


def get_job(name: str) -> Any:
    """The job called ``name``; ConfigError listing the known ones otherwise."""
    from stratoflow.server.workflow.models import Job

    job = Job.objects.filter(name=name).first()
    if job is None:
        known = ", ".join(Job.objects.values_list("name", flat=True)[:20]) or "none"
        raise ConfigError(f"no job named {name!r} (known: {known})")
    return job


def run_load(args: argparse.Namespace) -> int:
    """Run ``stratoflow job load``."""
    setup(migrate=True)
    from stratoflow.server.workflow.definitions import jobs_load

    report = jobs_load(args.file)
    for what in ("created", "updated", "removed", "unchanged"):
        names = getattr(report, what)
        if names:
            print(f"{what}: {', '.join(names)}")
    return 0


def run_next(args: argparse.Namespace) -> int:
    """Run ``stratoflow job next``."""
    setup(migrate=True)
    if args.n < 0:
        raise ConfigError(f"-n must be >= 0, not {args.n}")
    job = get_job(args.name)
    instants = [occ.isoformat() for occ in job.next_occurrences(args.n)]
    if args.json:
        print(json.dumps(instants))
    else:
        if job.schedule is None:
            print(f"job {job.name} has no schedule; it runs only when asked", file=sys.stderr)
        for instant in instants:
            print(instant)
    return 0


def run_run(args: argparse.Namespace) -> int:
    """Run ``stratoflow job run``."""
    setup(migrate=True)
    from stratoflow.jobs.progress import LiveProgress, PlainProgress
    from stratoflow.server.workflow.services import job_run

    job = get_job(args.name)
    live = args.progress == "live" or (args.progress == "auto" and sys.stdout.isatty())
    display = LiveProgress() if live else PlainProgress()
    with display:
        report = job_run(job, workers=args.workers, progress=display.update)
    for run in [*report.resumed, report]:
        if run is not report:
            print(f"resumed run {run.run_id}, left unfinished by a process that died:")
        for m in run.managers:
            states = ", ".join(f"{n} {s}" for s, n in sorted(m.states.items())) or "no tasks"
            print(f"{m.manager}: {m.collected} new task(s); {states}")
            for error in m.errors[:20]:
                print(f"  error: {error}")
        print(f"run {run.run_id}: {run.state}")
    ok = all(r.state == "succeeded" for r in [*report.resumed, report])
    return 0 if ok else 1


def run_retry(args: argparse.Namespace) -> int:
    """Run ``stratoflow job retry``."""
    setup(migrate=True)
    from stratoflow.server.workflow.services import run_execute, run_retry_failed

    job = get_job(args.name)
    failed = job.runs.filter(state="failed").order_by("-scheduled_for").first()
    if failed is None:
        raise ConfigError(f"job {job.name!r} has no failed run to retry")
    count = run_retry_failed(failed)
    print(f"run {failed.pk} ({failed.scheduled_for.isoformat()}): {count} task(s) queued again")
    if args.no_run:
        return 0
    report = run_execute(failed)
    print(f"run {report.run_id}: {report.state}")
    return 0 if report.state == "succeeded" else 1
