"""Tasks left 'running' in a run nobody drives: reaped by the next run, and holding no slot.

A Celery worker runs a task; the run's driver stops (interrupted, or died twice so that the
scheduler leaves the run failed), then the worker dies too. Nobody reaped such a task: it
stayed 'running' until a person resumed its run, and it held one of its provider's
``concurrency`` slots all that time, so every run of every job on that provider waited for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import LazySettings
from django.utils import timezone

from _jobs import one_manager_job

MakeJob = Callable[..., Any]

pytestmark = pytest.mark.django_db(transaction=True)


def _orphan(make_job: MakeJob, run_state: str, attempts: int) -> tuple[Any, Any]:
    """Job 'left' (provider concurrency 1) with a run in ``run_state`` whose one task is
    running under a worker that is gone (its lease ran out a minute ago)."""
    from stratoflow.server.workflow.models import JobRun, Task

    job = make_job("left", tasks=1, provider_concurrency=1, max_attempts=2)
    manager = job.managers.get()
    past = timezone.now() - timedelta(minutes=1)
    run = JobRun.objects.create(
        job=job,
        scheduled_for=past,
        state=run_state,
        owner="gone-scheduler",
        heartbeat_at=past,
        summary={"interrupted": "its driver stopped", "resumed_by_scheduler": {}},
    )
    task = Task.objects.create(
        manager=manager,
        run=run,
        key="orphan",
        subject="orphan",
        state="running",
        claim="gone-worker",
        attempts=attempts,
        started_at=past,
        lease_until=past,
        deadline_at=past + timedelta(hours=1),
        details={"number": 0},
    )
    return manager, task


def _sibling_job(manager: Any) -> Any:
    """Job 'right', two tasks on the same transfer handler (the same provider)."""
    return one_manager_job(
        "right", manager="work", kind="noop", transfer=manager.transfer, options={"tasks": 2}
    )


def _bounded(seconds: float) -> Callable[[str, dict[str, int], float], None]:
    """A progress callback failing a run that waits longer than ``seconds`` (it would wait
    forever)."""

    def progress(name: str, counts: dict[str, int], elapsed: float) -> None:
        if elapsed > seconds:
            raise AssertionError(f"still waiting after {elapsed:.0f} s: {counts}")

    return progress


@pytest.mark.parametrize(
    ("attempts", "after"),
    [(1, "queued"), (2, "failed")],
    ids=["attempt-left", "attempts-spent"],
)
def test_a_new_run_reaps_the_expired_tasks_of_runs_nobody_drives(
    make_job: MakeJob, attempts: int, after: str
) -> None:
    from stratoflow.server.workflow.services import job_run

    manager, orphan = _orphan(make_job, "failed", attempts)
    started = time.monotonic()
    report = job_run(_sibling_job(manager), progress=_bounded(15))
    assert report.state == "succeeded", time.monotonic() - started
    orphan.refresh_from_db()
    assert orphan.state == after and orphan.claim == ""
    if after == "failed":
        assert "worker stopped" in orphan.error


def test_a_task_whose_lease_ran_out_holds_no_slot_of_its_provider(
    make_job: MakeJob, settings: LazySettings
) -> None:
    """Its run still 'running' (the driver died; not resumed yet): nothing reaps the task
    but its run's next driver, and the other job's run must not wait for that."""
    from stratoflow.server.workflow.services import job_run

    manager, orphan = _orphan(make_job, "running", 1)
    report = job_run(_sibling_job(manager), progress=_bounded(15))
    assert report.state == "succeeded"
    orphan.refresh_from_db()
    assert orphan.state == "running"  # its own run's driver reaps it, when it is resumed
