"""The console script as a user runs it: help, serve."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

STRATOFLOW = str(Path(sys.executable).parent / "stratoflow")


def test_help_lists_commands() -> None:
    out = subprocess.run([STRATOFLOW, "--help"], capture_output=True, text=True, check=True)
    for command in ("demo", "inspect", "serve"):
        assert command in out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_answers_with_admin_login(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "STRATOFLOW_HOME": str(tmp_path), "STRATOFLOW_DATABASE_URL": ""}
    proc = subprocess.Popen(
        [STRATOFLOW, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/admin/login/", timeout=5
                ) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        assert "stratoflow" in body and "csrfmiddlewaretoken" in body
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout:
            proc.stdout.close()
