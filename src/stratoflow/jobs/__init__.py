"""Jobs and task execution: state machines, schedules and executors (framework-free parts)."""

from __future__ import annotations

from stratoflow.jobs.catchup import DEFAULT_GRACE, CatchUpPolicy, due
from stratoflow.jobs.clock import Clock, ManualClock, ScaledClock, SystemClock
from stratoflow.jobs.graph import find_cycle, run_order
from stratoflow.jobs.retry import backoff, is_transient
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
    "Clock",
    "Frequency",
    "ManualClock",
    "RunState",
    "ScaledClock",
    "Schedule",
    "SystemClock",
    "TaskState",
    "backoff",
    "check_run_transition",
    "check_task_transition",
    "due",
    "find_cycle",
    "is_transient",
    "run_order",
]
