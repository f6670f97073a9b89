"""Review models: the PI's decisions and manual flags, as an append-only record.

Nothing here is edited in place: a new decision is a new row, so the history of who decided
what, when and why is the table itself, and decisions can be replayed on reprocessed data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from stratoflow.server.catalog.models import Flight

__all__ = ["Decision", "ManualFlag"]


class Decision(models.Model):
    """A PI action on a flight's data: approve (release to a level) or reject."""

    class Action(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    flight = models.ForeignKey(Flight, on_delete=models.PROTECT, related_name="decisions")
    action = models.CharField(max_length=20, choices=Action.choices)
    level = models.CharField(max_length=2, blank=True, help_text="level released to (L1/L2)")
    reason = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

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
