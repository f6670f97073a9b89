"""Admin pages for providers, transfer handlers, jobs and their runs."""

from __future__ import annotations

from django.contrib import admin

from stratoflow.server.workflow import models


@admin.register(models.DataProvider)
class DataProviderAdmin(admin.ModelAdmin[models.DataProvider]):
    list_display = ["name", "contact", "url", "licence"]
    search_fields = ["name"]


@admin.register(models.TransferHandler)
class TransferHandlerAdmin(admin.ModelAdmin[models.TransferHandler]):
    list_display = ["name", "provider", "transfer_type", "auth"]
    list_filter = ["transfer_type", "auth"]


class TaskManagerInline(admin.TabularInline[models.TaskManager, models.Job]):
    model = models.TaskManager
    extra = 0


@admin.register(models.Job)
class JobAdmin(admin.ModelAdmin[models.Job]):
    list_display = ["name", "enabled", "frequency", "interval", "timezone", "responsible", "order"]
    list_filter = ["enabled", "frequency"]
    inlines = [TaskManagerInline]


@admin.register(models.TaskManager)
class TaskManagerAdmin(admin.ModelAdmin[models.TaskManager]):
    list_display = ["job", "name", "kind", "order", "transfer"]
    list_filter = ["kind"]


@admin.register(models.JobRun)
class JobRunAdmin(admin.ModelAdmin[models.JobRun]):
    list_display = ["job", "scheduled_for", "state", "started_at", "finished_at"]
    list_filter = ["state", "job"]


@admin.register(models.Task)
class TaskAdmin(admin.ModelAdmin[models.Task]):
    list_display = ["manager", "subject", "state", "attempts", "created_at", "finished_at"]
    list_filter = ["state", "manager"]
    search_fields = ["subject", "key"]
