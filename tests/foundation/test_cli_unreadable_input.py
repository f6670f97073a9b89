"""An input file the user may not read: said as such, by every command that reads one.

The kernel's own permission check refuses the file: the commands run in a child process. When
the tests run as root, where chmod 000 alone does not stop a read, the child runs without the
capabilities that override file permissions (``setpriv`` drops CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH from its bounding set), so it is refused as any other user would be.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

COMMANDS = ["inspect", "qc", "convert"]
READERS: list[str | None] = [None, "nasa_ames"]

# Runs every combination in one child (one interpreter start-up, not six) and prints, per
# combination, the exit status, what went to stderr and whether an output file appeared.
CHILD = """
import contextlib, io, json, sys
from pathlib import Path
from stratoflow.cli import main
src, work, commands, readers = sys.argv[1], Path(sys.argv[2]), *json.loads(sys.argv[3])
results = {}
for command in commands:
    for reader in readers:
        out = work / f"{command}-{reader}.nc"
        extra = {"qc": ["--out", str(out)], "convert": [str(out), "--format", "netcdf"]}
        chosen = ["--reader", reader] if reader else []
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main([command, src, *extra.get(command, []), *chosen])
        results[f"{command} {reader}"] = [code, err.getvalue().strip(), out.exists()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[object]]:
    unprivileged: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("tests run as root and setpriv (util-linux) is missing: cannot drop root")
        unprivileged = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    work = tmp_path_factory.mktemp("unreadable")
    src = work / "o3.txt"
    src.write_text("time,O3\n2024-01-01T00:00:00Z,40\n")
    src.chmod(0)
    env = {**os.environ, "HOME": str(work), "STRATOFLOW_HOME": str(work / "home")}
    done = subprocess.run(
        [
            *unprivileged,
            sys.executable,
            "-c",
            CHILD,
            str(src),
            str(work),
            json.dumps([COMMANDS, READERS]),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {"src": [str(src)], **json.loads(done.stdout.splitlines()[-1])}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("reader", READERS)
def test_permission_denied_is_named(
    command: str, reader: str | None, outcomes: dict[str, list[object]]
) -> None:
    """Before: "no reader recognises this file; choose one with reader=..." (the guessing
    could not look inside), or with --reader a parse error about the file's first line."""
    unreadable = outcomes["src"][0]
    code, err, wrote = outcomes[f"{command} {reader}"]
    assert code == 1
    assert err == f"stratoflow {command}: error: {unreadable}: cannot read: Permission denied"
    assert not wrote
