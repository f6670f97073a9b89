"""``stratoflow backfill``: create the missed occurrences of a job between two instants.

Creates one pending run per slot of the job's schedule in ``[--from, --to]`` that has no run
yet (the unique (job, slot) key makes this safe to repeat); the scheduler then runs them, or
``--run`` runs them here, oldest first. ``--dry-run`` only lists them.

Example::

    $ stratoflow backfill import-flights --from 2026-03-01 --to 2026-03-03T23:59 --dry-run
    would create 3 run(s):
    2026-03-01T02:30:00+01:00
    ...
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from stratoflow.errors import ConfigError
from stratoflow.jobs.interrupt import sigterm_raises
from stratoflow.jobs.schedule import parse_instant
from stratoflow.server import setup


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser("backfill", help="create (and optionally run) missed runs of a job")
    p.add_argument("name", help="job name")
    p.add_argument("--from", dest="start", required=True, help="first instant (inclusive)")
    p.add_argument("--to", dest="end", required=True, help="last instant (inclusive)")
    p.add_argument("--dry-run", action="store_true", help="only list what would be created")
    p.add_argument("--run", action="store_true", help="run the created runs now, oldest first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``stratoflow backfill``."""
    setup(migrate=True)
    from django.utils import timezone

    from stratoflow.commands.job import get_job
    from stratoflow.server.workflow.services import run_execute
    from stratoflow.server.workflow.slots import runs_backfill

    job = get_job(args.name)
    schedule = job.schedule
    if schedule is None:
        raise ConfigError(f"job {job.name!r} has no schedule (start) to backfill")
    start = parse_instant(args.start, job.timezone, "--from")
    end = parse_instant(args.end, job.timezone, "--to")
    if end < start:
        raise ConfigError(f"--to {args.end} is before --from {args.start}")
    now = timezone.now()
    if end > now:
        # future slots are the scheduler's: a backfilled future run would run now, early
        raise ConfigError(
            f"--to {args.end} is in the future (now is "
            f"{now.astimezone(schedule.zone).isoformat(timespec='seconds')}): backfill creates "
            "missed runs only; the scheduler runs the coming ones"
        )
    slots, runs = runs_backfill(job, start - timedelta(microseconds=1), end, dry_run=args.dry_run)
    verb = "would create" if args.dry_run else "created"
    print(f"{verb} {len(slots)} run(s):")
    for slot in slots:
        print(slot.astimezone(schedule.zone).isoformat())
    status = 0
    if args.run and not args.dry_run:
        for job_run in runs:
            with sigterm_raises():
                report = run_execute(job_run)
            print(f"{job_run.scheduled_for.astimezone(schedule.zone).isoformat()}: {report.state}")
            status = status or (0 if report.state == "succeeded" else 1)
    return status
