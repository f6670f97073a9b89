"""Admin pages for the catalog (values are shown as summaries, never as raw blobs)."""

from __future__ import annotations

from django.contrib import admin

from stratoflow.server.catalog import models


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin[models.Project]):
    list_display = ["name"]
    search_fields = ["name"]


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
        "n_points",
        "time_start",
        "time_end",
    ]
    list_filter = ["level", "is_current", "variable"]
    search_fields = ["flight__identifier", "variable"]
    readonly_fields = ["source", "n_points", "time_start", "time_end", "provenance", "created_at"]
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
