"""``stratoflow export``: ad-hoc export of released data from the database into files.

One file per flight, named ``<flight>_<level>[_<resolution>]_v<version><suffix>`` (or as
``--name-template`` says, see :mod:`stratoflow.exporters.naming`); every file
is recorded (selection, series versions, writer, SHA-256) so it can be reproduced, and a
re-export after reprocessing gets the next version number. A flight that cannot be exported
(bad stored data, a writer's refusal) is reported with its defect after the others are
written, and the exit status is then 1.

Example::

    stratoflow export --platform D-AIGT --from 2024-03-01 --to 2024-04-01 \\
        --variables O3,CO --level L2 --format netcdf --resample 10s --out exports/
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from stratoflow.commands.convert import FORMATS, add_writer_arguments, check_writer_options
from stratoflow.commands.inspect import parse_options
from stratoflow.errors import ConfigError, UsageError
from stratoflow.exporters.naming import PLACEHOLDERS, check_name_template
from stratoflow.flags import Flag
from stratoflow.jobs.interrupt import sigterm_raises

__all__ = ["parse_instant", "register"]

#: After SIGTERM: each flight's file is written under a hidden name, then linked into place
#: and recorded in one transaction, so the flights done before it stay, the one being written
#: leaves nothing behind (its hidden file removed, its version claim released).
EXPORT_TERMINATED = (
    "flights exported before it stay written and recorded; the flight being exported was not "
    "written (no partial file is left)"
)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC.

    An argparse type: its :class:`argparse.ArgumentTypeError` is what argparse shows after
    the option's name (any other error it replaces by "invalid parse_instant value").
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date/time such as 2019-01-05 or 2019-01-05T10:37: {exc}"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser(
        "export",
        help="export released data from the database (one file per flight)",
        description="Select series by flight, platform, time range, variables and data level; "
        "optionally resample with flag-aware means; write one file per flight into --out.",
    )
    p.add_argument(
        "--flight", nargs="+", action="extend", default=[], metavar="ID", help="flight id(s)"
    )
    p.add_argument("--platform", help="platform name as in the data files, e.g. IAGOS-01")
    p.add_argument("--aircraft", help="aircraft registration from the catalog, e.g. D-AIGT")
    p.add_argument("--deployment", type=int, help="deployment id: only series measured under it")
    p.add_argument("--from", dest="start", type=parse_instant, help="ISO start (inclusive, UTC)")
    p.add_argument("--to", dest="end", type=parse_instant, help="ISO end (exclusive, UTC)")
    p.add_argument("--variables", default="", help="comma-separated variable names (all)")
    p.add_argument(
        "--level",
        choices=["L1", "L2", "any"],
        default="L1",
        help="released level (L1 includes L2 releases); 'any' = current data, reviewed or not",
    )
    p.add_argument("--format", required=True, choices=sorted(FORMATS), help="output format")
    p.add_argument("--resample", help="resolution, e.g. 1s, 4s, 10s, 1min (native if omitted)")
    p.add_argument(
        "--aggregate",
        choices=["worst", "majority"],
        help="with --resample: flag of a resampled point, worst (default) or majority of the "
        "contributing points",
    )
    p.add_argument(
        "--valid",
        help="with --resample: flags whose points enter resampled means, e.g. good,limited (good)",
    )
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument(
        "--name-template",
        metavar="TEMPLATE",
        help="file names instead of <flight>_<level>[_<resolution>]_v<version><suffix>, e.g. "
        "'IAGOS_timeseries_{flight}_{level}_{version}.nc4'; placeholders: "
        + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        + " (needs {flight} and {version}; not for icartt, named by its standard)",
    )
    add_writer_arguments(p)
    p.add_argument("--json", action="store_true", help="print the export records as JSON")
    p.set_defaults(func=run, when_terminated=EXPORT_TERMINATED)


def _valid_flags(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(Flag[name.strip().upper()]) for name in text.split(",") if name.strip())
    except KeyError as exc:
        known = ", ".join(f.label for f in Flag)
        raise ConfigError(f"--valid: unknown flag {exc} (known: {known})") from None


def run(args: argparse.Namespace) -> int:
    """Run the sub-command."""
    from stratoflow.server import setup

    for flag in ("aggregate", "valid"):
        if getattr(args, flag) is not None and not args.resample:
            raise ConfigError(f"--{flag} only applies to resampled exports: add --resample")
    if args.name_template is not None:  # before the database is set up: a usage error
        try:
            check_name_template(args.name_template, args.format, what="--name-template")
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    writer_options = parse_options(args.writer_option, "writer option")
    check_writer_options(args.format, writer_options)
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a file; give the directory to write into")
    setup(migrate=True)
    from stratoflow.exporters.export import ExportIncomplete, ExportOptions, export
    from stratoflow.exporters.selection import Selection

    selection = Selection(
        flights=tuple(args.flight),
        platform=args.platform,
        aircraft=args.aircraft,
        deployment=args.deployment,
        start=args.start,
        end=args.end,
        variables=tuple(v.strip() for v in args.variables.split(",") if v.strip()),
        level=args.level,
    )
    options = ExportOptions(
        format=args.format,
        writer_options=writer_options,
        resample=args.resample,
        aggregate=args.aggregate or "worst",
        valid_flags=_valid_flags(args.valid or "good"),
        name_template=args.name_template,
    )
    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name (containers without a passwd entry)
        who = "unknown"
    try:
        # SIGTERM unwinds like Ctrl-C: the writer removes its .part file, the exporter its
        # hidden file (and the file it linked into place), the flight's version claim is
        # released and its record rolled back
        with sigterm_raises():
            records = export(selection, options, args.out, requested_by=f"cli:{who}")
        incomplete = None
    except ExportIncomplete as exc:
        records, incomplete = exc.records, exc
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "file": str(args.out / r.file_name),
                        "flight": r.subject,
                        "format": r.format,
                        "version": r.version,
                        "sha256": r.sha256,
                        "fingerprint": r.fingerprint,
                        "points": r.points,
                        "series": r.series_versions,
                        "record": r.pk,
                    }
                    for r in records
                ],
                indent=2,
            )
        )
    else:
        for r in records:
            print(f"{args.out / r.file_name}  v{r.version}  {r.points:,} points  {r.sha256[:16]}")
    if incomplete is None:
        return 0
    # The flights that did export are listed above; each that did not, with its defect.
    for _, message in incomplete.failures:
        print(f"stratoflow export: error: {message}", file=sys.stderr)
    print(
        f"stratoflow export: {len(incomplete.failures)} of {incomplete.total} flight(s) not "
        f"exported, {len(records)} written",
        file=sys.stderr,
    )
    return 1
