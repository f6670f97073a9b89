"""Workflow pages: the dashboard of jobs, runs, failures and data awaiting review."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from stratoflow.errors import StratoflowError
from stratoflow.server.workflow import selectors, services
from stratoflow.server.workflow.models import JobRun


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Jobs with their next and latest runs, recent runs, failed tasks and tasks for review."""
    return render(request, "workflow/dashboard.html", selectors.dashboard_context())


@login_required
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
