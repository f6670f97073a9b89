"""Workflow models: who provides data, how it is transferred, and the jobs that move it.

A :class:`Job` has ordered :class:`TaskManager` s. Running a job creates a :class:`JobRun`
(unique per job and scheduled time, so a slot can never run twice); each manager first
collects its :class:`Task` s (unique per manager and idempotency key, so a unit already done is
not queued again) and then executes them. States follow :mod:`stratoflow.jobs.states`.
Secrets never live here: transfer options hold references such as ``env:NAME``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from stratoflow.jobs.states import RunState, TaskState

__all__ = ["DataProvider", "Job", "JobRun", "Task", "TaskManager", "TransferHandler"]


class DataProvider(models.Model):
    """An external party data comes from or goes to; recorded in every import's provenance."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    contact = models.CharField(max_length=300, blank=True)
    url = models.URLField(blank=True)
    licence = models.CharField(max_length=300, blank=True, help_text="licence or terms of use")

    def __str__(self) -> str:
        return self.name


class TransferHandler(models.Model):
    """TransferType (protocol) x ConnectionHandler (authentication) x DataProvider."""

    name = models.CharField(max_length=200, unique=True)
    provider = models.ForeignKey(DataProvider, on_delete=models.PROTECT)
    transfer_type = models.CharField(max_length=100, help_text="plugin name, e.g. local, http")
    transfer_options = models.JSONField(default=dict, blank=True)
    auth = models.CharField(max_length=100, default="none", help_text="plugin name")
    auth_options = models.JSONField(
        default=dict, blank=True, help_text="secrets only as references: env:NAME or file:/path"
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.transfer_type}/{self.auth})"


class Job(models.Model):
    """A periodically executed sequence of task managers."""

    class Frequency(models.TextChoices):
        HOURLY = "hourly"
        DAILY = "daily"
        WEEKLY = "weekly"
        ONCE = "once"

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="informed of events and problems",
    )
    enabled = models.BooleanField(default=True)
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.DAILY)
    interval = models.PositiveIntegerField(default=1)
    start = models.DateTimeField(null=True, blank=True, help_text="schedule anchor")
    timezone = models.CharField(max_length=64, default="UTC")
    end = models.DateTimeField(null=True, blank=True)
    order = models.IntegerField(default=0, help_text="jobs with a lower order run first")

    class Meta:
        ordering = ["order", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(interval__gte=1), name="job_interval_gte_1")
        ]

    def __str__(self) -> str:
        return self.name


class TaskManager(models.Model):
    """One kind of task within a job (import, export, metadata), run in ``order``."""

    class Kind(models.TextChoices):
        IMPORT = "import"
        EXPORT = "export"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="managers")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    order = models.IntegerField(default=0)
    transfer = models.ForeignKey(TransferHandler, null=True, blank=True, on_delete=models.PROTECT)
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="reader/importer/QC options (import) or format/selection (export)",
    )

    class Meta:
        ordering = ["job", "order"]
        constraints = [
            models.UniqueConstraint(fields=["job", "name"], name="unique_manager_name"),
        ]

    def __str__(self) -> str:
        return f"{self.job.name}/{self.name}"


class JobRun(models.Model):
    """One execution of a job for one scheduled time; unique per (job, scheduled_for)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    scheduled_for = models.DateTimeField()
    state = models.CharField(
        max_length=20,
        choices=[(s.value, s.value) for s in RunState],
        default=RunState.PENDING.value,
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [
            models.UniqueConstraint(fields=["job", "scheduled_for"], name="unique_job_slot")
        ]

    def __str__(self) -> str:
        return f"{self.job.name} @ {self.scheduled_for:%Y-%m-%d %H:%M}Z"


class Task(models.Model):
    """One unit of work of a task manager: a file to import, a flight to export."""

    manager = models.ForeignKey(TaskManager, on_delete=models.CASCADE, related_name="tasks")
    run = models.ForeignKey(
        JobRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    key = models.CharField(max_length=300, help_text="idempotency key")
    subject = models.CharField(max_length=500, help_text="what the task works on")
    state = models.CharField(
        max_length=20,
        choices=[(s.value, s.value) for s in TaskState],
        default=TaskState.QUEUED.value,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["manager", "key"], name="unique_task_key")]

    def __str__(self) -> str:
        return f"{self.manager}: {self.subject} [{self.state}]"
