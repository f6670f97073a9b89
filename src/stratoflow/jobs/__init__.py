"""Jobs and task execution: state machines, schedules and executors (framework-free parts)."""

from __future__ import annotations

from stratoflow.jobs.catchup import DEFAULT_GRACE, CatchUpPolicy, due
from stratoflow.jobs.schedule import Frequency, Schedule
from stratoflow.jobs.states import (
    RUN_TERMINAL,
    TASK_TERMINAL,
    RunState,
    TaskState,
    check_run_transition,
    check_task_transition,
)

__all__ = [
    "DEFAULT_GRACE",
    "RUN_TERMINAL",
    "TASK_TERMINAL",
    "CatchUpPolicy",
    "Frequency",
    "RunState",
    "Schedule",
    "TaskState",
    "check_run_transition",
    "check_task_transition",
    "due",
]
