"""App configuration."""

from __future__ import annotations

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Catalog app."""

    name = "stratoflow.server.catalog"
    label = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"
