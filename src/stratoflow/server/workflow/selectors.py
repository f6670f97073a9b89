"""Read-only queries of the workflow app."""

from __future__ import annotations

from typing import Any

from stratoflow.jobs.states import TaskState
from stratoflow.server.workflow.models import Job, Task


def dashboard_context() -> dict[str, Any]:
    """What the dashboard shows: jobs with their last run, review queue, failures."""
    jobs = [{"job": job, "last_run": job.runs.first()} for job in Job.objects.all()]
    awaiting = Task.objects.filter(state=TaskState.AWAITING_REVIEW.value).select_related(
        "manager__job"
    )
    failed = Task.objects.filter(state=TaskState.FAILED.value).select_related("manager__job")
    return {"jobs": jobs, "awaiting_review": list(awaiting[:200]), "failed": list(failed[:200])}
