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

The same content may come as an ``.xlsx`` workbook (one sheet per section, row 1 the field
names) or a folder of CSV files: :mod:`stratoflow.server.catalog.spreadsheet` turns it into the
very mapping the YAML loader returns, and :func:`metadata_import` takes it from there, so there
is one set of rules, one upsert and one audit trail whatever the file format. The format is
told by the content (:func:`metadata_import_file`); :data:`FIELDS` and :data:`REQUIRED` are the
schema both front ends check against.
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
from stratoflow.plain_yaml import load_plain_yaml, yaml_problem
from stratoflow.server.catalog.metadata_schema import FIELDS, REQUIRED, SECTIONS
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
    Project,
)
from stratoflow.server.catalog.services import platform_get_or_create

__all__ = [
    "FIELDS",
    "REQUIRED",
    "SECTIONS",
    "Locate",
    "MetadataReport",
    "metadata_import",
    "metadata_import_file",
]

#: ``locate(section, index, field)`` -> where an entry (and one of its fields) came from, for
#: error messages: ``deployments[3]`` for YAML, ``sheet deployments, row 5, column start`` for a
#: workbook.
Locate = Callable[[str, int, "str | None"], str]


def _yaml_locate(section: str, index: int, field: str | None) -> str:
    return f"{section}[{index}]"


class _Where:
    """The position of one entry, rendered by the front end's :data:`Locate`."""

    __slots__ = ("_locate", "index", "section")

    def __init__(self, section: str, index: int, locate: Locate) -> None:
        self.section, self.index, self._locate = section, index, locate

    def __str__(self) -> str:
        return self._locate(self.section, self.index, None)

    def at(self, field: str) -> str:
        """The position of one field of the entry (a sheet's cell; the entry in YAML)."""
        return self._locate(self.section, self.index, field)


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
    def __init__(self, source: str, who: str, locate: Locate) -> None:
        self.report = MetadataReport(source=source)
        self.who = who
        self.locate = locate

    def entries(self, doc: Mapping[str, Any], section: str) -> list[tuple[_Where, dict[str, Any]]]:
        """The entries of one section, each with its position for error messages."""
        raw = doc.get(section) or []
        if not isinstance(raw, list):
            raise CatalogError(f"section {section!r} must be a list")
        out = []
        for i, entry in enumerate(raw):
            where = _Where(section, i, self.locate)
            if not isinstance(entry, dict):
                raise CatalogError(f"{where}: must be a mapping, got {entry!r}")
            _check_keys(entry, set(FIELDS[section]), where)
            out.append((where, entry))
        return out

    def upsert(
        self,
        model: type[models.Model],
        where: _Where,
        key: str,
        lookup: Mapping[str, Any],
        values: Mapping[str, Any],
    ) -> Any:
        section = where.section
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
            raise CatalogError(f"{where}: {section} {key}: {'; '.join(exc.messages)}") from exc
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


def _require(entry: Mapping[str, Any], name: str, where: _Where) -> Any:
    value = entry.get(name)
    if value is None or value == "":
        raise CatalogError(f"{where.at(name)}: {name!r} is required")
    return value


def _check_keys(entry: Mapping[str, Any], allowed: set[str], where: _Where) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}; allowed {sorted(allowed)}")


def _projects(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in imp.entries(doc, "projects"):
        name = str(_require(e, "name", where))
        values = {"kind": e.get("kind", "infrastructure"), "description": e.get("description", "")}
        imp.upsert(Project, where, name, {"name": name}, values)


def _campaigns(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in imp.entries(doc, "campaigns"):
        name = str(_require(e, "name", where))
        values = {
            "project": _get(Project, where.at("project"), name=_require(e, "project", where)),
            "time_start": _instant(e.get("start"), where.at("start")),
            "time_end": _instant(e.get("end"), where.at("end")),
            "description": e.get("description", ""),
        }
        imp.upsert(Campaign, where, name, {"name": name}, values)


def _aircraft(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in imp.entries(doc, "aircraft"):
        reg = str(_require(e, "registration", where))
        platform = None
        if e.get("platform"):
            platform = platform_get_or_create(str(e["platform"]))
        project = None
        if e.get("project"):
            project = _get(Project, where.at("project"), name=e["project"])
        values = {
            "airline": str(e.get("airline", "")),
            "aircraft_type": str(e.get("type", "")),
            "serial_number": str(e.get("serial_number", "")),
            "active_from": _instant(e.get("active_from"), where.at("active_from")),
            "active_to": _instant(e.get("active_to"), where.at("active_to")),
            "platform": platform,
            "project": project,
        }
        imp.upsert(Aircraft, where, reg, {"registration": reg}, values)


def _locations(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in imp.entries(doc, "locations"):
        name = str(_require(e, "name", where))
        aircraft = None
        if e.get("aircraft"):
            aircraft = _get(Aircraft, where.at("aircraft"), registration=e["aircraft"])
        key = f"{aircraft} {name}" if aircraft else name
        lookup = {"name": name, "aircraft": aircraft}
        values = {"description": e.get("description", "")}
        imp.upsert(MeasurementLocation, where, key, lookup, values)


def _types_and_classes(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in imp.entries(doc, "component_types"):
        name = str(_require(e, "name", where))
        values = {k: str(e.get(k, "")) for k in ("quantity", "units", "description")}
        imp.upsert(ComponentType, where, name, {"name": name}, values)
    for where, e in imp.entries(doc, "component_classes"):
        name = str(_require(e, "name", where))
        values = {"description": str(e.get("description", ""))}
        imp.upsert(ComponentClass, where, name, {"name": name}, values)


def _components(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in imp.entries(doc, "components"):
        ctype = _get(ComponentType, where.at("type"), name=_require(e, "type", where))
        serial = str(_require(e, "serial", where))
        values = {
            "component_class": _get(
                ComponentClass, where.at("class"), name=_require(e, "class", where)
            ),
            "name": str(e.get("name", "")),
            "status": str(e.get("status", Component.Status.OPERATIONAL)),
            "notes": str(e.get("notes", "")),
        }
        key = f"{ctype.name}/{serial}"
        lookup = {"component_type": ctype, "serial_number": serial}
        imp.upsert(Component, where, key, lookup, values)


def _installations(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in imp.entries(doc, "installations"):
        comp = _component(e.get("component"), where.at("component"))
        start = _instant(_require(e, "from", where), where.at("from"))
        values = {
            "parent": _component(e.get("parent"), where.at("parent")),
            "installed_to": _instant(e.get("to"), where.at("to")),
        }
        key = f"{comp.key}@{_audit_value(start)}"
        lookup = {"component": comp, "installed_from": start}
        imp.upsert(Installation, where, key, lookup, values)


def _deployments(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in imp.entries(doc, "deployments"):
        inst = _component(e.get("instrument"), where.at("instrument"))
        aircraft = _get(Aircraft, where.at("aircraft"), registration=_require(e, "aircraft", where))
        start = _instant(_require(e, "start", where), where.at("start"))
        location = None
        if e.get("location"):
            location = _get(
                MeasurementLocation, where.at("location"), name=e["location"], aircraft=aircraft
            )
        campaign = None
        if e.get("campaign"):
            campaign = _get(Campaign, where.at("campaign"), name=e["campaign"])
        values = {
            "aircraft": aircraft,
            "location": location,
            "campaign": campaign,
            "time_end": _instant(e.get("end"), where.at("end")),
        }
        key = f"{inst.key}@{_audit_value(start)}"
        lookup = {"instrument": inst, "time_start": start}
        imp.upsert(Deployment, where, key, lookup, values)


def _calibrations(imp: _Importer, doc: Mapping[str, Any]) -> None:
    for where, e in imp.entries(doc, "calibrations"):
        comp = _component(e.get("component"), where.at("component"))
        when = _instant(_require(e, "time", where), where.at("time"))
        values = {
            "function": str(_require(e, "function", where)),
            "parameters": dict(e.get("parameters") or {}),
            "notes": str(e.get("notes", "")),
        }
        key = f"{comp.key}@{_audit_value(when)}"
        imp.upsert(Calibration, where, key, {"component": comp, "time": when}, values)


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


def metadata_import(
    doc: Mapping[str, Any],
    *,
    source: str,
    who: str,
    locate: Locate | None = None,
    name: str | None = None,
) -> MetadataReport:
    """Upsert the catalog described by ``doc`` (a parsed metadata file), atomically.

    ``doc`` is plain data, whatever file it came from: the YAML loader and the spreadsheet
    front end both produce it, so validation, upsert and audit are one code path. ``source``
    (file and checksum) goes into the audit trail; ``name`` (default ``source``) prefixes error
    messages and ``locate`` says where an entry sits in the file (default: ``section[i]``).
    """
    label = name or source
    if not isinstance(doc, Mapping):
        raise CatalogError(f"{label}: a metadata file must be a mapping of sections")
    unknown = set(doc) - set(SECTIONS)
    if unknown:
        raise CatalogError(f"{label}: unknown section(s) {sorted(unknown)}; known {SECTIONS}")
    imp = _Importer(source, who, locate or _yaml_locate)
    try:
        with transaction.atomic():
            for step in _STEPS:
                step(imp, doc)
    except CatalogError as exc:
        raise CatalogError(f"{label}: {exc}") from exc
    return imp.report


#: Leading bytes of the file formats a metadata file may be in besides YAML.
_ZIP_MAGIC = b"PK\x03\x04"  # .xlsx (and .ods, which is refused with advice)
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy binary .xls
_WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}


def _is_workbook(raw: bytes, name: str) -> bool:
    """A workbook by its bytes (what the file is), else by its suffix (what it claims to be)."""
    if raw.startswith((_ZIP_MAGIC, _OLE2_MAGIC)):
        return True
    return Path(name).suffix.lower() in _WORKBOOK_SUFFIXES


def metadata_import_file(path: Path, *, who: str, identity: str | None = None) -> MetadataReport:
    """Import a metadata file (YAML, an ``.xlsx`` workbook or a folder of CSV files).

    The format is recognised from the content (a workbook is a zip file), then the name, so a
    job's staged file and a file given by hand are treated alike. The audit trail names the
    file (``identity``, default its name) and the SHA-256 of its bytes.
    """
    label = identity or path.name
    if path.is_dir():
        from stratoflow.server.catalog.spreadsheet import read_csv_folder

        table = read_csv_folder(path, name=label)
        source = f"{label}@{table.checksum[:12]}"
        return metadata_import(table.doc, source=source, who=who, locate=table.locate, name=label)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read metadata file: {exc.strerror}") from exc
    checksum = hashlib.sha256(raw).hexdigest()
    source = f"{label}@{checksum[:12]}"
    if _is_workbook(raw, label):
        from stratoflow.server.catalog.spreadsheet import read_workbook

        book = read_workbook(raw, name=label)
        return metadata_import(book.doc, source=source, who=who, locate=book.locate, name=label)
    try:
        doc = load_plain_yaml(raw) or {}
        if isinstance(doc, dict):  # checked safe above: the same document, scalars as text
            doc = _text_as_written(doc, yaml.load(raw, Loader=yaml.BaseLoader))
    except yaml.YAMLError as exc:  # one line (PyYAML's own message spans several)
        raise CatalogError(f"{path}: metadata: {yaml_problem(exc)}") from exc
    return metadata_import(doc, source=source, who=who)


def _text_as_written(doc: dict[str, Any], written: Any) -> dict[str, Any]:
    """``doc`` with its text fields as the file spells them, not as YAML 1.1 reads them.

    Unquoted, a serial number ``0354`` is the octal number 236, ``007`` is 7, ``0x1F`` 31,
    ``12:30`` 750 and ``no`` False: the catalog got a component the data files' instrument
    references never name (or, worse, another component's serial). ``written`` is the same
    document loaded with every scalar as a string; fields of kind ``text`` take their value
    from it wherever YAML made something else of them.
    """
    out = dict(doc)
    for section, kinds in FIELDS.items():
        entries, texts = doc.get(section), (written or {}).get(section)
        if not isinstance(entries, list) or not isinstance(texts, list):
            continue
        fixed: list[Any] = []
        for entry, text in zip(entries, texts, strict=False):  # same document: same lengths
            if isinstance(entry, dict) and isinstance(text, dict):
                entry = {  # a value from a merge key (<<) is not in ``text``: kept as read
                    key: text[key]
                    if kinds.get(key) == "text"
                    and not isinstance(value, str | None)
                    and isinstance(text.get(key), str)
                    else value
                    for key, value in entry.items()
                }
            fixed.append(entry)
        out[section] = fixed
    return out
