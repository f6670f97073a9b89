"""Review services: the PI approves or rejects a flight's data; every decision is recorded."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from stratoflow.errors import ConfigError
from stratoflow.jobs.states import TaskState
from stratoflow.server.catalog.models import Flight
from stratoflow.server.review.models import Decision
from stratoflow.server.workflow.models import Task
from stratoflow.server.workflow.services import task_transition

__all__ = ["flight_approve", "flight_reject"]


def _close_review_tasks(flight: Flight) -> int:
    tasks = Task.objects.filter(
        state=TaskState.AWAITING_REVIEW.value, details__flight=flight.identifier
    )
    n = 0
    for task in tasks:
        task_transition(task, TaskState.DONE)
        n += 1
    return n


def flight_approve(
    flight: Flight, *, user: User | None, level: str = "L1", reason: str = ""
) -> Decision:
    """Release the flight's current data to ``level`` (L1 or L2) and close its review tasks."""
    if level not in ("L1", "L2"):
        raise ConfigError(f"data can be released to L1 or L2, not {level!r}")
    with transaction.atomic():
        decision = Decision.objects.create(
            flight=flight, action=Decision.Action.APPROVE, level=level, reason=reason, user=user
        )
        _close_review_tasks(flight)
    return decision


def flight_reject(flight: Flight, *, user: User | None, reason: str) -> Decision:
    """Reject the flight's current data; a reason is mandatory."""
    if not reason.strip():
        raise ConfigError("a rejection needs a reason")
    with transaction.atomic():
        decision = Decision.objects.create(
            flight=flight, action=Decision.Action.REJECT, reason=reason, user=user
        )
        _close_review_tasks(flight)
    return decision
