"""Argument types shared by the sub-commands: a bad value is a usage error (exit status 2).

argparse shows the message of an :class:`argparse.ArgumentTypeError` after the option's name;
a count of threads or seconds that cannot work (0, -1) is refused there, before a scheduler
starts with no thread to run its tasks or ticks without pause.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from stratoflow import durations
from stratoflow.errors import UsageError

#: After SIGTERM, what a command that writes one file says became of it: SIGTERM unwinds like
#: Ctrl-C (``stratoflow.jobs.interrupt.sigterm_raises``), and the writer removes its ``.part``.
WRITE_TERMINATED = "the output was not written (a file it would have replaced is unchanged)"

__all__ = [
    "WRITE_TERMINATED",
    "key_value",
    "output_file",
    "output_not_input",
    "positive_int",
    "positive_seconds",
]


def positive_int(text: str) -> int:
    """An integer of at least 1 (threads, flights, how many runs to show)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds above 0."""
    try:
        return durations.positive_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def key_value(text: str) -> str:
    """A ``KEY=VALUE`` item (``-o``, ``-w``), kept as given; the value is parsed later."""
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def output_file(text: str) -> str:
    """A file to write, in a directory that exists.

    The writers create missing directories (an export fills a tree of them); on the command
    line a missing directory is far more often a typo (``reslts/flight.nc``) than a wish, and
    the result would land where nobody looks.
    """
    path = Path(text)
    if not text:
        raise argparse.ArgumentTypeError("no file given (the path is empty)")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a directory, not a file")
    parent = path.parent
    if not parent.is_dir():
        what = "is a file, not a directory" if parent.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text}: the directory {parent} {what}")
    return text


def output_not_input(output: str, inputs: Mapping[str, str | None]) -> None:
    """Raise :class:`UsageError` when ``output`` is one of the files ``inputs`` names.

    ``inputs`` maps what each input is ("the input file", "the QC configuration") to its path
    (None: not given). Checked before anything is read: the writer replaces its target, and
    the input would be lost. Compared as files, not as text: ``./flight.nc``, a symbolic link
    or a hard link to the input are the input too.
    """
    target = Path(output)
    if not target.exists():
        return
    for what, given in inputs.items():
        if given is None or not Path(given).exists() or not target.samefile(given):
            continue
        shown = what if given == output else f"{what} {given}"
        raise UsageError(f"{output}: the output is {shown}; write the result elsewhere")
