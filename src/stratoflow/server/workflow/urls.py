"""Workflow URLs: run pages and the "retry failed tasks" action (the dashboard is at /)."""

from __future__ import annotations

from django.urls import path

from stratoflow.server.workflow import views

urlpatterns = [
    path("runs/<int:run_id>/", views.run_detail, name="workflow-run"),
    path("runs/<int:run_id>/retry/", views.run_retry, name="workflow-run-retry"),
]
