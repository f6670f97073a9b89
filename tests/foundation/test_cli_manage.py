"""``stratoflow manage``: Django's management commands on stratoflow's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_createsuperuser_works_on_a_fresh_home(tmp_path: Path) -> None:
    """The README's first step for the web UI (and for a job's ``responsible`` user) is
    ``stratoflow manage createsuperuser``; on a home no other command has used yet it must
    create the tables first rather than fail with "no such table: auth_user"."""
    env = {
        **os.environ,
        "STRATOFLOW_HOME": str(tmp_path),
        "STRATOFLOW_DATABASE_URL": "",
        "DJANGO_SUPERUSER_PASSWORD": "a-long-test-password-9",
    }
    command = [sys.executable, "-m", "stratoflow", "manage", "createsuperuser", "--noinput"]
    result = subprocess.run(
        [*command, "--username", "pi", "--email", "pi@example.org"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "Superuser created" in result.stdout
    check = subprocess.run(
        [sys.executable, "-m", "stratoflow", "manage", "showmigrations", "auth"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert check.returncode == 0 and "[ ]" not in check.stdout, check.stdout + check.stderr


def test_manage_help_lists_the_management_commands(tmp_path: Path) -> None:
    """``stratoflow manage --help`` (the first thing one tries) shows Django's command list,
    and ``--help`` before a command shows that command's options, not a usage error."""
    env = {**os.environ, "STRATOFLOW_HOME": str(tmp_path), "STRATOFLOW_DATABASE_URL": ""}
    listing = subprocess.run(
        [sys.executable, "-m", "stratoflow", "manage", "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert listing.returncode == 0, listing.stderr
    assert "createsuperuser" in listing.stdout and "migrate" in listing.stdout
    one = subprocess.run(
        [sys.executable, "-m", "stratoflow", "manage", "-h", "createsuperuser"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith("usage: stratoflow manage createsuperuser")
