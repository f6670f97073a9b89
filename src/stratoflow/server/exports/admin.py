"""Admin pages for export records (read-only: they are a history)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from stratoflow.server.exports import models


@admin.register(models.ExportRecord)
class ExportRecordAdmin(admin.ModelAdmin[models.ExportRecord]):
    list_display = ["file_name", "subject", "format", "version", "state", "created_at"]
    list_filter = ["state", "format"]
    search_fields = ["subject", "file_name", "sha256", "fingerprint"]
    readonly_fields = ["series"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
