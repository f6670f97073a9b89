"""Ctrl-C at any moment of a command: the line "interrupted", status 130, no traceback."""

from __future__ import annotations

import importlib
import signal
import subprocess
import sys
import time
from types import ModuleType

import pytest

from stratoflow import cli


def test_ctrl_c_while_the_commands_load(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Loading the command modules (numpy, xarray, pandas) is most of a command's first
    second; Ctrl-C then ended in a traceback through importlib."""
    real = importlib.import_module

    def interrupted(name: str, package: str | None = None) -> ModuleType:
        if name == cli.COMMAND_MODULES[-1]:
            raise KeyboardInterrupt
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", interrupted)
    try:
        status = cli.main(["inspect", "--help"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped main() as a traceback")
    assert status == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_the_console_script_starts_without_the_data_libraries() -> None:
    """What ``from stratoflow.cli import main`` loads runs before any handler of ours exists,
    so Ctrl-C there is a traceback: it is kept to the few modules the CLI itself needs."""
    code = "import sys, stratoflow.cli; print(sorted({'xarray', 'pandas'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


HANGING_CLEANUP = """
import sys, threading
from stratoflow import cli
import stratoflow.commands.inspect as inspect_command

cli.INTERRUPT_GRACE_SECONDS = 1.0
held = threading.Lock()
held.acquire()  # as xarray's file lock is when Ctrl-C lands between its acquire and its try


def run(args):
    try:  # announced inside the try: a SIGINT right after the line lands in it
        print("reading", flush=True)
        threading.Event().wait()
    finally:
        held.acquire()  # the close that follows waits for that lock forever


inspect_command.run = run
sys.exit(cli.main(["inspect", "flight.nc"]))
"""


def test_one_ctrl_c_ends_a_command_whose_cleanup_hangs() -> None:
    """Seen with `stratoflow inspect IAGOS.nc4` and one SIGINT: xarray's close waited for a
    lock the interrupt had left held, and the command hung until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HANGING_CLEANUP],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "reading\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("one Ctrl-C left the command hanging")
    assert proc.returncode == 130
    assert err == "interrupted (clean-up did not finish in 1 s; stopped)\n"


def test_a_command_that_returns_leaves_no_watchdog_behind(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The limit applies to the unwinding of an interrupt only: a command interrupted and
    cleaned up in time, and the SIGINT handling of the caller, are as before."""
    monkeypatch.setattr(cli, "INTERRUPT_GRACE_SECONDS", 0.2)
    import stratoflow.commands.inspect as inspect_command

    def run(args: object) -> int:
        signal.raise_signal(signal.SIGINT)
        return 0

    monkeypatch.setattr(inspect_command, "run", run)
    before = signal.getsignal(signal.SIGINT)
    assert cli.main(["inspect", "flight.nc"]) == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert signal.getsignal(signal.SIGINT) is before
    time.sleep(0.5)  # a timer left running would have ended this process by now
