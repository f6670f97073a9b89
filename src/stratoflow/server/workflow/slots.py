"""Occurrences created on purpose: backfilling the runs of a job between two instants."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from stratoflow.errors import ConfigError
from stratoflow.server.workflow.models import Job, JobRun

__all__ = ["runs_backfill"]

#: A backfill larger than this is almost surely a typo in --from/--to.
MAX_BACKFILL = 10_000


def runs_backfill(
    job: Job, after: datetime, until: datetime, *, dry_run: bool = False
) -> tuple[list[datetime], list[JobRun]]:
    """Slots of ``job`` in ``(after, until]`` without a run; create them unless ``dry_run``.

    Returns the missing slots (UTC) and the runs created (pending, oldest first).
    """
    schedule = job.schedule
    if schedule is None:
        raise ConfigError(f"job {job.name!r} has no schedule (start) to backfill")
    slots = []
    for slot in schedule.between(after, until):
        slots.append(slot)
        if len(slots) > MAX_BACKFILL:
            raise ConfigError(
                f"backfill of job {job.name!r} would create more than {MAX_BACKFILL} runs; "
                "narrow --from/--to"
            )
    existing = set(
        JobRun.objects.filter(job=job, scheduled_for__in=slots).values_list(
            "scheduled_for", flat=True
        )
    )
    missing = [slot for slot in slots if slot not in existing]
    if dry_run or not missing:
        return missing, []
    with transaction.atomic():
        JobRun.objects.bulk_create(
            [JobRun(job=job, scheduled_for=slot) for slot in missing], ignore_conflicts=True
        )
    runs = list(JobRun.objects.filter(job=job, scheduled_for__in=missing).order_by("scheduled_for"))
    return missing, runs
