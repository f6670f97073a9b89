"""Jobs and task execution: state machines, schedules and executors (framework-free parts)."""

from __future__ import annotations

from stratoflow.jobs.states import (
    RUN_TERMINAL,
    TASK_TERMINAL,
    RunState,
    TaskState,
    check_run_transition,
    check_task_transition,
)

__all__ = [
    "RUN_TERMINAL",
    "TASK_TERMINAL",
    "RunState",
    "TaskState",
    "check_run_transition",
    "check_task_transition",
]
