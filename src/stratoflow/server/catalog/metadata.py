"""Metadata import: a declarative YAML file describing the instrument catalog -> database.

The file lists, by section, the objects it describes; each is identified by its natural key
(a project's name, an aircraft's registration, a component's ``type/serial``...), never by a
database id, so the file can live in version control and be re-imported at will::

    projects:
      - {name: IAGOS, kind: infrastructure}
    aircraft:
      - {registration: D-AIGT, airline: Lufthansa, type: A340-300, platform: IAGOS-01,
         active_from: 2011-07-01T00:00:00Z}
    component_types:   [{name: P1 package, quantity: O3 and CO, units: "1"}]
    component_classes: [{name: instrument}, {name: sensor}]
    components:
      - {type: P1 package, class: instrument, serial: P1-001, status: operational}
    installations:     [{component: O3 sensor/S-7, parent: P1 package/P1-001, from: 2019-01-01}]
    deployments:       [{instrument: P1 package/P1-001, aircraft: D-AIGT, start: 2019-01-02}]
    calibrations:
      - component: P1 package/P1-001
        time: 2019-01-01T00:00:00Z
        function: linear
        parameters: {offset: {value: 0.5, units: "1e-9"}, slope: {value: 1.01, units: "1"}}

Importing is an upsert in one transaction: a new key is created, a known key whose fields
differ is updated, an identical one is left alone — so re-importing the same file changes
nothing, and every create or update is written to :class:`MetadataChange` (who, when, which
file and checksum, field -> [old, new]). Objects absent from the file are *not* deleted: a
catalog outlives the files that fed it, and removal is a deliberate act in the admin. The
rules of the catalog (no overlapping installations or deployments, no cycles) are checked by
the models' ``clean()``; a file that breaks one is rejected as a whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import models, transaction

from stratoflow.errors import CatalogError
from stratoflow.server.catalog.models import (
    Aircraft,
    Calibration,
    Campaign,
    Component,
    ComponentClass,
    ComponentType,
    Deployment,
    Installation,
    MeasurementLocation,
    MetadataChange,
    Platform,
    Project,
)

__all__ = ["MetadataReport", "metadata_import", "metadata_import_file"]

SECTIONS = (
    "projects",
    "campaigns",
    "aircraft",
    "locations",
    "component_types",
    "component_classes",
    "components",
    "installations",
    "deployments",
    "calibrations",
)


@dataclass
class MetadataReport:
    """What a metadata import did, per section: created, updated, unchanged counts."""

    source: str
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the import created or updated anything."""
        return bool(self.changes)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "source": self.source,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "changes": self.changes,
        }


def _instant(value: Any, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise CatalogError(f"{where}: {value!r} is not an ISO 8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _audit_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, models.Model):
        return str(getattr(value, "key", value))
    return value


class _Importer:
    def __init__(self, source: str, who: str) -> None:
        self.report = MetadataReport(source=source)
        self.who = who

    def upsert(
        self,
        model: type[models.Model],
        section: str,
        key: str,
        lookup: Mapping[str, Any],
        values: Mapping[str, Any],
    ) -> Any:
        obj = model._default_manager.filter(**lookup).first()
        if obj is None:
            obj = model(**lookup, **values)
            diff = {name: [None, _audit_value(v)] for name, v in {**lookup, **values}.items()}
            action = MetadataChange.Action.CREATE
        else:
            diff = {}
            for name, new in values.items():
                old = getattr(obj, name)
                if old != new:
                    diff[name] = [_audit_value(old), _audit_value(new)]
                    setattr(obj, name, new)
            if not diff:
                self.report.unchanged[section] = self.report.unchanged.get(section, 0) + 1
                return obj
            action = MetadataChange.Action.UPDATE
        try:
            obj.full_clean()
        except ValidationError as exc:
            raise CatalogError(f"{section} {key}: {'; '.join(exc.messages)}") from exc
        obj.save()
        counts = self.report.created if action == "create" else self.report.updated
        counts[section] = counts.get(section, 0) + 1
        MetadataChange.objects.create(
            who=self.who,
            source=self.report.source,
            model=model.__name__,
            key=key,
            action=action,
            changes=diff,
        )
        self.report.changes.append(
            {"action": str(action), "model": model.__name__, "key": key, "changes": diff}
        )
        return obj


def _get(model: type[models.Model], where: str, **lookup: Any) -> Any:
    obj = model._default_manager.filter(**lookup).first()
    if obj is None:
        wanted = ", ".join(f"{k}={v!r}" for k, v in lookup.items())
        raise CatalogError(f"{where}: unknown {model.__name__} ({wanted})")
    return obj


def _component(ref: Any, where: str) -> Component:
    type_name, sep, serial = str(ref or "").rpartition("/")
    if not sep or not type_name or not serial:
        raise CatalogError(f"{where}: component reference {ref!r} must be 'type/serial'")
    found: Component = _get(Component, where, component_type__name=type_name, serial_number=serial)
    return found


def _entries(doc: Mapping[str, Any], section: str) -> list[tuple[str, dict[str, Any]]]:
    raw = doc.get(section) or []
    if not isinstance(raw, list):
        raise CatalogError(f"section {section!r} must be a list")
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise CatalogError(f"{section}[{i}]: must be a mapping, got {entry!r}")
        out.append((f"{section}[{i}]", entry))
    return out


def _require(entry: Mapping[str, Any], name: str, where: str) -> Any:
    value = entry.get(name)
    if value is None or value == "":
        raise CatalogError(f"{where}: {name!r} is required")
    return value


def _check_keys(entry: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}; allowed {sorted(allowed)}")


def _projects(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in _entries(doc, "projects"):
        _check_keys(e, {"name", "kind", "description"}, where)
        name = str(_require(e, "name", where))
        values = {"kind": e.get("kind", "infrastructure"), "description": e.get("description", "")}
        imp.upsert(Project, "projects", name, {"name": name}, values)


def _campaigns(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in _entries(doc, "campaigns"):
        _check_keys(e, {"name", "project", "start", "end", "description"}, where)
        name = str(_require(e, "name", where))
        values = {
            "project": _get(Project, where, name=_require(e, "project", where)),
            "time_start": _instant(e.get("start"), where),
            "time_end": _instant(e.get("end"), where),
            "description": e.get("description", ""),
        }
        imp.upsert(Campaign, "campaigns", name, {"name": name}, values)


def _aircraft(imp: _Importer, doc: Mapping[str, Any]) -> None:
    allowed = {"registration", "airline", "type", "serial_number", "active_from", "active_to"}
    for where, e in _entries(doc, "aircraft"):
        _check_keys(e, allowed | {"platform", "project"}, where)
        reg = str(_require(e, "registration", where))
        platform = None
        if e.get("platform"):
            platform, _ = Platform.objects.get_or_create(name=str(e["platform"]))
        values = {
            "airline": str(e.get("airline", "")),
            "aircraft_type": str(e.get("type", "")),
            "serial_number": str(e.get("serial_number", "")),
            "active_from": _instant(e.get("active_from"), where),
            "active_to": _instant(e.get("active_to"), where),
            "platform": platform,
            "project": _get(Project, where, name=e["project"]) if e.get("project") else None,
        }
        imp.upsert(Aircraft, "aircraft", reg, {"registration": reg}, values)


def _locations(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in _entries(doc, "locations"):
        _check_keys(e, {"name", "aircraft", "description"}, where)
        name = str(_require(e, "name", where))
        aircraft = _get(Aircraft, where, registration=e["aircraft"]) if e.get("aircraft") else None
        key = f"{aircraft} {name}" if aircraft else name
        lookup = {"name": name, "aircraft": aircraft}
        imp.upsert(
            MeasurementLocation,
            "locations",
            key,
            lookup,
            {"description": e.get("description", "")},
        )


def _types_and_classes(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in _entries(doc, "component_types"):
        _check_keys(e, {"name", "quantity", "units", "description"}, where)
        name = str(_require(e, "name", where))
        values = {k: str(e.get(k, "")) for k in ("quantity", "units", "description")}
        imp.upsert(ComponentType, "component_types", name, {"name": name}, values)
    for where, e in _entries(doc, "component_classes"):
        _check_keys(e, {"name", "description"}, where)
        name = str(_require(e, "name", where))
        values = {"description": str(e.get("description", ""))}
        imp.upsert(ComponentClass, "component_classes", name, {"name": name}, values)


def _components(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in _entries(doc, "components"):
        _check_keys(e, {"type", "class", "serial", "name", "status", "notes"}, where)
        ctype = _get(ComponentType, where, name=_require(e, "type", where))
        serial = str(_require(e, "serial", where))
        values = {
            "component_class": _get(ComponentClass, where, name=_require(e, "class", where)),
            "name": str(e.get("name", "")),
            "status": str(e.get("status", Component.Status.OPERATIONAL)),
            "notes": str(e.get("notes", "")),
        }
        key = f"{ctype.name}/{serial}"
        lookup = {"component_type": ctype, "serial_number": serial}
        imp.upsert(Component, "components", key, lookup, values)


def _installations(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in _entries(doc, "installations"):
        _check_keys(e, {"component", "parent", "from", "to"}, where)
        comp = _component(e.get("component"), where)
        start = _instant(_require(e, "from", where), where)
        values = {
            "parent": _component(e.get("parent"), where),
            "installed_to": _instant(e.get("to"), where),
        }
        key = f"{comp.key}@{_audit_value(start)}"
        lookup = {"component": comp, "installed_from": start}
        imp.upsert(Installation, "installations", key, lookup, values)


def _deployments(imp: _Importer, doc: Mapping[str, Any]) -> None:
    allowed = {"instrument", "aircraft", "location", "campaign", "start", "end"}
    for where, e in _entries(doc, "deployments"):
        _check_keys(e, allowed, where)
        inst = _component(e.get("instrument"), where)
        aircraft = _get(Aircraft, where, registration=_require(e, "aircraft", where))
        start = _instant(_require(e, "start", where), where)
        location = None
        if e.get("location"):
            location = _get(MeasurementLocation, where, name=e["location"], aircraft=aircraft)
        values = {
            "aircraft": aircraft,
            "location": location,
            "campaign": _get(Campaign, where, name=e["campaign"]) if e.get("campaign") else None,
            "time_end": _instant(e.get("end"), where),
        }
        key = f"{inst.key}@{_audit_value(start)}"
        lookup = {"instrument": inst, "time_start": start}
        imp.upsert(Deployment, "deployments", key, lookup, values)


def _calibrations(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in _entries(doc, "calibrations"):
        _check_keys(e, {"component", "time", "function", "parameters", "notes"}, where)
        comp = _component(e.get("component"), where)
        when = _instant(_require(e, "time", where), where)
        values = {
            "function": str(_require(e, "function", where)),
            "parameters": dict(e.get("parameters") or {}),
            "notes": str(e.get("notes", "")),
        }
        key = f"{comp.key}@{_audit_value(when)}"
        imp.upsert(Calibration, "calibrations", key, {"component": comp, "time": when}, values)


_STEPS: tuple[Callable[[_Importer, Mapping[str, Any]], None], ...] = (
    _projects,
    _campaigns,
    _aircraft,
    _locations,
    _types_and_classes,
    _components,
    _installations,
    _deployments,
    _calibrations,
)


def metadata_import(doc: Mapping[str, Any], *, source: str, who: str) -> MetadataReport:
    """Upsert the catalog described by ``doc`` (a parsed metadata file), atomically."""
    if not isinstance(doc, Mapping):
        raise CatalogError(f"{source}: a metadata file must be a mapping of sections")
    unknown = set(doc) - set(SECTIONS)
    if unknown:
        raise CatalogError(f"{source}: unknown section(s) {sorted(unknown)}; known {SECTIONS}")
    imp = _Importer(source, who)
    try:
        with transaction.atomic():
            for step in _STEPS:
                step(imp, doc)
    except CatalogError as exc:
        raise CatalogError(f"{source}: {exc}") from exc
    return imp.report


def metadata_import_file(path: Path, *, who: str, identity: str | None = None) -> MetadataReport:
    """Import a YAML metadata file; the audit trail names it and its checksum."""
    try:
        raw = path.read_bytes()
        doc = yaml.safe_load(raw) or {}
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read metadata file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
    checksum = hashlib.sha256(raw).hexdigest()
    return metadata_import(doc, source=f"{identity or path.name}@{checksum[:12]}", who=who)
