"""E-mail to the PI: data awaits your review (once per task), and reminders when overdue.

Both are plain services over the database, safe to call as often as wanted (a scheduler, a
worker or ``stratoflow manage review_notify``): a task is announced once, and an overdue task
is reminded at most once per ``REMINDER_INTERVAL``. Every message sent is recorded as a
:class:`~stratoflow.server.review.models.ReviewEvent` (``notify``/``remind``) with its
recipients. Recipients: the PIs assigned to the flight's platform or project, and the job's
responsible user; only addresses that exist are used.

Mail goes through Django's mail framework (``EMAIL_BACKEND``; see the settings'
``STRATOFLOW_EMAIL_URL``); links start with ``settings.STRATOFLOW_BASE_URL``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from stratoflow.server.catalog.models import Flight
from stratoflow.server.review.models import ReviewEvent
from stratoflow.server.review.selectors import deadline_days, review_tasks, reviewers_of
from stratoflow.server.review.services import review_event_record
from stratoflow.server.workflow.models import Task

__all__ = [
    "REMINDER_INTERVAL",
    "Sent",
    "review_link",
    "review_notify_awaiting",
    "review_send_reminders",
]

#: Shortest time between two reminders about the same task.
REMINDER_INTERVAL = timedelta(days=1)


@dataclass
class Sent:
    """What a notification pass sent: (task id, recipients) per message."""

    messages: list[tuple[int, list[str]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.messages)


def review_link(flight: Flight) -> str:
    """Absolute URL of the flight's review page."""
    base = str(getattr(settings, "STRATOFLOW_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")
    return base + reverse("review:flight", args=[flight.identifier])


def _recipients(flight: Flight, task: Task) -> list[str]:
    users = list(reviewers_of(flight))
    responsible = task.manager.job.responsible
    if responsible is not None and responsible.is_active:
        users.append(responsible)
    emails: list[str] = []
    for user in users:
        email = str(getattr(user, "email", "") or "").strip()
        if email and email not in emails:
            emails.append(email)
    return emails


def _flight_of(task: Task) -> Flight | None:
    ident = task.details.get("flight") if isinstance(task.details, dict) else None
    return Flight.objects.filter(identifier=str(ident)).first() if ident else None


def _send(
    task: Task, flight: Flight, kind: str, subject: str, body: str, now: datetime
) -> list[str] | None:
    to = _recipients(flight, task)
    if not to:
        return None
    send_mail(subject, body, None, to, fail_silently=False)
    review_event_record(
        flight,
        action=kind,
        user=None,
        details={"recipients": to, "task": task.pk, "subject": subject, "at": now.isoformat()},
        task=task,
    )
    return to


def _last_reminder(task: Task) -> datetime | None:
    event = (
        ReviewEvent.objects.filter(task=task, action=ReviewEvent.Action.REMIND)
        .order_by("-created_at", "-id")
        .first()
    )
    if event is None:
        return None
    at = event.details.get("at") if isinstance(event.details, dict) else None
    return datetime.fromisoformat(at) if isinstance(at, str) else event.created_at


def review_notify_awaiting(now: datetime | None = None) -> Sent:
    """Tell the PI about every task awaiting review that has not been announced yet."""
    now = now or timezone.now()
    sent = Sent()
    for task in review_tasks():
        if ReviewEvent.objects.filter(task=task, action=ReviewEvent.Action.NOTIFY).exists():
            continue
        flight = _flight_of(task)
        if flight is None:
            continue
        due = (task.finished_at or now) + timedelta(days=deadline_days(task))
        body = (
            f"New data of flight {flight} await your review.\n\n"
            f"Review page: {review_link(flight)}\n"
            f"Task: {task.subject} (job {task.manager.job.name})\n"
            f"Please review by {due:%Y-%m-%d %H:%M} UTC.\n"
        )
        to = _send(
            task,
            flight,
            ReviewEvent.Action.NOTIFY,
            f"[stratoflow] flight {flight.identifier} awaits your review",
            body,
            now,
        )
        if to:
            sent.messages.append((task.pk, to))
    return sent


def review_send_reminders(now: datetime | None = None) -> Sent:
    """Remind the PI of every task awaiting review past its job's deadline.

    A task is reminded at most once per :data:`REMINDER_INTERVAL`.
    """
    now = now or timezone.now()
    sent = Sent()
    for task in review_tasks():
        if task.finished_at is None:
            continue
        days = deadline_days(task)
        due = task.finished_at + timedelta(days=days)
        if due > now:
            continue
        last = _last_reminder(task)
        if last is not None and now - last < REMINDER_INTERVAL:
            continue
        flight = _flight_of(task)
        if flight is None:
            continue
        late = now - due
        body = (
            f"Reminder: the data of flight {flight} have awaited your review since "
            f"{task.finished_at:%Y-%m-%d %H:%M} UTC; the deadline ({days} day(s)) passed "
            f"{late.days} day(s) ago.\n\nReview page: {review_link(flight)}\n"
        )
        to = _send(
            task,
            flight,
            ReviewEvent.Action.REMIND,
            f"[stratoflow] reminder: flight {flight.identifier} is overdue for review",
            body,
            now,
        )
        if to:
            sent.messages.append((task.pk, to))
    return sent
