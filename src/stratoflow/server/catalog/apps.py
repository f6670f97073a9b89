"""App configuration."""

from __future__ import annotations

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Catalog app."""

    name = "stratoflow.server.catalog"
    label = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The catalog brings its own task manager kind; the workflow registry stays closed to
        # knowledge of the catalog's internals.
        from stratoflow.importers.metadata import MetadataManager
        from stratoflow.server.workflow import managers

        register = getattr(managers, "register", None)
        if register is not None:
            register("metadata", MetadataManager())
        else:  # registry without register() (older workflow app)
            managers._KINDS["metadata"] = MetadataManager()
