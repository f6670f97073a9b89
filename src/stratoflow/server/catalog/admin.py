"""Admin pages for the catalog (values are shown as summaries, never as raw blobs)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from stratoflow.errors import CatalogError, QCConfigError
from stratoflow.flights import platform_key
from stratoflow.server.catalog import models
from stratoflow.server.catalog.platforms import platform_merge
from stratoflow.server.catalog.qc_configurations import (
    default_text,
    qc_configuration_diff,
    qc_configuration_save,
    qc_configuration_summary,
    qc_source,
    qc_text_parse,
)


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin[models.Project]):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(models.Campaign)
class CampaignAdmin(admin.ModelAdmin[models.Campaign]):
    list_display = ["name", "project", "time_start", "time_end"]
    list_filter = ["project"]
    search_fields = ["name"]


@admin.register(models.Aircraft)
class AircraftAdmin(admin.ModelAdmin[models.Aircraft]):
    list_display = [
        "registration",
        "airline",
        "aircraft_type",
        "serial_number",
        "active_from",
        "active_to",
    ]
    list_filter = ["airline", "aircraft_type"]
    search_fields = ["registration", "serial_number"]


@admin.register(models.MeasurementLocation)
class MeasurementLocationAdmin(admin.ModelAdmin[models.MeasurementLocation]):
    list_display = ["name", "aircraft"]
    search_fields = ["name"]


@admin.register(models.ComponentType)
class ComponentTypeAdmin(admin.ModelAdmin[models.ComponentType]):
    list_display = ["name", "quantity", "units"]
    search_fields = ["name", "quantity"]


@admin.register(models.ComponentClass)
class ComponentClassAdmin(admin.ModelAdmin[models.ComponentClass]):
    list_display = ["name"]


class PartInline(admin.TabularInline[models.Installation, models.Component]):
    model = models.Installation
    fk_name = "parent"
    fields = ["component", "installed_from", "installed_to"]
    extra = 0
    verbose_name = "installed part"


class CalibrationInline(admin.TabularInline[models.Calibration, models.Component]):
    model = models.Calibration
    fields = ["time", "function", "parameters"]
    extra = 0


@admin.register(models.Component)
class ComponentAdmin(admin.ModelAdmin[models.Component]):
    list_display = ["serial_number", "name", "component_type", "component_class", "status"]
    list_filter = ["status", "component_class", "component_type"]
    search_fields = ["serial_number", "name"]
    inlines = [PartInline, CalibrationInline]


@admin.register(models.Installation)
class InstallationAdmin(admin.ModelAdmin[models.Installation]):
    list_display = ["component", "parent", "installed_from", "installed_to"]
    search_fields = ["component__serial_number", "parent__serial_number"]


@admin.register(models.Deployment)
class DeploymentAdmin(admin.ModelAdmin[models.Deployment]):
    list_display = ["instrument", "aircraft", "location", "campaign", "time_start", "time_end"]
    list_filter = ["aircraft", "campaign"]
    search_fields = ["instrument__serial_number", "aircraft__registration"]


@admin.register(models.Calibration)
class CalibrationAdmin(admin.ModelAdmin[models.Calibration]):
    list_display = ["component", "time", "function"]
    list_filter = ["function"]
    search_fields = ["component__serial_number"]


@admin.register(models.MetadataChange)
class MetadataChangeAdmin(admin.ModelAdmin[models.MetadataChange]):
    list_display = ["at", "who", "action", "model", "key", "source"]
    list_filter = ["action", "model", "who"]
    search_fields = ["key", "source"]
    readonly_fields = ["at", "who", "source", "model", "key", "action", "changes"]


@admin.register(models.Platform)
class PlatformAdmin(admin.ModelAdmin[models.Platform]):
    list_display = ["name", "key", "project"]
    search_fields = ["name", "key"]
    actions = ["merge"]

    @admin.action(
        description="Merge into the platform of the same key", permissions=["change", "delete"]
    )
    def merge(self, request: HttpRequest, queryset: QuerySet[models.Platform]) -> None:
        """Merge the rows of one platform spelt twice (left by migration
        ``catalog/0007_platform_merge`` where something stood in the way; see
        :func:`~stratoflow.server.catalog.platforms.platform_merge`)."""
        done: set[str] = set()
        for platform in queryset.order_by("pk"):
            key = platform_key(platform.name)
            if key in done:
                continue
            done.add(key)
            try:
                result = platform_merge(platform)
            except CatalogError as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            if result.merged:
                self.message_user(
                    request, f"{', '.join(result.merged)} merged into {result.survivor.name}"
                )
            for name, reasons in result.left.items():
                self.message_user(
                    request,
                    f"{name} not merged into {result.survivor.name}: {'; '.join(reasons)}",
                    messages.WARNING,
                )
            if not result.merged and not result.left:
                self.message_user(request, f"{platform.name}: no other row of its key")


@admin.register(models.Flight)
class FlightAdmin(admin.ModelAdmin[models.Flight]):
    list_display = [
        "identifier",
        "platform",
        "departure_airport",
        "arrival_airport",
        "time_start",
        "time_end",
    ]
    list_filter = ["platform"]
    search_fields = ["identifier"]


@admin.register(models.SourceFile)
class SourceFileAdmin(admin.ModelAdmin[models.SourceFile]):
    list_display = ["identity", "checksum", "size", "provider", "reader", "imported_at"]
    list_filter = ["provider", "reader"]
    search_fields = ["identity", "checksum"]
    readonly_fields = [
        "identity",
        "checksum",
        "size",
        "provider",
        "reader",
        "reader_options",
        "attributes",
        "imported_at",
    ]


class SegmentInline(admin.TabularInline[models.Segment, models.Series]):
    model = models.Segment
    fields = ["index", "time_start", "time_end", "n_points"]
    readonly_fields = ["index", "time_start", "time_end", "n_points"]
    extra = 0
    can_delete = False


@admin.register(models.Series)
class SeriesAdmin(admin.ModelAdmin[models.Series]):
    list_display = [
        "flight",
        "variable",
        "units",
        "level",
        "version",
        "is_current",
        "instrument",
        "n_points",
        "time_start",
        "time_end",
    ]
    list_filter = ["level", "is_current", "variable"]
    search_fields = ["flight__identifier", "variable"]
    readonly_fields = ["source", "n_points", "time_start", "time_end", "provenance", "created_at"]
    raw_id_fields = ["instrument", "component", "deployment"]
    inlines = [SegmentInline]


@admin.register(models.Segment)
class SegmentAdmin(admin.ModelAdmin[models.Segment]):
    list_display = ["series", "index", "time_start", "time_end", "n_points"]
    exclude = ["data"]
    readonly_fields = ["series", "index", "time_start", "time_end", "n_points"]


@admin.register(models.QCRun)
class QCRunAdmin(admin.ModelAdmin[models.QCRun]):
    list_display = ["series", "evaluation", "is_current", "created_at", "flag_counts"]
    list_filter = ["evaluation", "is_current"]
    exclude = ["flags"]
    readonly_fields = ["series", "evaluation", "thresholds", "config", "flag_counts", "is_current"]


@admin.register(models.QCTestResult)
class QCTestResultAdmin(admin.ModelAdmin[models.QCTestResult]):
    list_display = ["run", "test", "version", "runtime_s"]
    exclude = ["probabilities"]
    readonly_fields = ["run", "test", "parameters", "version", "runtime_s"]


class QCConfigurationForm(forms.ModelForm[models.QCConfiguration]):
    """The YAML in a monospace editor; the model's ``clean()`` validates it with the QC schema
    (errors name the key and line) and the admin saves through the service (new version)."""

    change_comment = forms.CharField(
        required=False,
        max_length=300,
        help_text="why (kept with the new version, shown in its history)",
    )

    class Meta:
        model = models.QCConfiguration
        fields = ["name", "description", "is_default", "text"]
        widgets = {
            "text": forms.Textarea(
                attrs={
                    "rows": 40,
                    "cols": 100,
                    "spellcheck": "false",
                    "style": "font-family: monospace; white-space: pre; width: 95%;",
                }
            ),
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # leading blank lines and indentation are part of the YAML (and of the line numbers)
        self.fields["text"].strip = False  # type: ignore[attr-defined]

    def clean_text(self) -> str:
        """Browsers send CRLF: store LF, so the checksum does not depend on the browser."""
        return str(self.cleaned_data["text"]).replace("\r\n", "\n")


def _summary_html(text: str, name: str) -> SafeString:
    try:
        config, _ = qc_text_parse(text, qc_source(name))
    except QCConfigError as exc:
        return format_html("<em>invalid: {}</em>", exc)
    rows = qc_configuration_summary(config)
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((r["profile"], r["matches"], r["units"], "; ".join(r["tests"])) for r in rows),
    )
    return format_html(
        "<p>evaluation: {}</p><table><thead><tr><th>profile</th><th>variables matched</th>"
        "<th>units</th><th>tests</th></tr></thead><tbody>{}</tbody></table>",
        config.evaluation,
        body,
    )


@admin.register(models.QCConfiguration)
class QCConfigurationAdmin(admin.ModelAdmin[models.QCConfiguration]):
    form = QCConfigurationForm
    list_display = ["name", "version", "is_default", "updated_at", "updated_by", "description"]
    list_filter = ["is_default"]
    search_fields = ["name", "description"]
    readonly_fields = ["version", "checksum", "updated_at", "updated_by", "summary", "history"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields = ["name", "description", "is_default", "text", "change_comment"]
        if obj is not None:
            fields += ["summary", "version", "checksum", "updated_at", "updated_by", "history"]
        return fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """A new configuration starts from the shipped defaults."""
        return {"text": default_text(), **super().get_changeform_initial_data(request)}

    @admin.display(description="summary")
    def summary(self, obj: models.QCConfiguration) -> SafeString:
        return _summary_html(obj.text, obj.name)

    @admin.display(description="versions (newest first; open one to see what changed)")
    def history(self, obj: models.QCConfiguration) -> SafeString:
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">v{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:catalog_qcconfigurationversion_change", args=[v.pk]),
                    v.version,
                    f"{v.created_at:%Y-%m-%d %H:%M}Z",
                    v.created_by or "",
                    v.comment,
                )
                for v in obj.versions.select_related("created_by").order_by("-version")
            ),
        )
        return format_html(
            "<table><thead><tr><th>version</th><th>saved</th><th>by</th><th>why</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    def save_model(
        self,
        request: HttpRequest,
        obj: models.QCConfiguration,
        form: forms.ModelForm[models.QCConfiguration],
        change: bool,
    ) -> None:
        qc_configuration_save(
            obj, user=request.user, comment=form.cleaned_data.get("change_comment", "")
        )


_VERSION_FIELDS: tuple[str, ...] = (
    "configuration",
    "name",
    "version",
    "created_at",
    "created_by",
    "comment",
    "checksum",
    "changes",
    "text_shown",
)


@admin.register(models.QCConfigurationVersion)
class QCConfigurationVersionAdmin(admin.ModelAdmin[models.QCConfigurationVersion]):
    """Versions are history: readable, never edited, added or deleted by hand."""

    list_display = ["name", "version", "created_at", "created_by", "comment", "configuration"]
    list_filter = ["name"]
    search_fields = ["name", "comment", "checksum"]
    readonly_fields = _VERSION_FIELDS  # a version is a record: shown, never edited
    fields = _VERSION_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="changes from the previous version")
    def changes(self, obj: models.QCConfigurationVersion) -> SafeString:
        return format_html(
            '<pre style="font-family: monospace">{}</pre>', qc_configuration_diff(obj)
        )

    @admin.display(description="text")
    def text_shown(self, obj: models.QCConfigurationVersion) -> SafeString:
        return format_html('<pre style="font-family: monospace">{}</pre>', obj.text)
