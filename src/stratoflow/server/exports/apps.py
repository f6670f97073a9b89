"""App configuration."""

from __future__ import annotations

from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """Exports app."""

    name = "stratoflow.server.exports"
    label = "exports"
    verbose_name = "Exports"
    default_auto_field = "django.db.models.BigAutoField"
