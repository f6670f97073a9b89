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
    $ stratoflow job reprocess import-flights --flight F123 --dry-run
    import: 1 file(s) to re-process, 0 unchanged, 0 superseded, 0 cannot be re-processed
      portal/F123.nc (flight F123): configuration 4b1f0c2a9d3e -> 9e07d51c2b44
        processing[0].params.pre.parameters.offset.value: 1.0 -> 3.0
    dry run: nothing changed
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
    again = actions.add_parser(
        "reprocess",
        help="re-process files the job imported whose processing configuration changed since",
        description="Re-import, as a new run, every file the job's import managers imported "
        "whose current series were made under another configuration than the managers' "
        "options give now (calibration, reference files, reader options, level). Each file "
        "makes a new version of its series (the old one is kept) and its flight awaits "
        "review again. Exit status 1 when a file cannot be re-processed or a task failed.",
    )
    again.add_argument("name")
    again.add_argument("--manager", help="only this task manager (default: every import one)")
    again.add_argument(
        "--since", help="only files whose data start at or after this instant (job's zone)"
    )
    again.add_argument(
        "--until", help="only files whose data start at or before this instant (job's zone)"
    )
    again.add_argument(
        "--flight", action="append", default=[], metavar="ID", help="only this flight (repeat)"
    )
    again.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be re-processed and why; change nothing",
    )
    again.add_argument("--workers", type=int, default=4, help="in-process threads (default 4)")
    again.add_argument(
        "--progress",
        choices=["auto", "live", "plain"],
        default="auto",
        help="live display (terminal) or log lines (default: live on a terminal)",
    )
    again.set_defaults(func=run_reprocess)


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


def run_reprocess(args: argparse.Namespace) -> int:
    """Run ``stratoflow job reprocess``."""
    setup(migrate=True)
    from stratoflow.jobs.progress import LiveProgress, PlainProgress
    from stratoflow.jobs.schedule import parse_instant
    from stratoflow.server.workflow.reprocess import Selection
    from stratoflow.server.workflow.services import job_reprocess

    job = get_job(args.name)
    since = parse_instant(args.since, job.timezone, "--since") if args.since else None
    until = parse_instant(args.until, job.timezone, "--until") if args.until else None
    if since and until and until < since:
        raise ConfigError(f"--until {args.until} is before --since {args.since}")
    selection = Selection(since=since, until=until, flights=tuple(args.flight))
    if args.dry_run:
        report = job_reprocess(job, manager=args.manager, selection=selection, dry_run=True)
    else:
        live = args.progress == "live" or (args.progress == "auto" and sys.stdout.isatty())
        display = LiveProgress() if live else PlainProgress()
        with display:
            report = job_reprocess(
                job,
                manager=args.manager,
                selection=selection,
                workers=args.workers,
                progress=display.update,
            )
    verb = "to re-process" if args.dry_run else "re-processed"
    for plan in report.plans:
        print(
            f"{plan.manager}: {len(plan.items)} file(s) {verb}, {len(plan.unchanged)} unchanged, "
            f"{len(plan.superseded)} superseded, {len(plan.blocked)} cannot be re-processed"
            + (f", {plan.outside} outside the selection" if plan.outside else "")
        )
        for item in plan.items:
            old = ", ".join(k[:12] for k in item.old_keys)
            new = item.new_key[:12]
            print(f"  {item.identity} (flight {item.flight}): configuration {old} -> {new}")
            for change in item.changes:
                print(f"    {change}")
        for blocked in plan.blocked:
            where = f" (flight {blocked.flight})" if blocked.flight else ""
            print(f"  cannot re-process {blocked.identity}{where}: {blocked.reason}")
    if args.dry_run:
        print("dry run: nothing changed")
        return 1 if report.blocked else 0
    run = report.run
    if run is None:
        print("nothing to re-process: no run made")
        return 1 if report.blocked else 0
    for m in run.managers:
        states = ", ".join(f"{n} {s}" for s, n in sorted(m.states.items())) or "no tasks"
        print(f"{m.manager}: {m.collected} task(s) queued; {states}")
        for error in m.errors[:20]:
            print(f"  error: {error}")
    print(f"run {run.run_id}: {run.state}")
    return 0 if run.state == "succeeded" and not report.blocked else 1
