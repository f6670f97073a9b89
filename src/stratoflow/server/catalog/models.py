"""Catalog models.

Values are never stored one row per point: a :class:`Series` owns immutable, compressed
columnar :class:`Segment` rows (see :mod:`stratoflow.store.segments`), one per imported source,
each with its time range indexed. QC results are stored the same way, per :class:`QCRun`.
Re-processing creates a new version of a series; old versions stay (``is_current`` moves).

The instrument catalog describes what measured a series: a :class:`Component` (an instrument,
unit, sensor, CPU...) of a :class:`ComponentType` and :class:`ComponentClass`, installed in a
parent component for a period (:class:`Installation`, the instrument tree), deployed on an
:class:`Aircraft` at a :class:`MeasurementLocation` for a period (:class:`Deployment`) and
calibrated at points in time (:class:`Calibration`). Periods are half-open ``[from, to)``;
``to`` empty means "still". Overlap rules live in ``clean()`` so the admin enforces them, and
the services call ``full_clean()`` before saving.

A :class:`QCConfiguration` is a named, admin-editable QC configuration (YAML) that jobs refer
to by name; every saved text is kept as a :class:`QCConfigurationVersion`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import BaseConstraint

from stratoflow.flights import platform_key

__all__ = [
    "Aircraft",
    "Calibration",
    "Campaign",
    "Component",
    "ComponentClass",
    "ComponentType",
    "DataLevel",
    "Deployment",
    "Flight",
    "Installation",
    "MeasurementLocation",
    "MetadataChange",
    "Platform",
    "Project",
    "QCConfiguration",
    "QCConfigurationVersion",
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

    class Kind(models.TextChoices):
        INFRASTRUCTURE = "infrastructure"
        FUNDED = "funded", "funded project"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.INFRASTRUCTURE)
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


def _overlaps(
    start: datetime, end: datetime | None, other_start: datetime, other_end: datetime | None
) -> bool:
    """Whether half-open periods ``[start, end)`` and ``[other_start, other_end)`` overlap."""
    return (other_end is None or start < other_end) and (end is None or other_start < end)


def _check_period(start: datetime | None, end: datetime | None, what: str) -> None:
    if start is not None and end is not None and end <= start:
        raise ValidationError(f"{what}: end {end.isoformat()} is not after start")


class Campaign(models.Model):
    """A measurement campaign of a project (a period, possibly with several aircraft)."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=200, unique=True)
    time_start = models.DateTimeField(null=True, blank=True)
    time_end = models.DateTimeField(null=True, blank=True)
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        _check_period(self.time_start, self.time_end, f"campaign {self.name}")


class Platform(models.Model):
    """A measurement platform: an aircraft (registration) or a station.

    ``key`` is the canonical key of the name (:func:`stratoflow.flights.platform_key`), kept
    by :meth:`save` and unique, so that two spellings of one platform (``NASA B200
    Aircraft``, ``NASA B-200 Aircraft``) cannot become two rows, not even by two imports at
    once. It is empty (NULL) for a name without letters or digits, and for the rows that
    migration ``catalog/0007_platform_merge`` could not merge into the oldest row of their key
    (see :func:`~stratoflow.server.catalog.platforms.platform_merge`).
    """

    name = models.CharField(max_length=100, unique=True, help_text="e.g. D-AIGT or IAGOS-01")
    # NULL, not "": several rows may lack a key, and NULLs never collide in a unique index
    key = models.TextField(  # noqa: DJ001
        null=True, unique=True, editable=False, help_text="canonical key of the name"
    )
    description = models.TextField(blank=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.PROTECT)

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.key = platform_key(self.name) or None
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = {*update_fields, "key"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        key = platform_key(self.name) or None
        other = Platform.objects.filter(key=key).exclude(pk=self.pk).first() if key else None
        if other is not None:
            raise ValidationError(
                {
                    "name": f"{self.name!r} is another spelling of platform {other.name!r} "
                    f"(#{other.pk}); use that one, or merge this platform into it (admin "
                    "action 'Merge into the platform of the same key')"
                }
            )


class Aircraft(models.Model):
    """An aircraft carrying instruments: who flies it, what it is, when it was in service.

    ``platform`` links it to the platform name data files use (e.g. ``IAGOS-01``).
    """

    registration = models.CharField(max_length=20, unique=True, help_text="e.g. D-AIGT")
    airline = models.CharField(max_length=100, blank=True)
    aircraft_type = models.CharField(max_length=100, blank=True, help_text="e.g. Airbus A340-300")
    serial_number = models.CharField(max_length=50, blank=True, help_text="manufacturer serial")
    active_from = models.DateTimeField(null=True, blank=True)
    active_to = models.DateTimeField(null=True, blank=True)
    platform = models.OneToOneField(
        Platform, null=True, blank=True, on_delete=models.SET_NULL, related_name="aircraft"
    )
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.PROTECT)

    class Meta:
        verbose_name_plural = "aircraft"

    def __str__(self) -> str:
        return self.registration

    def clean(self) -> None:
        _check_period(self.active_from, self.active_to, f"aircraft {self.registration}")


class MeasurementLocation(models.Model):
    """Where on an aircraft (or at a site) an instrument is mounted, e.g. 'avionics bay'."""

    name = models.CharField(max_length=100)
    aircraft = models.ForeignKey(
        Aircraft, null=True, blank=True, on_delete=models.CASCADE, related_name="locations"
    )
    description = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["aircraft", "name"], name="unique_location_name")
        ]

    def __str__(self) -> str:
        return f"{self.aircraft} {self.name}" if self.aircraft else self.name


class ComponentType(models.Model):
    """What a component is or measures, e.g. 'O3 UV photometer' (quantity 'ozone')."""

    name = models.CharField(max_length=100, unique=True)
    quantity = models.CharField(max_length=100, blank=True, help_text="what it measures")
    units = models.CharField(max_length=50, blank=True, help_text="UDUNITS of its output")
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class ComponentClass(models.Model):
    """The role of a component in an instrument tree: instrument, unit, sensor, CPU..."""

    name = models.CharField(max_length=50, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "component classes"

    def __str__(self) -> str:
        return self.name


class Component(models.Model):
    """One physical thing with a serial number; a root component is an instrument."""

    class Status(models.TextChoices):
        OPERATIONAL = "operational"
        DEFECTIVE = "defective"
        IN_REPAIR = "in_repair", "in repair"
        RETIRED = "retired"

    component_type = models.ForeignKey(ComponentType, on_delete=models.PROTECT)
    component_class = models.ForeignKey(ComponentClass, on_delete=models.PROTECT)
    serial_number = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPERATIONAL)
    notes = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["component_type", "serial_number"], name="unique_component_serial"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.key

    @property
    def key(self) -> str:
        """Natural key used by metadata files: ``type/serial``."""
        return f"{self.component_type.name}/{self.serial_number}"


class Installation(models.Model):
    """A component installed in a parent component from ``installed_from`` to ``installed_to``.

    A component sits in at most one parent at a time, and never inside itself or its own parts.
    """

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="installations")
    parent = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="parts")
    installed_from = models.DateTimeField()
    installed_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["component", "installed_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["component", "installed_from"], name="unique_installation_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.component} in {self.parent} from {self.installed_from:%Y-%m-%d}"

    def clean(self) -> None:
        what = f"installation of {self.component} in {self.parent}"
        _check_period(self.installed_from, self.installed_to, what)
        if self.component_id == self.parent_id:
            raise ValidationError(f"{what}: a component cannot be installed in itself")
        others = Installation.objects.filter(component_id=self.component_id).exclude(pk=self.pk)
        for other in others:
            if _overlaps(
                self.installed_from, self.installed_to, other.installed_from, other.installed_to
            ):
                raise ValidationError(
                    f"{what}: overlaps its installation in {other.parent} from "
                    f"{other.installed_from.isoformat()}"
                )
        # no cycles: the parent must not be (at any time) below the component
        seen, frontier = {self.component_id}, [self.component_id]
        while frontier:
            below = set(
                Installation.objects.filter(parent_id__in=frontier).values_list(
                    "component_id", flat=True
                )
            )
            if self.parent_id in below:
                raise ValidationError(f"{what}: the parent is a part of the component (cycle)")
            frontier = list(below - seen)
            seen |= below


class Deployment(models.Model):
    """Which instrument flew on which aircraft, at which location, from when to when."""

    instrument = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="deployments")
    aircraft = models.ForeignKey(Aircraft, on_delete=models.PROTECT, related_name="deployments")
    location = models.ForeignKey(
        MeasurementLocation, null=True, blank=True, on_delete=models.PROTECT
    )
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT)
    time_start = models.DateTimeField()
    time_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["instrument", "time_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "time_start"], name="unique_deployment_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instrument} on {self.aircraft} from {self.time_start:%Y-%m-%d}"

    def clean(self) -> None:
        what = f"deployment of {self.instrument} on {self.aircraft}"
        _check_period(self.time_start, self.time_end, what)
        for other in Deployment.objects.filter(instrument_id=self.instrument_id).exclude(
            pk=self.pk
        ):
            if _overlaps(self.time_start, self.time_end, other.time_start, other.time_end):
                raise ValidationError(
                    f"{what}: overlaps its deployment on {other.aircraft} from "
                    f"{other.time_start.isoformat()}"
                )


class Calibration(models.Model):
    """A calibration of a component at ``time``: a function type and its parameters.

    ``parameters`` maps a coefficient name to ``{"value": number, "units": "UDUNITS"}``; the
    function type says how they apply (see :mod:`stratoflow.processing.calibration`).
    """

    class Function(models.TextChoices):
        LINEAR = "linear", "linear: offset + slope * x"
        POLYNOMIAL = "polynomial", "polynomial: c0 + c1 x + c2 x^2 ..."
        FACTOR = "factor", "factor: factor * x"

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="calibrations")
    time = models.DateTimeField()
    function = models.CharField(max_length=20, choices=Function.choices)
    parameters = models.JSONField(default=dict)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["component", "time"]
        constraints = [
            models.UniqueConstraint(fields=["component", "time"], name="unique_calibration_time")
        ]

    def __str__(self) -> str:
        return f"{self.component} calibrated {self.time:%Y-%m-%d %H:%M} ({self.function})"

    def clean(self) -> None:
        if not isinstance(self.parameters, dict):
            raise ValidationError(f"calibration of {self.component}: parameters must be a map")
        for name, spec in self.parameters.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("value"), int | float):
                raise ValidationError(
                    f"calibration of {self.component}: parameter {name!r} needs a numeric "
                    "'value' (and 'units')"
                )


class MetadataChange(models.Model):
    """Audit trail of the metadata import: who changed what in the catalog, when, from where."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"

    at = models.DateTimeField(auto_now_add=True)
    who = models.CharField(max_length=150)
    source = models.CharField(max_length=500, help_text="metadata file and its checksum")
    model = models.CharField(max_length=50)
    key = models.CharField(max_length=300, help_text="natural key of the changed object")
    action = models.CharField(max_length=10, choices=Action.choices)
    changes = models.JSONField(default=dict, help_text="field -> [old, new]")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.model} {self.key} by {self.who}"


class Flight(models.Model):
    """One flight (or measurement period) of a platform."""

    identifier = models.CharField(max_length=100, unique=True)
    platform = models.ForeignKey(Platform, null=True, blank=True, on_delete=models.PROTECT)
    # as the file names the airport: IAGOS writes "FRA, Frankfurt, Germany", not a bare code
    departure_airport = models.CharField(max_length=200, blank=True)
    arrival_airport = models.CharField(max_length=200, blank=True)
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
    checksum = models.CharField(
        max_length=64, db_index=True, help_text="SHA-256 of the bytes"
    )  # indexed: an import looks for the same bytes under another name
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
    instrument = models.ForeignKey(
        Component, null=True, blank=True, on_delete=models.PROTECT, related_name="series"
    )
    component = models.ForeignKey(
        Component,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="component_series",
        help_text="the sensor/unit that measured it, if more specific than the instrument",
    )
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.PROTECT, related_name="series"
    )
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


#: Names of stored QC configurations: no ``/`` (never confused with a file path) and no ``@``
#: (``name@3`` pins version 3).
QC_CONFIGURATION_NAME = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    "letters, digits, '_', '.', '-' (no '/', '@' or spaces), starting with a letter or digit",
)


class QCConfiguration(models.Model):
    """A named per-variable QC configuration (YAML, see :mod:`stratoflow.qc.config`).

    Jobs name it (``options: {qc: {config: NAME}}``) instead of embedding YAML, so a PI can
    tighten a limit in the admin and every later import uses it. Every saved text is kept as
    a :class:`QCConfigurationVersion`; QC runs record the version they used. Saving goes
    through :func:`~stratoflow.server.catalog.qc_configurations.qc_configuration_save`, which
    numbers versions; ``clean()`` validates the YAML with the QC schema.
    """

    name = models.CharField(
        max_length=100,
        unique=True,
        validators=[QC_CONFIGURATION_NAME],
        help_text='how jobs refer to it: options {"qc": {"config": "<name>"}}',
    )
    description = models.TextField(blank=True)
    text = models.TextField(
        help_text="YAML: profiles of variables and their tests (see stratoflow.qc.config)"
    )
    is_default = models.BooleanField(
        default=False, help_text="used by QC runs that name no configuration (at most one)"
    )
    version = models.PositiveIntegerField(default=0, editable=False)
    checksum = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the text")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "QC configuration"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_qc_configuration",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def get_constraints(self) -> list[tuple[type[models.Model], Sequence[BaseConstraint]]]:
        """Marking a new default is allowed: the save service moves the mark from the old
        default (the database still guarantees a single default)."""
        return [
            (model, [c for c in found if c.name != "one_default_qc_configuration"])
            for model, found in super().get_constraints()
        ]

    def clean(self) -> None:
        """The text must be a valid QC configuration; the error names the configuration,
        the line and column, and the offending key."""
        from stratoflow.errors import QCConfigError
        from stratoflow.server.catalog.qc_configurations import qc_source, qc_text_parse

        try:
            qc_text_parse(self.text, qc_source(self.name))
        except QCConfigError as exc:
            raise ValidationError({"text": str(exc)}) from exc


class QCConfigurationVersion(models.Model):
    """One saved text of a :class:`QCConfiguration`, immutable.

    Kept when its configuration is deleted (``configuration`` becomes empty, ``name`` stays), so
    a QC run's recorded version always leads to the exact text it ran with.
    """

    configuration = models.ForeignKey(
        QCConfiguration,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="versions",
    )
    name = models.CharField(max_length=100, help_text="name of the configuration when saved")
    version = models.PositiveIntegerField()
    text = models.TextField()
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the text")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    comment = models.CharField(max_length=300, blank=True, help_text="why it was changed")

    class Meta:
        ordering = ["name", "-version"]
        verbose_name = "QC configuration version"
        constraints = [
            models.UniqueConstraint(
                fields=["configuration", "version"], name="unique_qc_configuration_version"
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="qc_configuration_version_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
