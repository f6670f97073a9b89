"""Review models: the PI's decisions and manual flags, as an append-only record.

Nothing here is edited in place: a new decision is a new row, so the history of who decided
what, when and why is the table itself, and decisions can be replayed on reprocessed data.
:class:`ReviewEvent` is the page's history: every action (re-evaluation, QC re-run, manual
flag, re-processing, approval, rejection, notification; and the system's restore of an earlier
version) with who, when, what (``details``) and why.
A change of flags on released data withdraws the release (a ``withdraw`` decision).
Access is by :class:`ReviewAssignment`: a PI reviews the platforms (aircraft/instruments) and
projects assigned to them. :class:`ReviewDeadline` sets a job's review deadline (reminders).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from stratoflow.server.catalog.models import Flight, Platform, Project
from stratoflow.server.workflow.models import Job, Task

__all__ = ["Decision", "ManualFlag", "ReviewAssignment", "ReviewDeadline", "ReviewEvent"]

#: Days a PI has to review new data when the job sets no :class:`ReviewDeadline`.
DEFAULT_DEADLINE_DAYS = 3


class Decision(models.Model):
    """A PI action on a flight's data: approve (release to a level) or reject.

    ``withdraw`` is recorded when the PI changes the flags of released data (a manual flag,
    a re-evaluation, a QC re-run): the release no longer says what the database holds, so
    the flight leaves the exports and awaits review again until the PI approves anew.
    """

    class Action(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"
        WITHDRAW = "withdraw"

    flight = models.ForeignKey(Flight, on_delete=models.PROTECT, related_name="decisions")
    action = models.CharField(max_length=20, choices=Action.choices)
    level = models.CharField(max_length=2, blank=True, help_text="level released to (L1/L2)")
    reason = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed = models.JSONField(
        default=dict,
        blank=True,
        help_text="what the decision is about: per series its version, QC run and manual "
        "flags (a ReviewState); exports of an approval deliver exactly this",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.flight} ({self.level})"


class ManualFlag(models.Model):
    """A flag the PI set on a time range of one variable, with a mandatory comment."""

    flight = models.ForeignKey(Flight, on_delete=models.PROTECT, related_name="manual_flags")
    variable = models.CharField(max_length=100)
    time_start = models.DateTimeField()
    time_end = models.DateTimeField()
    flag = models.PositiveSmallIntegerField()
    comment = models.TextField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(time_end__gte=models.F("time_start")),
                name="manual_flag_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variable} {self.time_start:%H:%M:%S}-{self.time_end:%H:%M:%S} = {self.flag}"

    @property
    def flag_label(self) -> str:
        """The flag's name (``bad``, ``limited``...)."""
        from stratoflow.flags import Flag

        return Flag(self.flag).label


class ReviewAssignment(models.Model):
    """A PI is responsible for the data of one platform (aircraft/instrument) or one project."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_assignments"
    )
    platform = models.ForeignKey(Platform, null=True, blank=True, on_delete=models.CASCADE)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(platform__isnull=False, project__isnull=True)
                    | models.Q(platform__isnull=True, project__isnull=False)
                ),
                name="review_assignment_platform_xor_project",
            ),
            models.UniqueConstraint(
                fields=["user", "platform"], name="unique_review_assignment_platform"
            ),
            models.UniqueConstraint(
                fields=["user", "project"], name="unique_review_assignment_project"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} reviews {self.platform or self.project}"


class ReviewDeadline(models.Model):
    """How long a job's data may await review before the PI is reminded."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="review_deadline")
    days = models.PositiveSmallIntegerField(default=DEFAULT_DEADLINE_DAYS)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(days__gte=1), name="review_deadline_gte_1")
        ]

    def __str__(self) -> str:
        return f"{self.job}: review within {self.days} day(s)"


class ReviewEvent(models.Model):
    """One recorded review action: who (``user``, None = the system), when, what, why."""

    class Action(models.TextChoices):
        REEVALUATE = "reevaluate"
        RERUN = "rerun"
        MANUAL_FLAG = "manual_flag"
        APPROVE = "approve"
        REJECT = "reject"
        WITHDRAW = "withdraw"
        NOTIFY = "notify"
        REMIND = "remind"
        REPROCESS = "reprocess"
        RESTORE = "restore"

    flight = models.ForeignKey(Flight, on_delete=models.PROTECT, related_name="review_events")
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="review_events"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT)
    details = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["flight", "created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.flight} by {self.user or 'system'}"
