"""Tell the job's responsible user about problems, by email through Django's mail framework.

One message per failed run (not per task: a provider outage fails hundreds of files at once),
listing the failed tasks and linking the dashboard, where "retry failed tasks" is offered.
"""

from __future__ import annotations

import logging
import smtplib
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail

from stratoflow.server.workflow.models import JobRun

if TYPE_CHECKING:
    from stratoflow.server.workflow.services import RunReport

__all__ = ["review_awaiting", "run_failed"]

log = logging.getLogger("stratoflow.workflow")

_MAX_LISTED = 20


def run_failed(run: JobRun, report: RunReport) -> bool:
    """Email the responsible user that ``run`` failed; False when nobody can be told."""
    user = run.job.responsible
    if user is None or not user.email:
        log.warning("run %s failed and job %s has no responsible user with email", run, run.job)
        return False
    errors = [error for m in report.managers for error in m.errors]
    lines = [
        f"The run of job {run.job.name!r} for {run.scheduled_for.isoformat()} failed.",
        "",
        f"{len(errors)} problem(s) need attention:",
        *(f"- {e}" for e in errors[:_MAX_LISTED]),
    ]
    if len(errors) > _MAX_LISTED:
        lines.append(f"... and {len(errors) - _MAX_LISTED} more")
    base = getattr(settings, "STRATOFLOW_BASE_URL", "").rstrip("/")
    lines += ["", f"Dashboard (retry failed tasks there): {base}/runs/{run.pk}/"]
    send_mail(
        subject=f"[stratoflow] job {run.job.name} failed ({len(errors)} problem(s))",
        message="\n".join(lines),
        from_email=None,
        recipient_list=[user.email],
        fail_silently=False,
    )
    return True


def review_awaiting(run: JobRun) -> int:
    """Tell the PIs about tasks of ``run`` that now await their review; how many were sent.

    Mail trouble never fails the run that produced the data: it is logged, and the reminder
    command (``stratoflow manage review_notify``) tries again later.
    """
    from stratoflow.jobs.states import TaskState
    from stratoflow.server.review.notifications import review_notify_awaiting

    if not run.tasks.filter(state=TaskState.AWAITING_REVIEW.value).exists():
        return 0
    try:
        return len(review_notify_awaiting())
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("could not send review notifications after %s: %s", run, exc)
        return 0
