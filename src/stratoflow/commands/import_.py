"""``stratoflow import FILE`` and ``stratoflow import-metadata FILE``: import by hand.

Both go through the same functions as a job's task managers (``import`` and ``metadata``
kinds), into the configured database, so a file imported by hand is stored exactly as a job
would have stored it — and importing it again, by hand or by a job, creates nothing new.
"""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import Any

from stratoflow.commands.inspect import add_reader_arguments, parse_options
from stratoflow.errors import ConfigError
from stratoflow.server import setup


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-commands to the CLI."""
    p = sub.add_parser("import", help="import a data file into the database")
    p.add_argument("file", help="the file to import")
    add_reader_arguments(p)
    p.add_argument("--provider", default="", help="data provider name recorded as provenance")
    p.add_argument("--identity", help="source identity (default: the file name)")
    p.add_argument("--level", default="L0", choices=["L0", "L1", "L2"], help="data level (L0)")
    p.add_argument("--instrument", help="instrument of the series, as 'type/serial'")
    p.add_argument(
        "--processing",
        type=Path,
        help="YAML/JSON file with a list of processing steps ({step: name, params: {...}})",
    )
    p.add_argument("--no-qc", action="store_true", help="store without running QC")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)

    m = sub.add_parser(
        "import-metadata",
        help="import an instrument catalog file (YAML, .xlsx workbook or a folder of CSV files)",
    )
    m.add_argument(
        "file",
        type=Path,
        nargs="?",
        help="the metadata file: YAML, an .xlsx workbook, or a folder of <section>.csv files",
    )
    m.add_argument(
        "--template",
        type=Path,
        metavar="OUT.xlsx",
        help="write an empty workbook with every sheet and column instead of importing",
    )
    m.add_argument("--who", help="name recorded in the audit trail (default: the OS user)")
    m.add_argument("--json", action="store_true", help="print the result as JSON")
    m.set_defaults(func=run_metadata)


def _steps(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    from stratoflow.plain_yaml import read_yaml_file

    steps = read_yaml_file(path, "processing steps")
    if not isinstance(steps, list):
        raise ConfigError(f"{path}: processing steps must be a list of {{step, params}}")
    return steps


def run(args: argparse.Namespace) -> int:
    """Run ``stratoflow import``."""
    setup(migrate=True)
    from stratoflow.importers.series import import_file

    path = Path(args.file)
    result = import_file(
        path,
        identity=args.identity,
        provider=args.provider,
        reader=args.reader,
        reader_options=parse_options(args.option),
        qc=not args.no_qc,
        level=args.level,
        processing=_steps(args.processing),
        instrument=args.instrument,
    )
    series = result.result.series if result.result else []
    state = "created" if result.created else "unchanged"
    rows = [
        {
            "id": s.pk,
            "flight": s.flight.identifier,
            "variable": s.variable,
            "level": s.level,
            "version": s.version,
            "points": s.n_points,
            "state": state,
        }
        for s in series
    ]
    if args.json:
        summary = {
            "file": str(path),
            "flight": result.flight,
            "created": result.created,
            "points": result.points,
            "flags": result.flag_counts,
            "import_report": result.report,
            "series": rows,
        }
        print(json.dumps(summary, indent=2, default=str))
        return 0
    print(f"{path.name}: flight {result.flight}: {len(rows)} series {state}")
    for row in rows:
        print(
            f"  {row['state']:9} #{row['id']} {row['variable']} {row['level']} "
            f"v{row['version']} ({row['points']} points)"
        )
    for note in result.report.get("notes", []):
        print(f"  note: {note}")
    return 0


def run_metadata(args: argparse.Namespace) -> int:
    """Run ``stratoflow import-metadata``."""
    if args.template is not None:
        if args.file is not None:
            raise ConfigError("give a file to import or --template, not both")
        from stratoflow.server.catalog.spreadsheet import write_template

        write_template(args.template)
        print(f"{args.template}: empty metadata workbook written (one sheet per section)")
        return 0
    if args.file is None:
        raise ConfigError("give the metadata file to import (or --template OUT.xlsx)")
    setup(migrate=True)
    from stratoflow.server.catalog.metadata import metadata_import_file

    report = metadata_import_file(args.file, who=args.who or getpass.getuser())
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
        return 0
    total = {k: sum(v.values()) for k, v in report.as_dict().items() if isinstance(v, dict)}
    print(
        f"{args.file.name}: {total['created']} created, {total['updated']} updated, "
        f"{total['unchanged']} unchanged"
    )
    for change in report.changes:
        print(f"  {change['action']} {change['model']} {change['key']}")
    return 0
