"""``stratoflow schedule preview``: the run instants of a schedule that is not saved yet.

The same :meth:`stratoflow.jobs.Schedule.occurrences` the scheduler uses, so what the preview
shows is what will run. No database is needed.

Example::

    $ stratoflow schedule preview --start 2026-03-27T02:30 --frequency daily \\
          --timezone Europe/Berlin -n 3
    2026-03-27T02:30:00+01:00
    2026-03-28T02:30:00+01:00
    2026-03-29T03:00:00+02:00
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from stratoflow.errors import ScheduleError
from stratoflow.jobs.schedule import FREQUENCIES, Schedule, load_zone, parse_instant


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser("schedule", help="work with schedules that are not saved yet")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    preview = actions.add_parser(
        "preview",
        help="print the next run instants of a schedule",
        description="Print run instants as ISO 8601 with the UTC offset of --timezone. "
        "Times without an offset are wall-clock times in --timezone.",
    )
    preview.add_argument("--start", required=True, help="anchor, e.g. 2026-03-26T02:30")
    preview.add_argument("--frequency", required=True, help=f"one of {', '.join(FREQUENCIES)}")
    preview.add_argument("--interval", type=int, default=1, help="every N hours/days/weeks")
    preview.add_argument("--timezone", default="UTC", help="IANA name, e.g. Europe/Berlin")
    preview.add_argument("--end", help="last possible run instant (inclusive)")
    preview.add_argument(
        "--after", help="list runs strictly after this instant (default: from --start on)"
    )
    preview.add_argument("-n", type=int, default=10, help="how many runs to list (default 10)")
    preview.add_argument("--json", action="store_true", help="print a JSON list")
    preview.set_defaults(func=run_preview)


def run_preview(args: argparse.Namespace) -> int:
    """Run ``stratoflow schedule preview``."""
    zone = load_zone(args.timezone)
    schedule = Schedule(
        frequency=args.frequency,
        interval=args.interval,
        start=parse_instant(args.start, args.timezone, "--start"),
        timezone=args.timezone,
        end=None if args.end is None else parse_instant(args.end, args.timezone, "--end"),
    )
    if args.after is None:
        after = schedule.start - timedelta(seconds=1)
    else:
        after = parse_instant(args.after, args.timezone, "--after")
    if args.n < 0:
        raise ScheduleError(f"-n must be >= 0, not {args.n}")
    instants = [occ.astimezone(zone).isoformat() for occ in schedule.occurrences(after, args.n)]
    if args.json:
        print(json.dumps(instants))
    else:
        for instant in instants:
            print(instant)
    return 0
