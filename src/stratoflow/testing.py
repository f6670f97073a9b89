"""pytest plugin (``-p stratoflow.testing``, set in ``pyproject.toml``): an isolated home.

Django reads its settings — and with them ``STRATOFLOW_HOME``: the SQLite test database,
staging area, secret key — the moment pytest-django starts, before any ``conftest.py`` runs.
A ``-p`` plugin is imported even earlier, so this is the one place where a test session can
be given its own temporary home in time. Without it the tests would share the user's data
directory (``~/.local/share/stratoflow``), and two test sessions running at once would
overwrite each other's test database. Child processes started by tests inherit the variable;
the folder is removed when the session that made it ends.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_HOME = tempfile.mkdtemp(prefix="stratoflow-test-home-")
os.environ["STRATOFLOW_HOME"] = _HOME
_OWNER = os.getpid()


@atexit.register
def _remove_home() -> None:
    if os.getpid() == _OWNER:  # not in a forked child that inherited the handler
        shutil.rmtree(_HOME, ignore_errors=True)
