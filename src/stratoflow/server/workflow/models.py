"""Workflow models: who provides data, how it is transferred, and the jobs that move it.

A :class:`Job` has ordered :class:`TaskManager` s. Running a job creates a :class:`JobRun`
(unique per job and scheduled time, so a slot can never run twice); each manager first
collects its :class:`Task` s (unique per manager and idempotency key, so a unit already done is
not queued again) and then executes them. States follow :mod:`stratoflow.jobs.states`.
Secrets never live here: transfer options hold references such as ``env:NAME``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from stratoflow.errors import ConfigError
from stratoflow.jobs.catchup import POLICIES
from stratoflow.jobs.schedule import Schedule
from stratoflow.jobs.states import RunState, TaskState

__all__ = [
    "DataProvider",
    "Job",
    "JobRun",
    "SchedulerLease",
    "Task",
    "TaskManager",
    "TransferHandler",
]


class DataProvider(models.Model):
    """An external party data comes from or goes to; recorded in every import's provenance."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    contact = models.CharField(max_length=300, blank=True)
    url = models.URLField(blank=True)
    licence = models.CharField(max_length=300, blank=True, help_text="licence or terms of use")
    concurrency = models.PositiveIntegerField(
        default=0, help_text="most tasks talking to this provider at once (0 = no limit)"
    )

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The descriptive URL holds no credentials: it is stored and shown (admin lists,
        provenance, job files under version control), and is never used to log in. Refused
        in the admin form and by ``job load`` alike, without the value."""
        if "@" in urlsplit(self.url).netloc:
            raise ValidationError(
                {
                    "url": "must not carry a user name or password (user:password@host; the "
                    "value is not shown); credentials belong in a transfer's auth options, "
                    "as secret references (env:NAME, file:/path)"
                }
            )


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

    def clean(self) -> None:
        """Protocol, authentication and their options must make a working handler.

        Checked by building it, exactly as a task will, so a typo (``type: sftpp``, an unknown
        option, a password written in clear instead of ``env:NAME``) is refused when the
        definition is saved or loaded, not at 3 a.m. when the job first runs. Building resolves
        no secret and opens no connection.
        """
        from stratoflow import plugins
        from stratoflow.errors import StratoflowError
        from stratoflow.server.workflow.transfers import build
        from stratoflow.transfer.auth import auth_from_config
        from stratoflow.transfer.handler import transfer_type_from_config

        # the name is also its staging folder's: no separators, no leading dot ("..", "/x")
        if not self.name or self.name.startswith(".") or any(c in self.name for c in "/\\\0"):
            raise ValidationError(
                {"name": "a transfer name cannot start with '.' or contain '/' or '\\'"}
            )
        if self.provider_id is None:
            return  # the form reports the missing provider itself
        # each part built on its own first, so the error lands on the field at fault (a
        # message that mentions "auth" may well be about an address option)
        parts: list[tuple[str, Callable[[], object]]] = [
            ("transfer_type", lambda: plugins.load("transfer_types", self.transfer_type)),
            ("auth", lambda: plugins.load("auth", self.auth)),
            (
                "transfer_options",
                lambda: transfer_type_from_config(
                    {"type": self.transfer_type, **self.transfer_options}
                ),
            ),
            ("auth_options", lambda: auth_from_config({"method": self.auth, **self.auth_options})),
            ("auth", lambda: build(self)),  # the two together: the auth must fit the protocol
        ]
        for field, make in parts:
            try:
                make()
            except StratoflowError as exc:
                raise ValidationError({field: str(exc)}) from None


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
    catch_up = models.CharField(
        max_length=10,
        choices=[(p, p) for p in POLICIES],
        default="latest",
        help_text="after downtime: skip missed runs, run the latest only, or all (capped)",
    )
    catch_up_cap = models.PositiveIntegerField(
        default=24, help_text="most missed runs caught up at once with policy 'all'"
    )
    depends_on = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="dependents",
        help_text="jobs whose runs for the same or an earlier slot must finish first",
    )
    scheduled_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="the scheduler considered slots up to"
    )
    # Slots of a period the job was switched off are not caught up when it is switched back
    # on (a provider down for maintenance): the scheduler considers only slots after this.
    # ``stratoflow backfill`` creates those runs when they are wanted after all.
    enabled_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="when the job was last switched on; slots before it are not caught up",
    )

    class Meta:
        ordering = ["order", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(interval__gte=1), name="job_interval_gte_1"),
            models.CheckConstraint(
                condition=models.Q(catch_up_cap__gte=1), name="job_catch_up_cap_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def schedule(self) -> Schedule | None:
        """The job's :class:`Schedule`, or ``None`` when it has no start (manual runs only)."""
        if self.start is None:
            return None
        return Schedule(
            frequency=self.frequency,  # type: ignore[arg-type]  # validated by Schedule
            interval=self.interval,
            start=self.start,
            timezone=self.timezone,
            end=self.end,
        )

    def next_occurrences(self, n: int, after: datetime | None = None) -> list[datetime]:
        """The next ``n`` run instants after ``after`` (default: now), in the job's zone."""
        from django.utils import timezone

        schedule = self.schedule
        if schedule is None:
            return []
        found = schedule.occurrences(after or timezone.now(), n)
        return [occ.astimezone(schedule.zone) for occ in found]

    def clean(self) -> None:
        """Schedule must be valid (IANA zone, existing start...)."""
        errors: dict[str, str] = {}
        try:
            self.schedule  # noqa: B018  # constructing it validates it
        except ConfigError as exc:
            message = str(exc)
            fields = ("timezone", "interval", "frequency", "end")
            errors[next((f for f in fields if f in message), "start")] = message
        if self.catch_up not in POLICIES:
            errors["catch_up"] = f"use one of {', '.join(POLICIES)}"
        if errors:
            raise ValidationError(errors)


class TaskManager(models.Model):
    """One kind of task within a job (import, export, metadata), run in ``order``."""

    class Kind(models.TextChoices):
        IMPORT = "import"
        EXPORT = "export"
        NOOP = "noop"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="managers")
    name = models.CharField(max_length=100)
    # No ``choices``: kinds come from a registry (see managers.get), checked in clean().
    kind = models.CharField(max_length=20, help_text="import, export, metadata, noop")
    order = models.IntegerField(default=0, help_text="managers run in ascending order")
    concurrency = models.PositiveIntegerField(default=4, help_text="most tasks running at once")
    max_attempts = models.PositiveIntegerField(
        default=3, help_text="attempts of a task with transient failures (1 = no retry)"
    )
    retry_delay = models.FloatField(
        default=30.0, help_text="seconds before the first retry; doubles each attempt (+jitter)"
    )
    timeout = models.PositiveIntegerField(
        default=3600,
        help_text="seconds a task may run; a task still running then is abandoned (its lease is "
        "no longer renewed) and retried or, after max_attempts, failed",
    )
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

    def clean(self) -> None:
        """The kind must be a registered task manager kind, its options those the kind knows
        (:mod:`~stratoflow.server.workflow.options`), and a QC configuration named in the
        options (``{"qc": {"config": NAME}}``) must be stored."""
        from stratoflow.server.workflow import managers

        if self.kind not in managers.known():
            raise ValidationError(
                {"kind": f"unknown kind {self.kind!r}; known: {', '.join(managers.known())}"}
            )
        from stratoflow.server.workflow.options import check_manager_options

        try:
            check_manager_options(self.kind, self.options)
        except ConfigError as exc:
            raise ValidationError({"options": str(exc)}) from None
        qc = self.options.get("qc") if isinstance(self.options, dict) else None
        config = qc.get("config") if isinstance(qc, dict) else None
        if isinstance(config, str):
            from stratoflow.server.catalog.qc_configurations import (
                is_stored_reference,
                looks_like_name,
            )

            # a name must exist now; a file path is only checked where the task runs
            if looks_like_name(config) and not is_stored_reference(config):
                raise ValidationError(
                    {
                        "options": f"qc.config: no stored QC configuration {config!r} (add it "
                        "under Catalog > QC configurations, or give a YAML file path)"
                    }
                )


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
    owner = models.CharField(max_length=200, blank=True, help_text="process executing the run")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [
            models.UniqueConstraint(fields=["job", "scheduled_for"], name="unique_job_slot")
        ]

    def __str__(self) -> str:
        return f"{self.job.name} @ {self.scheduled_for:%Y-%m-%d %H:%M}Z"


def fit_task_key(key: str) -> str:
    """``key`` as stored (at most 300 characters, ``Task.key``), without collisions.

    A long key (a deep path plus a checksum) is not cut: two files whose paths share the first
    300 characters would get one key, and the second would never be imported. Its head is
    kept readable and the rest replaced by a digest of the whole key.
    """
    if len(key) <= 300:
        return key
    return f"{key[:235]}~{hashlib.sha256(key.encode()).hexdigest()}"


class Task(models.Model):
    """One unit of work of a task manager: a file to import, a flight to export."""

    manager = models.ForeignKey(TaskManager, on_delete=models.CASCADE, related_name="tasks")
    run = models.ForeignKey(
        JobRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    key = models.CharField(max_length=300, help_text="idempotency key")
    # Set for a kind whose units belong to the transfer handler rather than the manager
    # (a file fetched from a source is imported once, whichever of the managers on that
    # source queues it): unique with ``key``, so managers collecting at once cannot both
    # queue one file; a check before inserting would leave them a window between them.
    transfer = models.ForeignKey(
        TransferHandler,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the source whose unit this is, for kinds whose keys are per source",
    )
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
    # Execution bookkeeping: who holds the task (claim token) and until when (lease); when it
    # was handed to an executor; when a retrying task may run again.
    claim = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["manager", "key"], name="unique_task_key"),
            models.UniqueConstraint(
                fields=["transfer", "key"],
                condition=models.Q(transfer__isnull=False),
                name="unique_task_transfer_key",
            ),
        ]
        indexes = [models.Index(fields=["run", "manager", "state"], name="task_run_manager_state")]

    def __str__(self) -> str:
        return f"{self.manager}: {self.subject} [{self.state}]"


class SchedulerLease(models.Model):
    """A named lease: one row per name, held by one process until it expires.

    The scheduler's leadership, and an export upload while it runs (``export-upload:<id>``,
    :mod:`stratoflow.exporters.unconfirmed`).

    The holder renews ``expires_at`` by heartbeat; another process takes the row over only
    with a conditional UPDATE once it expired, so at most one scheduler is active.
    """

    name = models.CharField(max_length=100, unique=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField()
    renewed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.holder} until {self.expires_at:%H:%M:%S}Z"
