"""``stratoflow convert IN OUT --format ...``: read any supported file, write another format.

No database is involved: the file goes through a reader into the standardized Dataset and
out through a writer, exactly as an import followed by an export would see it. The format
names of the command are the ones of ``stratoflow export``; each maps to a writer plugin and
its options (``iagos-netcdf`` is the netCDF writer with ``layout="iagos"``).

Example::

    stratoflow convert IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4 flight.csv --format csv
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from stratoflow import open_dataset, write_dataset
from stratoflow.commands.arguments import WRITE_TERMINATED, key_value, output_file, output_not_input
from stratoflow.commands.inspect import add_reader_arguments, parse_options
from stratoflow.dataset import TIME, data_variables
from stratoflow.errors import ConfigError
from stratoflow.jobs.interrupt import sigterm_raises
from stratoflow.writers import get_writer

__all__ = ["FORMATS", "convert", "register"]

#: Command-line format name -> (writer plugin, writer options).
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    "netcdf": ("netcdf", {}),
    "iagos-netcdf": ("netcdf", {"layout": "iagos"}),
    "nasa-ames": ("nasa_ames", {}),
    "icartt": ("icartt", {}),
    "csv": ("csv", {}),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser(
        "convert",
        help="read a file with any reader and write it in another format (no database)",
    )
    p.add_argument("input", help="the file to read")
    p.add_argument(
        "output",
        type=output_file,
        help="the file to write (replaced atomically), in a directory that exists",
    )
    p.add_argument("--format", required=True, choices=sorted(FORMATS), help="output format")
    add_reader_arguments(p)
    add_writer_arguments(p)
    p.set_defaults(func=run, when_terminated=WRITE_TERMINATED)


def add_writer_arguments(p: argparse.ArgumentParser) -> None:
    """``-w KEY=VALUE``: convert and export take the same writer options."""
    p.add_argument(
        "-w",
        "--writer-option",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="writer option (repeatable), parsed like -o; e.g. -w text_variables=drop to leave "
        "text columns out of ICARTT and NASA Ames, which hold numbers only",
    )


def check_writer_options(fmt: str, writer_options: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` when ``writer_options`` do not fit the format's writer.

    Checked before any reading or database work: a typo fails fast, by name.
    """
    writer, fixed = FORMATS[fmt]
    try:
        inspect.signature(get_writer(writer)).bind(**{**fixed, **writer_options})
    except TypeError as exc:
        raise ConfigError(f"writer {writer!r}: invalid options: {exc}") from exc


def convert(
    source: str,
    target: str,
    fmt: str,
    reader: str | None = None,
    reader_options: dict[str, Any] | None = None,
    writer_options: dict[str, Any] | None = None,
) -> str:
    """Convert ``source`` to ``target`` in format ``fmt``; returns a one-line summary.

    ``writer_options`` add to (and may override) the options the format name stands for.
    """
    writer, fixed = FORMATS[fmt]
    options = {**fixed, **(writer_options or {})}
    check_writer_options(fmt, options)
    output_not_input(target, {"the input file": source})
    ds = open_dataset(source, reader=reader, **(reader_options or {}))
    path = write_dataset(ds, target, writer=writer, **options)
    return (
        f"{source} ({ds.attrs.get('reader')}) -> {path} ({fmt}): "
        f"{ds.sizes[TIME]} time steps, {len(data_variables(ds))} variables"
    )


def run(args: argparse.Namespace) -> int:
    """Run the sub-command."""
    with sigterm_raises():  # SIGTERM unwinds like Ctrl-C: the writer removes its .part file
        summary = convert(
            args.input,
            args.output,
            args.format,
            reader=args.reader,
            reader_options=parse_options(args.option),
            writer_options=parse_options(args.writer_option, "writer option"),
        )
    print(summary)
    return 0
