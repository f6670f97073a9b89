"""Review e-mails: a real SMTP server (aiosmtpd) on 127.0.0.1 receives the notification, with
the right recipients and the link to the review page; reminders follow the job's deadline.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from io import StringIO
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP
from django.conf import LazySettings
from django.core import mail
from django.core.management import call_command

from .conftest import Review

pytestmark = pytest.mark.django_db

BASE_URL = "https://review.example.org"


class _Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_server(settings: LazySettings) -> Iterator[_Inbox]:
    """A real SMTP server on an ephemeral 127.0.0.1 port; Django's SMTP backend points at it."""
    inbox = _Inbox()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(inbox, hostname="localhost"), "127.0.0.1", 0)
    )
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 10
    settings.STRATOFLOW_BASE_URL = BASE_URL
    try:
        yield inbox
    finally:

        async def shut() -> None:  # in the loop's own thread: asyncio objects are not
            server.close()  # thread-safe (closing from here failed a teardown now and then)
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_pi_receives_the_notification_over_smtp(review: Review, smtp_server: _Inbox) -> None:
    from stratoflow.server.review.models import ReviewEvent
    from stratoflow.server.review.notifications import review_notify_awaiting

    sent = review_notify_awaiting()
    assert len(sent) == 1
    assert len(smtp_server.messages) == 1
    recipients, message = smtp_server.messages[0]
    # the platform's PI, the project's PI and the job's responsible user; not the other PI
    assert sorted(recipients) == [
        "admin@example.org",
        "pi@example.org",
        "project-pi@example.org",
    ]
    flight = review.flight.identifier  # type: ignore[attr-defined]
    assert message["Subject"] == f"[stratoflow] flight {flight} awaits your review"
    assert f"{BASE_URL}/review/flight/{flight}/" in _body(message)
    event = ReviewEvent.objects.get(action="notify")
    assert event.task == review.task and event.user is None
    assert sorted(event.details["recipients"]) == sorted(recipients)
    # announced once only
    assert len(review_notify_awaiting()) == 0
    assert len(smtp_server.messages) == 1


def test_no_notification_once_reviewed(review: Review, settings: LazySettings) -> None:
    from stratoflow.server.review.notifications import review_notify_awaiting
    from stratoflow.server.review.services import flight_approve

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    flight_approve(review.flight, user=review.pi)  # type: ignore[arg-type]
    assert len(review_notify_awaiting()) == 0 and mail.outbox == []


def test_reminders_follow_the_job_deadline(review: Review, settings: LazySettings) -> None:
    from stratoflow.server.review.models import ReviewDeadline
    from stratoflow.server.review.notifications import review_send_reminders

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STRATOFLOW_BASE_URL = BASE_URL
    waiting_since = review.task.finished_at  # type: ignore[attr-defined]
    assert len(review_send_reminders(waiting_since + timedelta(days=2, hours=23))) == 0
    late = waiting_since + timedelta(days=3, hours=1)  # default deadline: 3 days
    assert len(review_send_reminders(late)) == 1
    assert len(review_send_reminders(late + timedelta(hours=5))) == 0  # at most once a day
    assert len(review_send_reminders(late + timedelta(days=1, hours=1))) == 1
    assert len(mail.outbox) == 2
    message = mail.outbox[0]
    flight = review.flight.identifier  # type: ignore[attr-defined]
    assert "overdue" in message.subject and flight in message.subject
    assert f"{BASE_URL}/review/flight/{flight}/" in message.body
    assert "pi@example.org" in message.to

    # a job with a one-day deadline is overdue sooner
    mail.outbox.clear()
    review.task.finished_at = late  # type: ignore[attr-defined]
    review.task.save()  # type: ignore[attr-defined]
    ReviewDeadline.objects.create(job=review.job, days=1)
    assert len(review_send_reminders(late + timedelta(days=1, hours=1))) == 0  # reminded recently
    assert len(review_send_reminders(late + timedelta(days=2, hours=2))) == 1


def test_default_deadline_is_a_setting(review: Review, settings: LazySettings) -> None:
    from stratoflow.server.review.notifications import review_send_reminders

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STRATOFLOW_REVIEW_DEADLINE_DAYS = 10
    waiting_since = review.task.finished_at  # type: ignore[attr-defined]
    assert len(review_send_reminders(waiting_since + timedelta(days=9))) == 0
    assert len(review_send_reminders(waiting_since + timedelta(days=10, hours=1))) == 1


def test_management_command_sends_both(review: Review, settings: LazySettings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    review.task.finished_at -= timedelta(days=5)  # type: ignore[attr-defined]
    review.task.save()  # type: ignore[attr-defined]
    out = StringIO()
    call_command("review_notify", stdout=out)
    assert out.getvalue().strip() == "review: 1 notification(s), 1 reminder(s)"
    subjects = [m.subject for m in mail.outbox]
    assert len(subjects) == 2
    assert subjects[0].endswith("awaits your review")
    assert subjects[1].startswith("[stratoflow] reminder:")


def test_no_recipient_no_mail(review: Review, settings: LazySettings) -> None:
    from stratoflow.server.review.models import ReviewAssignment
    from stratoflow.server.review.notifications import review_notify_awaiting

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ReviewAssignment.objects.all().delete()
    review.job.responsible = None  # type: ignore[attr-defined]
    review.job.save()  # type: ignore[attr-defined]
    assert len(review_notify_awaiting()) == 0 and mail.outbox == []


def test_the_scheduler_sends_overdue_reminders(review: Review, settings: LazySettings) -> None:
    from stratoflow.jobs.clock import ManualClock
    from stratoflow.server.workflow.scheduler import Scheduler

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STRATOFLOW_BASE_URL = BASE_URL
    waiting_since = review.task.finished_at  # type: ignore[attr-defined]
    clock = ManualClock(waiting_since + timedelta(days=1))
    scheduler = Scheduler(clock=clock)
    try:
        scheduler.tick()
        assert [m for m in mail.outbox if "overdue" in m.subject] == []
        clock.set(waiting_since + timedelta(days=3, hours=1))
        scheduler.tick()
        scheduler.tick()  # checked at most every 15 minutes, reminded at most once a day
        overdue = [m for m in mail.outbox if "overdue" in m.subject]
        assert len(overdue) == 1
        assert "pi@example.org" in overdue[0].to
    finally:
        scheduler.close()
