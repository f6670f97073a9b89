"""Admin pages: decisions, manual flags and events are read-only (a history); assignments and
deadlines are configuration."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from stratoflow.server.review import models


class _HistoryAdmin:
    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(models.Decision)
class DecisionAdmin(_HistoryAdmin, admin.ModelAdmin[models.Decision]):
    list_display = ["flight", "action", "level", "user", "created_at"]
    list_filter = ["action", "level"]


@admin.register(models.ManualFlag)
class ManualFlagAdmin(_HistoryAdmin, admin.ModelAdmin[models.ManualFlag]):
    list_display = ["flight", "variable", "time_start", "time_end", "flag", "user", "created_at"]
    list_filter = ["flag", "variable"]


@admin.register(models.ReviewEvent)
class ReviewEventAdmin(_HistoryAdmin, admin.ModelAdmin[models.ReviewEvent]):
    list_display = ["flight", "action", "user", "created_at", "reason"]
    list_filter = ["action"]


@admin.register(models.ReviewAssignment)
class ReviewAssignmentAdmin(admin.ModelAdmin[models.ReviewAssignment]):
    list_display = ["user", "platform", "project", "created_at"]
    list_filter = ["platform", "project"]


@admin.register(models.ReviewDeadline)
class ReviewDeadlineAdmin(admin.ModelAdmin[models.ReviewDeadline]):
    list_display = ["job", "days"]
