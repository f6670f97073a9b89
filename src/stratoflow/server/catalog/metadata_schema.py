"""The schema of a metadata file: its sections, their fields, and the fields they require.

Kept apart from :mod:`stratoflow.server.catalog.metadata` (which needs Django and the database)
so that the spreadsheet front end can check a workbook, or write an empty template, without
either. Both front ends check against these tables, so a field known to one is known to the
other.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["FIELDS", "REQUIRED", "SECTIONS", "FieldKind"]

FieldKind = Literal["text", "time", "mapping"]

#: The fields each section accepts, in the order a template lists them, and what each holds:
#: ``text`` (names, references ``type/serial``), ``time`` (ISO 8601; UTC unless an offset is
#: given) or ``mapping`` (calibration parameters). The YAML checks and the spreadsheet front
#: end (:mod:`stratoflow.server.catalog.spreadsheet`) read the same table, so a field known
#: to one is known to the other.
FIELDS: dict[str, dict[str, FieldKind]] = {
    "projects": {"name": "text", "kind": "text", "description": "text"},
    "campaigns": {
        "name": "text",
        "project": "text",
        "start": "time",
        "end": "time",
        "description": "text",
    },
    "aircraft": {
        "registration": "text",
        "airline": "text",
        "type": "text",
        "serial_number": "text",
        "platform": "text",
        "project": "text",
        "active_from": "time",
        "active_to": "time",
    },
    "locations": {"name": "text", "aircraft": "text", "description": "text"},
    "component_types": {"name": "text", "quantity": "text", "units": "text", "description": "text"},
    "component_classes": {"name": "text", "description": "text"},
    "components": {
        "type": "text",
        "class": "text",
        "serial": "text",
        "name": "text",
        "status": "text",
        "notes": "text",
    },
    "installations": {"component": "text", "parent": "text", "from": "time", "to": "time"},
    "deployments": {
        "instrument": "text",
        "aircraft": "text",
        "start": "time",
        "end": "time",
        "location": "text",
        "campaign": "text",
    },
    "calibrations": {
        "component": "text",
        "time": "time",
        "function": "text",
        "parameters": "mapping",
        "notes": "text",
    },
}

#: The fields an entry of each section cannot do without (its natural key and references).
REQUIRED: dict[str, tuple[str, ...]] = {
    "projects": ("name",),
    "campaigns": ("name", "project"),
    "aircraft": ("registration",),
    "locations": ("name",),
    "component_types": ("name",),
    "component_classes": ("name",),
    "components": ("type", "class", "serial"),
    "installations": ("component", "parent", "from"),
    "deployments": ("instrument", "aircraft", "start"),
    "calibrations": ("component", "time", "function"),
}

SECTIONS = tuple(FIELDS)
