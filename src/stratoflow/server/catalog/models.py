"""Catalog models.

Values are never stored one row per point: a :class:`Series` owns immutable, compressed
columnar :class:`Segment` rows (see :mod:`stratoflow.store.segments`), one per imported source,
each with its time range indexed. QC results are stored the same way, per :class:`QCRun`.
Re-processing creates a new version of a series; old versions stay (``is_current`` moves).
"""

from __future__ import annotations

from django.db import models

__all__ = [
    "DataLevel",
    "Flight",
    "Platform",
    "Project",
    "QCRun",
    "QCTestResult",
    "Segment",
    "Series",
    "SourceFile",
]


class DataLevel(models.TextChoices):
    """Data levels: raw as received, validated by the PI, final."""

    L0 = "L0", "L0 raw"
    L1 = "L1", "L1 validated"
    L2 = "L2", "L2 final"


class Project(models.Model):
    """A research infrastructure or funded project the data belongs to."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class Platform(models.Model):
    """A measurement platform: an aircraft (registration) or a station."""

    name = models.CharField(max_length=100, unique=True, help_text="e.g. D-AIGT or IAGOS-01")
    description = models.TextField(blank=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.PROTECT)

    def __str__(self) -> str:
        return self.name


class Flight(models.Model):
    """One flight (or measurement period) of a platform."""

    identifier = models.CharField(max_length=100, unique=True)
    platform = models.ForeignKey(Platform, null=True, blank=True, on_delete=models.PROTECT)
    departure_airport = models.CharField(max_length=10, blank=True)
    arrival_airport = models.CharField(max_length=10, blank=True)
    time_start = models.DateTimeField(null=True, blank=True)
    time_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-time_start"]

    def __str__(self) -> str:
        route = (
            f" {self.departure_airport}->{self.arrival_airport}" if self.departure_airport else ""
        )
        return f"{self.identifier}{route}"


class SourceFile(models.Model):
    """A file as received from a provider; identity + checksum make an import idempotent."""

    identity = models.CharField(max_length=500, help_text="provider and remote name of the file")
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the bytes")
    size = models.BigIntegerField()
    provider = models.CharField(max_length=200, blank=True)
    reader = models.CharField(max_length=100)
    reader_options = models.JSONField(default=dict, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["identity", "checksum"], name="unique_source_version")
        ]
        ordering = ["-imported_at"]

    def __str__(self) -> str:
        return f"{self.identity} ({self.checksum[:12]})"


class Series(models.Model):
    """One variable of one flight at one data level and version."""

    flight = models.ForeignKey(Flight, on_delete=models.PROTECT, related_name="series")
    variable = models.CharField(max_length=100)
    units = models.CharField(max_length=100)
    long_name = models.CharField(max_length=300, blank=True)
    standard_name = models.CharField(max_length=200, blank=True)
    level = models.CharField(max_length=2, choices=DataLevel.choices, default=DataLevel.L0)
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    source = models.ForeignKey(SourceFile, on_delete=models.PROTECT, related_name="series")
    n_points = models.BigIntegerField(default=0)
    time_start = models.DateTimeField(null=True)
    time_end = models.DateTimeField(null=True)
    provenance = models.JSONField(default=dict, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(
                fields=["flight", "variable", "level", "version"], name="unique_series_version"
            ),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="series_version_gte_1"),
        ]
        indexes = [models.Index(fields=["flight", "variable", "is_current"])]

    def __str__(self) -> str:
        return f"{self.flight.identifier}/{self.variable} {self.level} v{self.version}"


class Segment(models.Model):
    """An immutable compressed columnar block of a series: ``time`` and ``value`` arrays."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="segments")
    index = models.PositiveIntegerField()
    time_start = models.DateTimeField(db_index=True)
    time_end = models.DateTimeField(db_index=True)
    n_points = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["series", "index"]
        constraints = [
            models.UniqueConstraint(fields=["series", "index"], name="unique_segment_index")
        ]

    def __str__(self) -> str:
        return f"segment {self.index} of {self.series} ({self.n_points} points)"


class QCRun(models.Model):
    """One QC run over a series: final flags (columnar) and how they were obtained."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="qc_runs")
    created_at = models.DateTimeField(auto_now_add=True)
    is_current = models.BooleanField(default=True)
    evaluation = models.CharField(max_length=100)
    thresholds = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True)
    flag_counts = models.JSONField(default=dict, blank=True)
    flags = models.BinaryField(help_text="columnar segment with a 'flag' column")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "QC run"

    def __str__(self) -> str:
        return f"QC of {self.series} ({self.evaluation})"


class QCTestResult(models.Model):
    """The per-point validity probabilities one QC test produced in a run."""

    run = models.ForeignKey(QCRun, on_delete=models.CASCADE, related_name="test_results")
    test = models.CharField(max_length=100)
    parameters = models.JSONField(default=dict, blank=True)
    version = models.CharField(max_length=50, blank=True)
    runtime_s = models.FloatField(default=0.0)
    probabilities = models.BinaryField(help_text="columnar segment with a 'p' column")

    class Meta:
        verbose_name = "QC test result"

    def __str__(self) -> str:
        return f"{self.test} in {self.run}"
