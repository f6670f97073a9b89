"""The ``stratoflow`` command.

Each sub-command lives in its own module under :mod:`stratoflow.commands` and exposes
``register(subparsers)``; the module list below is the whole wiring. Commands that need the
database set up Django themselves (:func:`stratoflow.server.setup`), so ``stratoflow inspect``
on a file stays fast and works without any server configuration.

Expected failures (:class:`~stratoflow.errors.StratoflowError`) end with a one-line message on
stderr and exit status 1 — no traceback; ``--debug`` shows it. Usage errors found by a command
(:class:`~stratoflow.errors.UsageError`: arguments that contradict each other) are reported the
same way with status 2, as argparse reports those it finds itself.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import TextIO

from stratoflow import __version__
from stratoflow.errors import StratoflowError, UsageError
from stratoflow.files import remove_partial_files
from stratoflow.jobs.interrupt import Terminated

__all__ = ["main"]

COMMAND_MODULES = [
    "stratoflow.commands.backfill",
    "stratoflow.commands.convert",
    "stratoflow.commands.demo",
    "stratoflow.commands.import_",
    "stratoflow.commands.export",
    "stratoflow.commands.inspect",
    "stratoflow.commands.job",
    "stratoflow.commands.qc",
    "stratoflow.commands.schedule",
    "stratoflow.commands.scheduler",
    "stratoflow.commands.serve",
    "stratoflow.commands.worker",
]


#: After SIGTERM, what became of the work (commands that run jobs; see stratoflow.jobs.interrupt).
RUN_TERMINATED = (
    "the unfinished run is marked interrupted and its files are picked up by the next run"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="stratoflow",
        description="Fetch, read, import, quality-control, review and export atmospheric "
        "measurements.",
    )
    parser.add_argument("--version", action="version", version=f"stratoflow {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    # what stratoflow says after SIGTERM; commands that write a file say otherwise
    parser.set_defaults(when_terminated=RUN_TERMINATED)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Warnings for people: one line naming the problem, not our source line."""
    print(f"stratoflow: warning: {message}", file=file or sys.stderr)


#: After Ctrl-C, how long a command may take to unwind (remove its partial files, close the
#: ones it reads) before it is stopped. A library lock left held by the interrupt (xarray's
#: file manager, when Ctrl-C lands between its acquire and its ``try``) makes the close that
#: follows wait forever: without this limit one Ctrl-C (or ``kill -INT``) could hang the command.
INTERRUPT_GRACE_SECONDS = 10.0


def _stop_after_grace() -> None:
    remove_partial_files()  # the stuck unwinding would have; os._exit skips every finally
    message = f"interrupted (clean-up did not finish in {INTERRUPT_GRACE_SECONDS:g} s; stopped)"
    os.write(sys.stderr.fileno(), message.encode() + b"\n")
    os._exit(130)


@contextlib.contextmanager
def _bounded_interrupt() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as usual and starts a timer that ends the process if the
    unwinding hangs; the timer is cancelled when the command returns, whichever way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    timers: list[threading.Timer] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if not timers:
            timers.append(threading.Timer(INTERRUPT_GRACE_SECONDS, _stop_after_grace))
            timers[0].daemon = True
            timers[0].start()
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:  # ignored (background job) or someone's own
        yield
        return
    signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        for timer in timers:
            timer.cancel()


def _print_error(command: str, exc: BaseException) -> None:
    """The one-line report of a failed command, every revealed secret masked: the message may
    quote a path, URL or server answer that holds one, and stderr goes to terminals, cron
    mails and CI logs. Imported here: the transfer package (httpx, paramiko) is not needed
    to start a command that fetches nothing."""
    from stratoflow.transfer.secrets import redact

    print(f"stratoflow {command}: error: {redact(str(exc))}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    try:  # Ctrl-C while the command modules (numpy, xarray, ...) load: no traceback either
        parser = build_parser()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    if not args.debug:
        warnings.showwarning = _show_warning
    try:
        with _bounded_interrupt():
            status: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
    except UsageError as exc:  # arguments that contradict each other: status 2, as argparse
        if args.debug:
            raise
        _print_error(args.command, exc)
        return 2
    except StratoflowError as exc:
        if args.debug:
            raise
        _print_error(args.command, exc)
        return 1
    except Terminated as exc:  # SIGTERM (see stratoflow.jobs.interrupt)
        remove_partial_files()
        print(f"stratoflow {args.command}: {exc}; {args.when_terminated}", file=sys.stderr)
        return 143  # 128 + SIGTERM, what a shell reports for a process stopped by it
    except KeyboardInterrupt:
        remove_partial_files()  # an interrupt that landed in a clean-up cut it short
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `stratoflow inspect F | head`: the reader left; not an error of ours
        # stdout is gone: point it at devnull so the interpreter's final flush stays silent
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by the pipe
    return status


if __name__ == "__main__":
    sys.exit(main())
