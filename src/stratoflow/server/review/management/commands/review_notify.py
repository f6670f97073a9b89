"""``stratoflow manage review_notify``: e-mail PIs about data awaiting review, and reminders."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from stratoflow.server.review.notifications import review_notify_awaiting, review_send_reminders


class Command(BaseCommand):
    """Send pending review notifications and overdue reminders (safe to run repeatedly)."""

    help = "e-mail PIs about data awaiting review and remind them of overdue reviews"

    def handle(self, *args: Any, **options: Any) -> None:
        notified = review_notify_awaiting()
        reminded = review_send_reminders()
        self.stdout.write(f"review: {len(notified)} notification(s), {len(reminded)} reminder(s)")
