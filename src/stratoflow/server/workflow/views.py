"""Workflow pages: the dashboard of jobs, runs, failures and data awaiting review.

They show every job's configuration summary, file names, error messages and tracebacks of
the whole system, so they are for operators only: staff, or users granted the permission to
view job runs (``workflow.view_jobrun``, e.g. through a group). A PI without it who logs in
is sent to the review queue, their own page; anybody else gets 403, as on the review pages.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from stratoflow.errors import StratoflowError
from stratoflow.server.workflow import selectors, services
from stratoflow.server.workflow.models import JobRun

__all__ = ["OPERATOR_PERMISSION", "can_operate", "dashboard", "run_detail", "run_retry"]

#: The permission that opens the dashboard and run pages to a non-staff user.
OPERATOR_PERMISSION = "workflow.view_jobrun"

View = Callable[..., HttpResponse]


def can_operate(user: Any) -> bool:
    """Whether ``user`` may see the dashboard and run pages (active staff or permission)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_staff or user.has_perm(OPERATOR_PERMISSION))


def operator_required(view: View) -> View:
    """Login required; then the operator check (a reviewer goes to the review queue, 403 for
    anybody else)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_operate(request.user):
            from stratoflow.server.review.selectors import is_reviewer

            if request.method == "GET" and is_reviewer(request.user):
                return redirect("review:queue")
            raise PermissionDenied("the workflow pages are for operators (staff)")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@operator_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Jobs with their next and latest runs, recent runs, failed tasks and tasks for review."""
    return render(request, "workflow/dashboard.html", selectors.dashboard_context())


@operator_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """One run: its tasks, their states and errors, and "retry failed tasks"."""
    try:
        context = selectors.run_detail(run_id)
    except JobRun.DoesNotExist:
        raise Http404(f"no run {run_id}") from None
    return render(request, "workflow/run.html", context)


@require_POST
@login_required
@permission_required("workflow.change_task", raise_exception=True)
def run_retry(request: HttpRequest, run_id: int) -> HttpResponse:
    """Re-queue the failed tasks of a run (POST with CSRF token); the scheduler runs them."""
    run = JobRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404(f"no run {run_id}")
    try:
        count = services.run_retry_failed(run)
    except StratoflowError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{count} failed task(s) queued again; the scheduler runs them")
    return redirect("workflow-run", run_id=run_id)
