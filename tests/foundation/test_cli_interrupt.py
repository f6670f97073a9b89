"""Ctrl-C at any moment of a command: the line "interrupted", status 130, no traceback."""

from __future__ import annotations

import importlib
import subprocess
import sys
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
