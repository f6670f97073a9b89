"""Two real threads (two database connections) racing with the interleaving forced.

``race(first, second, held, go)``: ``first`` runs until it is held at a hook of the test's
(the hook sets ``held`` and waits for ``go``); then ``second`` runs until it has finished or
waits for a lock (seen in PostgreSQL's ``pg_locks``); only then is ``first`` let go. Code
without a lock shared by both lets ``second`` finish first, which is the interleaving that
breaks it. Shared by the tests of every layer that serialises on the database (review
decisions, export versions).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

#: How long a held thread waits for the test to let it go before failing (a safety net
#: against a hung test, never part of the interleaving).
HOLD_S = 60.0


def require_postgres() -> None:
    """Skip unless the test database is PostgreSQL (row locks, ``pg_locks``)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (PostgreSQL pass)")


def start_thread(target: Callable[[], Any], errors: list[BaseException]) -> threading.Thread:
    """Run ``target`` in a thread of its own (its own database connection, closed at the
    end); what it raises is appended to ``errors``."""
    from django.db import connections

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # reported by the test, with the thread's traceback
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def finished_or_waiting_for_a_lock(thread: threading.Thread) -> None:
    """Return once ``thread`` has finished or a backend waits for a lock (polled: the
    condition decides, not the time)."""
    from django.db import connection

    deadline = threading.Event()
    timer = threading.Timer(HOLD_S, deadline.set)
    timer.start()
    try:
        while not deadline.is_set():
            if not thread.is_alive():
                return
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cursor.fetchone()[0]:
                    return
            thread.join(0.01)
        pytest.fail("the second thread neither finished nor waited for a lock")
    finally:
        timer.cancel()


def race(
    first: Callable[[], Any], second: Callable[[], Any], held: threading.Event, go: threading.Event
) -> list[BaseException]:
    """Run ``first`` until it is ``held`` at its hook, then ``second`` until it has finished
    or waits for a lock, then let ``first`` go; both are joined. Returns what either raised."""
    errors: list[BaseException] = []
    holder = start_thread(first, errors)
    assert held.wait(HOLD_S)
    other = start_thread(second, errors)
    finished_or_waiting_for_a_lock(other)
    go.set()
    holder.join(HOLD_S)
    other.join(HOLD_S)
    return errors
