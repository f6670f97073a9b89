"""Task and run state machines: an enum of states, terminal states and the legal transitions.

Orchestration code never assigns a state directly; it asks :func:`check_task_transition`,
which raises :class:`~stratoflow.errors.IllegalTransition` for anything not in the table. This
is what makes "a task that finished is never marked crashed afterwards" a property of the
system instead of a hope.
"""

from __future__ import annotations

from enum import StrEnum

from stratoflow.errors import IllegalTransition

__all__ = [
    "RUN_TERMINAL",
    "TASK_TERMINAL",
    "RunState",
    "TaskState",
    "check_run_transition",
    "check_task_transition",
]


class TaskState(StrEnum):
    """States of one unit of work (a file, a flight)."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    AWAITING_REVIEW = "awaiting_review"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class RunState(StrEnum):
    """States of one job run (one scheduled occurrence)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TASK_TERMINAL = frozenset(
    {TaskState.DONE, TaskState.FAILED, TaskState.SKIPPED, TaskState.CANCELLED}
)
RUN_TERMINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})

_TASK_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.QUEUED: frozenset({TaskState.RUNNING, TaskState.SKIPPED, TaskState.CANCELLED}),
    TaskState.RUNNING: frozenset(
        {
            TaskState.DONE,
            TaskState.FAILED,
            TaskState.RETRYING,
            TaskState.AWAITING_REVIEW,
            TaskState.SKIPPED,
            TaskState.QUEUED,  # QUEUED: lease expired, worker died
        }
    ),
    TaskState.RETRYING: frozenset({TaskState.RUNNING, TaskState.CANCELLED, TaskState.FAILED}),
    TaskState.AWAITING_REVIEW: frozenset({TaskState.DONE, TaskState.QUEUED, TaskState.CANCELLED}),
    # a failed task may be retried by hand ("retry failed tasks")
    TaskState.FAILED: frozenset({TaskState.QUEUED}),
    TaskState.DONE: frozenset(),
    TaskState.SKIPPED: frozenset(),
    TaskState.CANCELLED: frozenset(),
}

_RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset({RunState.RUNNING, RunState.CANCELLED}),
    RunState.RUNNING: frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED}),
    # retry of failed tasks: at once (running) or by the scheduler (pending)
    RunState.FAILED: frozenset({RunState.RUNNING, RunState.PENDING}),
    RunState.SUCCEEDED: frozenset(),
    RunState.CANCELLED: frozenset(),
}


def check_task_transition(current: str, new: str) -> TaskState:
    """Return ``new`` as a TaskState if the move from ``current`` is legal, else raise."""
    old, target = TaskState(current), TaskState(new)
    if target not in _TASK_TRANSITIONS[old]:
        raise IllegalTransition(f"task cannot go from {old.value!r} to {target.value!r}")
    return target


def check_run_transition(current: str, new: str) -> RunState:
    """Return ``new`` as a RunState if the move from ``current`` is legal, else raise."""
    old, target = RunState(current), RunState(new)
    if target not in _RUN_TRANSITIONS[old]:
        raise IllegalTransition(f"run cannot go from {old.value!r} to {target.value!r}")
    return target
