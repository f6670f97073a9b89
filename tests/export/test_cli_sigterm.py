"""``stratoflow export`` stopped by SIGTERM (a supervisor, ``kill``) mid-write: a real child
process with a database of its own (SQLite in its home) and a real signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# Imports a sample flight into its own database, then runs `stratoflow export --format csv`
# whose writer stops after writing the content into its .part file, before renaming it
CHILD = """
import sys, threading
from pathlib import Path
from stratoflow import cli, write_dataset
from stratoflow.samples import generate_flight
from stratoflow.server import setup
from stratoflow.writers.csv import CsvWriter

folder, out = sys.argv[1:]
setup(migrate=True)
from stratoflow.importers.series import import_file

flight = generate_flight(seed=5, hours=0.1, origin="FRA", destination="MUC")
path = Path(folder) / flight.file_name
write_dataset(flight.dataset, path, writer="netcdf", layout="iagos")
import_file(path, identity="portal/" + flight.file_name)
real_write = CsvWriter._write


def half_way(self, ds, target):
    real_write(self, ds, target)
    print("writing", flush=True)
    threading.Event().wait()


CsvWriter._write = half_way
sys.exit(cli.main(["export", "--level", "any", "--format", "csv", "--out", out]))
"""


def test_sigterm_mid_export_unwinds_and_leaves_no_partial_file(tmp_path: Path) -> None:
    """SIGTERM ended `stratoflow export` at once (no sigterm_raises): its .part file and the
    hidden file it links into place stayed in the output folder, picked up by whatever reads
    it. It now unwinds like Ctrl-C: exit 143, a message, nothing left, nothing recorded."""
    out = tmp_path / "out"
    env = {**os.environ, "STRATOFLOW_HOME": str(tmp_path / "home"), "STRATOFLOW_DATABASE_URL": ""}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "writing\n", proc.communicate()[1]
        during = sorted(p.name for p in out.iterdir())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert len(during) == 1 and during[0].endswith(".part"), during
    assert proc.returncode == 143, err
    assert err == (
        "stratoflow export: terminated by SIGTERM; flights exported before it stay written "
        "and recorded; the flight being exported was not written (no partial file is left)\n"
    )
    assert list(out.iterdir()) == []
