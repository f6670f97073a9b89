"""Admin pages for export records (read-only: they are a history).

One decision is a person's, though: whether the file of an upload that was begun and never
confirmed (its task was given up, or its process died, while it uploaded; state
``uploading``) arrived. Until someone who checked the target says so, no task delivers that
export again (:mod:`stratoflow.exporters.delivery`); the two actions below record the answer.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from stratoflow.server.exports import models

State = models.ExportRecord.State


@admin.register(models.ExportRecord)
class ExportRecordAdmin(admin.ModelAdmin[models.ExportRecord]):
    list_display = ["file_name", "subject", "format", "version", "state", "created_at"]
    list_filter = ["state", "format"]
    search_fields = ["subject", "file_name", "sha256", "fingerprint"]
    readonly_fields = ["series"]
    actions = ["confirm_arrived", "confirm_not_arrived"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_confirm_permission(self, request: HttpRequest) -> bool:
        """The answer about an unconfirmed upload is a change of the record: its permission."""
        return request.user.has_perm("exports.change_exportrecord")

    @admin.action(
        description="Unconfirmed upload: it arrived (mark delivered)",
        permissions=["confirm"],
    )
    def confirm_arrived(
        self, request: HttpRequest, queryset: QuerySet[models.ExportRecord]
    ) -> None:
        # delivered_at keeps the time the upload began: when it arrived is not known better
        count = queryset.filter(state=State.UPLOADING).update(
            state=State.DELIVERED, error=f"upload confirmed as arrived by {request.user}"
        )
        self._report(request, count, "marked delivered")

    @admin.action(
        description="Unconfirmed upload: it did not arrive (deliver it again)",
        permissions=["confirm"],
    )
    def confirm_not_arrived(
        self, request: HttpRequest, queryset: QuerySet[models.ExportRecord]
    ) -> None:
        count = queryset.filter(state=State.UPLOADING).update(
            state=State.FAILED,
            delivered_at=None,
            error=f"upload never confirmed; not arrived, said {request.user}",
        )
        self._report(request, count, "marked failed: the next run delivers them again")

    def _report(self, request: HttpRequest, count: int, what: str) -> None:
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(
            request, f"{count} unconfirmed upload(s) {what} (only 'uploading' records)", level
        )
