"""``stratoflow job``: load job definitions, list upcoming runs, run a job now.

Examples::

    $ stratoflow job load jobs/iagos.yaml
    created: job import-flights, transfer portal
    $ stratoflow job next import-flights -n 3
    2026-03-28T02:30:00+01:00
    2026-03-29T03:00:00+02:00
    2026-03-30T02:30:00+02:00
    $ stratoflow job list                      # every job, its schedule and last run
    $ stratoflow job show import-flights -n 5  # managers, next run, last 5 runs, failures
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

from stratoflow.commands.arguments import positive_int
from stratoflow.errors import ConfigError
from stratoflow.jobs.interrupt import sigterm_raises
from stratoflow.server import setup


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser("job", help="load, inspect and run jobs")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = actions.add_parser("load", help="create or update jobs from a YAML file")
    load.add_argument("file", type=Path)
    load.add_argument(
        "--prune",
        action="store_true",
        help="remove managers no longer listed even if they have task history (deleting it)",
    )
    load.set_defaults(func=run_load)
    lst = actions.add_parser("list", help="every job with its schedule and latest run")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=run_list)
    show = actions.add_parser(
        "show", help="a job's managers, next run and run history with the failed tasks"
    )
    show.add_argument("name")
    show.add_argument("-n", type=positive_int, default=10, help="how many recent runs (default 10)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)
    nxt = actions.add_parser("next", help="print the next run instants of a job")
    nxt.add_argument("name")
    nxt.add_argument("-n", type=positive_int, default=10, help="how many (default 10)")
    nxt.add_argument("--json", action="store_true", help="print a JSON list")
    nxt.set_defaults(func=run_next)
    run = actions.add_parser("run", help="run a job now")
    run.add_argument("name")
    run.add_argument(
        "--workers", type=positive_int, default=4, help="in-process threads (default 4)"
    )
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
    again.add_argument(
        "--workers", type=positive_int, default=4, help="in-process threads (default 4)"
    )
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

    report = jobs_load(args.file, prune=args.prune)
    for what in ("created", "updated", "removed", "unchanged"):
        names = getattr(report, what)
        if names:
            print(f"{what}: {', '.join(names)}")
    return 0


def _schedule_text(job: Any) -> str:
    """``every 6 hours from 2026-01-01T00:15+00:00 (UTC)``, or that it has none."""
    from zoneinfo import ZoneInfo

    if job.schedule is None:
        return "no schedule (runs when asked)"
    unit = {"hourly": "hour", "daily": "day", "weekly": "week"}.get(job.frequency, job.frequency)
    every = f"every {unit}" if job.interval == 1 else f"every {job.interval} {unit}s"
    if job.frequency == "once":
        every = "once"
    if job.start is None:
        return f"{every} ({job.timezone})"
    start = job.start.astimezone(ZoneInfo(job.timezone)).isoformat(timespec="minutes")
    return f"{every} {'at' if every == 'once' else 'from'} {start} ({job.timezone})"


def _run_record(run: Any, *, failures: bool) -> dict[str, Any]:
    from django.db.models import Count

    from stratoflow.server.workflow.models import Task

    record: dict[str, Any] = {
        "run": run.pk,
        "scheduled_for": run.scheduled_for.isoformat(),
        "state": run.state,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    tasks = Task.objects.filter(run=run)
    counts = tasks.values_list("state").annotate(n=Count("id")).order_by("state")
    record["tasks"] = {state: n for state, n in counts}
    if failures:
        record["failed"] = [
            {"manager": t.manager.name, "subject": t.subject, "error": t.error}
            for t in tasks.filter(state="failed").select_related("manager").order_by("id")[:50]
        ]
        record["errors"] = [
            e
            for m in (run.summary or {}).get("managers", [])
            for e in m.get("errors", [])
            if e.startswith("collect failed")
        ]
        if (run.summary or {}).get("interrupted"):
            record["errors"].insert(0, str(run.summary["interrupted"]))
    return record


def run_list(args: argparse.Namespace) -> int:
    """Run ``stratoflow job list``."""
    setup(migrate=True)
    from stratoflow.server.workflow.models import Job

    rows: list[dict[str, Any]] = []
    for job in Job.objects.order_by("order", "name"):
        last = job.runs.order_by("-scheduled_for").first()
        nxt = job.next_occurrences(1) if job.enabled else []
        rows.append(
            {
                "name": job.name,
                "enabled": job.enabled,
                "schedule": _schedule_text(job),
                "next": nxt[0].isoformat() if nxt else None,
                "last_run": _run_record(last, failures=False) if last else None,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no jobs (load some with `stratoflow job load FILE`)")
    for row in rows:
        latest = row["last_run"]
        state = f"last run {latest['scheduled_for']} {latest['state']}" if latest else "never run"
        off = "" if row["enabled"] else "  [disabled]"
        print(f"{row['name']}{off}: {row['schedule']}; next {row['next'] or '-'}; {state}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Run ``stratoflow job show``."""
    setup(migrate=True)
    if args.n < 0:
        raise ConfigError(f"-n must be >= 0, not {args.n}")
    job = get_job(args.name)
    nxt = job.next_occurrences(1) if job.enabled else []
    info: dict[str, Any] = {
        "name": job.name,
        "description": job.description,
        "enabled": job.enabled,
        "schedule": _schedule_text(job),
        "next": nxt[0].isoformat() if nxt else None,
        "depends_on": list(job.depends_on.values_list("name", flat=True)),
        "managers": [
            {
                "name": m.name,
                "kind": m.kind,
                "order": m.order,
                "transfer": m.transfer.name if m.transfer else None,
            }
            for m in job.managers.select_related("transfer").order_by("order", "id")
        ],
        "runs": [
            _run_record(r, failures=True) for r in job.runs.order_by("-scheduled_for")[: args.n]
        ],
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    off = "" if job.enabled else " [disabled]"
    print(f"job {job.name}{off}: {job.description}".rstrip(": "))
    print(f"  schedule: {info['schedule']}; next run {info['next'] or '-'}")
    if info["depends_on"]:
        print(f"  depends on: {', '.join(info['depends_on'])}")
    for m in info["managers"]:
        via = f" via {m['transfer']}" if m["transfer"] else ""
        print(f"  manager {m['order']}: {m['name']} ({m['kind']}){via}")
    if not info["runs"]:
        print("  no runs yet")
    for r in info["runs"]:
        counts = ", ".join(f"{n} {s}" for s, n in r["tasks"].items()) or "no tasks"
        print(f"  run {r['run']} {r['scheduled_for']}: {r['state']} ({counts})")
        for error in r["errors"]:
            print(f"    {error}")
        for t in r["failed"]:
            print(f"    failed {t['manager']}/{t['subject']}: {t['error']}")
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
    with sigterm_raises(), display:
        report = job_run(job, workers=args.workers, progress=display.update)
    for run in [*report.resumed, report]:
        if run is not report:
            print(f"resumed run {run.run_id}, left unfinished by a process that stopped or died:")
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
    from stratoflow.server.workflow.models import Task

    retried = list(failed.tasks.filter(state="failed").values_list("pk", flat=True))
    count = run_retry_failed(failed)
    print(f"run {failed.pk} ({failed.scheduled_for.isoformat()}): {count} task(s) queued again")
    if args.no_run:
        return 0
    with sigterm_raises():
        report = run_execute(failed)
    for task in Task.objects.filter(pk__in=retried, state="skipped").order_by("id"):
        print(f"  skipped {task.subject}: {task.details.get('note', '')}")
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
        with sigterm_raises(), display:
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
