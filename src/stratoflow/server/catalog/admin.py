"""Admin pages for the catalog (values are shown as summaries, never as raw blobs)."""

from __future__ import annotations

from django.contrib import admin

from stratoflow.server.catalog import models


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
    list_display = ["name", "project"]
    search_fields = ["name"]


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
