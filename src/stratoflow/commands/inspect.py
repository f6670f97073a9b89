"""``stratoflow inspect FILE``: what a reader makes of a file, without touching a database."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from stratoflow import open_dataset
from stratoflow.commands.arguments import key_value
from stratoflow.dataset import TIME, data_variables, flags_of
from stratoflow.errors import ConfigError
from stratoflow.flags import count_flags


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser("inspect", help="read a file and summarise the standardized Dataset")
    p.add_argument("file", help="the file to read")
    add_reader_arguments(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def add_reader_arguments(p: argparse.ArgumentParser) -> None:
    """``--reader`` and ``-o KEY=VALUE``: every command that reads a file takes the same."""
    p.add_argument("--reader", help="reader name (guessed from the file when omitted)")
    p.add_argument(
        "-o",
        "--option",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="reader option (repeatable); VALUE is parsed as JSON when it can be, "
        "e.g. -o preset=fairo_omc -o header_lines=2 -o time_unit=h -o group=/flight",
    )


def parse_options(items: list[str], what: str = "reader option") -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (JSON values where they parse)."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} {item!r} is not KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def summarize(ds: xr.Dataset) -> dict[str, Any]:
    """A JSON-able summary: reader, variables with units and flag counts, points, time range."""
    times = ds[TIME].values
    variables = {}
    for name in data_variables(ds):
        var = ds[name]
        values = np.asarray(var.values)
        valid = int(np.isfinite(values).sum()) if values.dtype.kind == "f" else int(values.size)
        variables[name] = {
            "units": str(var.attrs.get("units", "")),
            "long_name": str(var.attrs.get("long_name", "")),
            "points": int(values.size),
            "valid_points": valid,
            "flags": count_flags(flags_of(ds, name)),
        }
    return {
        "file": ds.attrs.get("source_file"),
        "reader": ds.attrs.get("reader"),
        "points": int(ds.sizes[TIME]),
        "time_start": str(times[0])[:23] + "Z" if times.size else None,
        "time_end": str(times[-1])[:23] + "Z" if times.size else None,
        "variables": variables,
        "not_read": {
            key: str(ds.attrs[f"reader_skipped_{key}"]).split()
            for key in ("variables", "groups", "lines")
            if ds.attrs.get(f"reader_skipped_{key}")
        },
    }


def run(args: argparse.Namespace) -> int:
    """Run the sub-command."""
    ds = open_dataset(args.file, reader=args.reader, **parse_options(args.option))
    summary = summarize(ds)
    # the file inspected, not the original a converted file was made from (that is lineage)
    origin = summary["file"]
    summary["file"] = Path(args.file).name
    if origin and origin != summary["file"]:
        summary["converted_from"] = origin
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    made = f", converted from {origin}" if "converted_from" in summary else ""
    print(f"{summary['file']}  (reader: {summary['reader']}{made})")
    print(f"  {summary['points']} time steps, {summary['time_start']} .. {summary['time_end']}")
    width = max((len(n) for n in summary["variables"]), default=8)
    for name, info in summary["variables"].items():
        flags = ", ".join(f"{k} {v}" for k, v in info["flags"].items() if v)
        print(f"  {name:<{width}}  [{info['units']}]  {info['valid_points']} valid  ({flags})")
    why = {
        "variables": "not one-dimensional on time",
        "groups": "only the root group is read",
        "lines": "the column names repeated",
    }
    for what, names in summary["not_read"].items():
        print(f"  not read: {what} {', '.join(names)} ({why[what]})")
    return 0
