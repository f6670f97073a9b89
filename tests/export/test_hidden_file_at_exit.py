"""``stratoflow export`` stopped after Ctrl-C when its clean-up hangs: its hidden file.

An export is written as a hidden ``.<name>...export`` file, then linked into place in the
transaction that records it. When the unwinding after Ctrl-C hangs (a lock a library left
held), the command is stopped with ``os._exit`` after the grace period, which runs no
``finally``: the ``.part`` files were removed just before (:func:`remove_partial_files`),
the hidden file was not, and stayed in the output folder until the next export of that
name. A real child process with a database of its own, a real signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# Imports a sample flight into its own database, then runs `stratoflow export --format csv`,
# which stops at WHERE ("written": the hidden file is complete, not yet linked; "placed":
# linked into place, not yet recorded) and whose clean-up after Ctrl-C hangs there
CHILD = """
import sys, threading
from pathlib import Path
from stratoflow import cli, write_dataset
from stratoflow.samples import generate_flight
from stratoflow.server import setup

folder, out, where = sys.argv[1:]
setup(migrate=True)
import stratoflow.exporters.export as export
from stratoflow.importers.series import import_file

if where != "again":
    flight = generate_flight(seed=5, hours=0.1, origin="FRA", destination="MUC")
    path = Path(folder) / flight.file_name
    write_dataset(flight.dataset, path, writer="netcdf", layout="iagos")
    import_file(path, identity="portal/" + flight.file_name)
cli.INTERRUPT_GRACE_SECONDS = 1.0
held = threading.Lock()
held.acquire()


def stop(what):
    try:  # the signal may land right after the line: inside the try, whose finally hangs
        print(what, flush=True)
        threading.Event().wait()
    finally:
        held.acquire()


real_checksum, real_place = export.file_checksum, export._place


def checksum(path):
    if where == "written" and path.name.endswith(".export"):
        stop("written")
    return real_checksum(path)


def place(*args):
    result = real_place(*args)
    if where == "placed":
        stop("placed")
    return result


export.file_checksum, export._place = checksum, place
sys.exit(cli.main(["export", "--level", "any", "--format", "csv", "--out", out]))
"""


def _run(tmp_path: Path, where: str) -> tuple[int, str, list[str]]:
    """Run the child until it stops at ``where``, press Ctrl-C; its exit status, stderr and
    the output folder's files while it was stopped."""
    out = tmp_path / "out"
    env = {**os.environ, "STRATOFLOW_HOME": str(tmp_path / "home"), "STRATOFLOW_DATABASE_URL": ""}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), str(out), where],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if where == "again":
            _, err = proc.communicate(timeout=120)
            return proc.returncode, line + err, []
        assert line == f"{where}\n", proc.communicate()[1]
        during = sorted(p.name for p in out.iterdir())
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err, during


def test_a_hang_before_the_link_leaves_no_hidden_file(tmp_path: Path) -> None:
    status, err, during = _run(tmp_path, "written")
    assert len(during) == 1 and during[0].endswith(".export"), during
    assert status == 130, err
    assert err == "interrupted (clean-up did not finish in 1 s; stopped)\n"
    assert list((tmp_path / "out").iterdir()) == []


def test_a_hang_after_the_link_keeps_the_evidence_the_next_export_needs(
    tmp_path: Path,
) -> None:
    """Linked but (maybe) not recorded: the hidden file tells the next export that the file
    under the export's name is a killed export of its own content, which it replaces
    instead of refusing to overwrite "someone else's" file. It stays."""
    status, err, during = _run(tmp_path, "placed")
    assert status == 130, err
    hidden = [name for name in during if name.endswith(".export")]
    assert len(hidden) == 1 and len(during) == 2, during
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == during
    status, output, _ = _run(tmp_path, "again")
    assert status == 0, output
    (name,) = (p.name for p in (tmp_path / "out").iterdir())
    assert name in during and name in output and "v1" in output
