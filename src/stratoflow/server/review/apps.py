"""App configuration."""

from __future__ import annotations

from django.apps import AppConfig


class ReviewConfig(AppConfig):
    """Review app."""

    name = "stratoflow.server.review"
    label = "review"
    verbose_name = "Review"
    default_auto_field = "django.db.models.BigAutoField"
