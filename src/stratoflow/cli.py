"""The ``stratoflow`` command.

Each sub-command lives in its own module under :mod:`stratoflow.commands` and exposes
``register(subparsers)``; the module list below is the whole wiring. Commands that need the
database set up Django themselves (:func:`stratoflow.server.setup`), so ``stratoflow inspect``
on a file stays fast and works without any server configuration.

Expected failures (:class:`~stratoflow.errors.StratoflowError`) end with a one-line message on
stderr and exit status 1 — no traceback; ``--debug`` shows it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from stratoflow import __version__
from stratoflow.errors import StratoflowError

__all__ = ["main"]

COMMAND_MODULES = [
    "stratoflow.commands.convert",
    "stratoflow.commands.demo",
    "stratoflow.commands.inspect",
    "stratoflow.commands.qc",
    "stratoflow.commands.schedule",
    "stratoflow.commands.serve",
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="stratoflow",
        description="Fetch, read, import, quality-control, review and export atmospheric "
        "measurements.",
    )
    parser.add_argument("--version", action="version", version=f"stratoflow {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except StratoflowError as exc:
        if args.debug:
            raise
        print(f"stratoflow {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
