"""A write that does not finish leaves no ``.part`` file, however it is stopped.

Each test stops a real ``stratoflow convert`` child process while its writer is half-way
through the output (the writer has written the file's content into its ``.part`` file and
waits there, so the signal lands mid-write every time): SIGTERM, Ctrl-C with a clean-up that
hangs, SIGKILL. A ``.part`` left behind is picked up by whatever reads the folder (a partner's
transfer with pattern ``*``) and piles up next to the exports.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stratoflow.cli import main

CSV = "time,O3\n2024-01-01T00:00:00Z,40\n2024-01-01T00:00:01Z,41\n"

# `stratoflow convert IN OUT --format csv` whose writer stops after writing the content into
# its .part file, before renaming it; HANG makes the clean-up of an interrupt wait forever
# (as xarray's close does on a lock the interrupt left held)
CHILD = """
import sys, threading
from stratoflow import cli
from stratoflow.writers.csv import CsvWriter

source, target, hang = sys.argv[1:]
cli.INTERRUPT_GRACE_SECONDS = 1.0
real_write = CsvWriter._write
held = threading.Lock()
held.acquire()


def half_way(self, ds, path):
    real_write(self, ds, path)
    try:  # the signal may land right after the line: inside the try, whose finally hangs
        print("writing", flush=True)
        threading.Event().wait()
    finally:
        if hang == "hang":
            held.acquire()


CsvWriter._write = half_way
sys.exit(cli.main(["convert", source, target, "--format", "csv"]))
"""


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def _stop_mid_write(
    source: Path, target: Path, signum: int, hang: bool = False
) -> tuple[int, str, list[str]]:
    """Start the child, wait until it is half-way through writing ``target``, send ``signum``;
    returns its exit status, its stderr and the .part files present while it was writing."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(source), str(target), "hang" if hang else "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "writing\n", proc.communicate()[1]
        during = _parts(target.parent)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err, during


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "o3.csv"
    path.write_text(CSV)
    return path


def test_sigterm_mid_write_removes_the_part_file(source: Path) -> None:
    """SIGTERM (a supervisor, `kill`) ended convert and qc at once, without any clean-up: the
    .part file stayed. It now unwinds like Ctrl-C; an earlier output is left as it was."""
    target = source.with_name("out.csv")
    target.write_text("the earlier result\n")
    status, err, during = _stop_mid_write(source, target, signal.SIGTERM)
    assert len(during) == 1 and during[0].startswith(".out.csv."), during
    assert status == 143, err
    assert err == (
        "stratoflow convert: terminated by SIGTERM; the output was not written "
        "(a file it would have replaced is unchanged)\n"
    )
    assert sorted(p.name for p in source.parent.iterdir()) == ["o3.csv", "out.csv"]
    assert target.read_text() == "the earlier result\n"


def test_a_clean_up_that_hangs_after_ctrl_c_still_removes_the_part_file(source: Path) -> None:
    """Ctrl-C whose unwinding hangs: the command is stopped after the grace period with
    os._exit, which runs no `finally`; the .part file was left."""
    target = source.with_name("out.csv")
    status, err, during = _stop_mid_write(source, target, signal.SIGINT, hang=True)
    assert len(during) == 1, during
    assert status == 130, err
    assert err == "interrupted (clean-up did not finish in 1 s; stopped)\n"
    assert sorted(p.name for p in source.parent.iterdir()) == ["o3.csv"]


def test_the_next_write_removes_the_part_file_of_a_killed_one(
    source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL (the OOM killer, a power cut) leaves the .part file: nothing runs in the
    process. The next write of the same output removes it; before, it stayed for good."""
    target = source.with_name("out.csv")
    status, _, during = _stop_mid_write(source, target, signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert _parts(source.parent) == during and len(during) == 1
    assert main(["convert", str(source), str(target), "--format", "csv"]) == 0
    assert sorted(p.name for p in source.parent.iterdir()) == ["o3.csv", "out.csv"]
    assert target.read_text().splitlines()[-1].startswith("2024-01-01T00:00:01Z,41")
    assert "out.csv" in capsys.readouterr().out


def test_a_part_file_of_a_write_still_running_is_left_alone(tmp_path: Path) -> None:
    """Only the leftovers of processes that are gone are removed: the .part of a write
    running now (in a process of this machine, or on another machine sharing the folder)
    must stay, or that write's rename would fail."""
    from stratoflow.files import partial_file

    target = tmp_path / "out.csv"
    host = socket.gethostname()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = tmp_path / f".out.csv.{host}-{sleeper.pid}.abcdefgh.part"
        elsewhere = tmp_path / ".out.csv.other-host-1.abcdefgh.part"
        other_file = tmp_path / f".other.csv.{host}-999999999.abcdefgh.part"
        for path in (running, elsewhere, other_file):
            path.write_text("half")
        with partial_file(target) as mine, partial_file(target) as also_mine:
            assert mine.exists() and also_mine.exists()  # the second kept the first
            assert mine.name.startswith(f".out.csv.{host}-{os.getpid()}.")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            p.name for p in (running, elsewhere, other_file)
        )
    finally:
        sleeper.kill()
        sleeper.wait()
