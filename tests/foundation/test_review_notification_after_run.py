"""A job run that leaves data awaiting review tells the PI by email (Django's mail framework)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import LazySettings
from django.core import mail

from stratoflow.cli import main

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_run_sends_one_review_notification_per_flight(
    tmp_path: Path, settings: LazySettings
) -> None:
    settings.HOME = tmp_path
    settings.STAGING_DIR = tmp_path / "staging"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STRATOFLOW_BASE_URL = "http://review.example:8000"
    assert main(["demo", "--flights", "2", "--seed", "11"]) == 0
    notices = [m for m in mail.outbox if "awaits your review" in m.subject]
    assert len(notices) == 2
    for message in notices:
        assert message.to == ["pi@example.org"]
        assert "http://review.example:8000/review/" in message.body
    # the second demo run imports nothing new, so nobody is told again
    assert main(["demo", "--flights", "2", "--seed", "11"]) == 0
    assert len([m for m in mail.outbox if "awaits your review" in m.subject]) == 2
