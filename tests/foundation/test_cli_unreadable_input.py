"""An input file the user may not read: said as such, by every command that reads one."""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any

import pytest

from stratoflow.cli import main


@pytest.fixture
def unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file whose opening fails with EACCES. chmod 000 is not enough where the tests run as
    root, so opening it is made to fail the way the kernel fails it for other users."""
    path = tmp_path / "o3.txt"
    path.write_text("time,O3\n2024-01-01T00:00:00Z,40\n")
    path.chmod(0)
    real_open = builtins.open

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | os.PathLike) and Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    return path


@pytest.mark.parametrize("command", ["inspect", "qc", "convert"])
@pytest.mark.parametrize("reader", [None, "nasa_ames"])
def test_permission_denied_is_named(
    command: str,
    reader: str | None,
    unreadable: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: "no reader recognises this file; choose one with reader=..." (the guessing
    could not look inside), or with --reader a parse error about the file's first line."""
    out = str(tmp_path / "out.nc")
    extra = {"qc": ["--out", out], "convert": [out, "--format", "netcdf"]}.get(command, [])
    chosen = ["--reader", reader] if reader else []
    assert main([command, str(unreadable), *extra, *chosen]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"stratoflow {command}: error: {unreadable}: cannot read: Permission denied"
    assert not Path(out).exists()
