"""Task threads in export tests."""

from __future__ import annotations

import threading


def join_abandoned(before: set[threading.Thread]) -> None:
    """Wait for the task threads started since ``before`` that their run gave up: they
    still use the database, which goes when the test ends."""
    for thread in set(threading.enumerate()) - before:
        if thread.name.startswith("stratoflow-task-"):
            thread.join(60)
