"""Export records: enough to reproduce every exported file and to recognise a new version.

An :class:`ExportRecord` is written for every file the exporter produces, by the command line
or by a job's export manager. It keeps the selection, the exact version of every series (and
of the QC run whose flags went out), the writer and its options, and the file's name and
SHA-256. Its ``fingerprint`` is the SHA-256 of all that *except* the file bytes (netCDF files
carry their creation time, so bytes differ between identical exports): the same fingerprint
means the same content. ``version`` counts distinct fingerprints per subject and format, so a
re-export after reprocessing is version 2, while exporting the same data again keeps 1.

A record is only ``delivered`` once the transfer handler confirmed the upload; a failed upload
leaves it ``failed`` with the error.

An :class:`ExportVersion` row is the number a content was given: one per subject, format and
fingerprint, and each number once per subject and format. The database enforces both, so two
exports of different contents running at once (two workers, the command line beside a job)
cannot both become version 2 and write the same file name; records of the same content share
their version's number.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from stratoflow.server.catalog.models import Flight, Series
from stratoflow.server.workflow.models import Task, TransferHandler

__all__ = ["ExportRecord", "ExportVersion"]


class ExportRecord(models.Model):
    """One exported file: what it holds, how it was made, where it went."""

    class State(models.TextChoices):
        WRITTEN = "written"
        #: an attempt began uploading it; whether it arrived is unknown until it says so
        UPLOADING = "uploading"
        DELIVERED = "delivered"
        FAILED = "failed"

    subject = models.CharField(max_length=200, help_text="what was exported, e.g. the flight")
    flight = models.ForeignKey(
        Flight, null=True, blank=True, on_delete=models.PROTECT, related_name="exports"
    )
    format = models.CharField(max_length=50, help_text="export format name, e.g. netcdf")
    fingerprint = models.CharField(
        max_length=64, db_index=True, help_text="SHA-256 of selection, versions and writer"
    )
    version = models.PositiveIntegerField(help_text="n-th distinct content of subject+format")
    selection = models.JSONField(default=dict, blank=True)
    series_versions = models.JSONField(
        default=list, blank=True, help_text="id, variable, level, version, QC run of each series"
    )
    series = models.ManyToManyField(Series, related_name="exports", blank=True)
    writer = models.CharField(max_length=100)
    writer_options = models.JSONField(default=dict, blank=True)
    processing = models.JSONField(
        default=dict, blank=True, help_text="resampling and aggregation options"
    )
    file_name = models.CharField(max_length=300)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField(default=0)
    points = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    requested_by = models.CharField(
        max_length=200, blank=True, help_text="job/manager or operating-system user"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="exports"
    )
    transfer = models.ForeignKey(
        TransferHandler, null=True, blank=True, on_delete=models.PROTECT, related_name="exports"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.WRITTEN)
    remote = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subject", "format", "version"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(version__gte=1), name="export_version_gte_1"),
            models.CheckConstraint(
                condition=~models.Q(state="delivered") | models.Q(delivered_at__isnull=False),
                name="export_delivered_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.subject} {self.format} v{self.version}, {self.state})"


class ExportVersion(models.Model):
    """The version number of one content (fingerprint) of a subject in a format.

    Claimed in a short transaction of its own before the file of that content is written,
    and held (locked) while the file is linked into place and recorded
    (:func:`stratoflow.exporters.export.export_one`); the unique constraints make a
    concurrent claim of the same number fail, so the loser takes the next number instead of
    sharing it. An export that fails releases its claim; one killed outright leaves it to
    the next export of the same content.
    """

    subject = models.CharField(max_length=200)
    format = models.CharField(max_length=50)
    fingerprint = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "format", "fingerprint"], name="export_one_version_per_content"
            ),
            models.UniqueConstraint(
                fields=["subject", "format", "version"], name="export_version_names_one_content"
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="export_version_number_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.format} v{self.version} ({self.fingerprint[:12]})"
