"""The stratoflow application (Django): catalog, workflow and review.

Library code never imports Django at module level; commands that need the database call
:func:`setup` first. Settings come from the environment (see :mod:`stratoflow.server.settings`):
``STRATOFLOW_HOME`` (where the embedded SQLite database and staging live) and
``STRATOFLOW_DATABASE_URL`` (e.g. ``postgres://user@host:5432/db``; empty = embedded SQLite).
"""

from __future__ import annotations

import os

__all__ = ["setup"]

_done = False


def setup(migrate: bool = False) -> None:
    """Configure Django for stratoflow (idempotent); optionally apply pending migrations."""
    global _done
    if not _done:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stratoflow.server.settings")
        import django

        django.setup()
        _done = True
    if migrate:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
