"""Workflow pages: the dashboard of jobs, runs, failures and data awaiting review."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from stratoflow.server.workflow import selectors


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Jobs with their latest runs, failed tasks and tasks awaiting review."""
    return render(request, "workflow/dashboard.html", selectors.dashboard_context())
