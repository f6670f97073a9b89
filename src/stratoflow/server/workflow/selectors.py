"""Read-only queries of the workflow app."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from stratoflow.jobs.states import TaskState
from stratoflow.server.workflow.models import Job, JobRun, Task

__all__ = ["dashboard_context", "run_detail"]

NEXT_SHOWN = 5


def dashboard_context() -> dict[str, Any]:
    """What the dashboard shows: jobs with their next runs, recent runs, review queue, failures."""
    jobs = []
    for job in Job.objects.all():
        try:
            # ISO strings in the job's own zone (a template would show them in UTC)
            upcoming = (
                [occ.isoformat() for occ in job.next_occurrences(NEXT_SHOWN)] if job.enabled else []
            )
        except Exception:  # an invalid stored schedule must not hide the dashboard
            upcoming = []
        jobs.append({"job": job, "last_run": job.runs.first(), "next": upcoming})
    runs = (
        JobRun.objects.select_related("job")
        .annotate(task_count=Count("tasks"))
        .order_by("-scheduled_for")[:50]
    )
    awaiting = Task.objects.filter(state=TaskState.AWAITING_REVIEW.value).select_related(
        "manager__job"
    )
    failed = Task.objects.filter(state=TaskState.FAILED.value).select_related("manager__job")
    return {
        "jobs": jobs,
        "runs": list(runs),
        "awaiting_review": list(awaiting[:200]),
        "failed": list(failed[:200]),
    }


def run_detail(run_id: int) -> dict[str, Any]:
    """One run with its tasks (by manager), their states and errors."""
    run = JobRun.objects.select_related("job").get(pk=run_id)
    tasks = list(
        Task.objects.filter(run=run).select_related("manager").order_by("manager__order", "id")
    )
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.state] = counts.get(task.state, 0) + 1
    return {
        "run": run,
        "tasks": tasks[:1000],
        "counts": sorted(counts.items()),
        "failed": counts.get(TaskState.FAILED.value, 0),
    }
