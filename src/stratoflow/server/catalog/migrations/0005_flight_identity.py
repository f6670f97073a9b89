"""Flights imported before the flight identity rules changed, under today's identifiers.

Two changes to how an import names a file's flight left rows behind:

1. ICARTT files were first named after the whole file name
   (``ACTAMERICA-mrg05-b200_merge_20170308_R0_L2``), then after the header's PLATFORM and DATE
   (``NASA-B200-Aircraft_20170308_L2``); the flights of the first scheme were never renamed, so
   a revision imported after that change started a flight of its own beside the old one, with
   its versions numbered from 1 again, and the merge and flag files of one flight stayed two.
2. The platform is now its canonical key (``nasa-b-200-aircraft_20170308_L2``, see
   :mod:`stratoflow.flights`), and the CF netCDF conversion of an ICARTT file lands on the
   ICARTT file's flight: the flights named by either scheme are not found by new imports.

For every flight holding series of an ICARTT or CF netCDF file, the identifier today's
importer gives each of its files is recomputed from what was stored of the file (the
Dataset attributes the reader made, the file name, the first time of its series). A flight
whose files all now name one other identifier is renamed to it, and what names a flight by its
identifier follows: export records and version claims (their ``subject``), and the ``flight``
a workflow task's details name. Flights that now name one identifier are joined into one
when nothing is lost or decided by joining them: no variable at a level on more than one of
them (else two current versions, numbered alike, would meet), and no review decision, manual
flag, review event or export of the flights joined into another. Anything else is left as it
is and logged (``stratoflow.migrations``), for a data manager to decide: a flight whose files
now name several flights, or one whose new identifier another flight holds that cannot be
joined; ``stratoflow manage flights_identity`` lists them again later. Other flights
(other readers) are not touched.

The rules are those of the installed stratoflow (:mod:`stratoflow.flights`,
:func:`stratoflow.readers.icartt.header_flight`), so that the rows are found where a new
import of the same file would put its data.

Reversing this migration changes nothing (joined flights cannot be told apart again, and
the older code finds renamed flights no worse than it found flights it had named itself: a
new import makes its own flight); it only lets the schema be migrated back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db import migrations

from stratoflow.server.catalog.identity import READERS, file_flight

logger = logging.getLogger("stratoflow.migrations")

#: Length of the flight identifier column (catalog.Flight.identifier).
LIMIT = 100
#: What a data manager is told to do about a flight left as it was.
TODO = (
    "New imports of its files land on the flight they name now, beside this one. List the "
    "flights left so with `stratoflow manage flights_identity`, look at them in the admin "
    "(Catalog > Flights) and decide with their PI; stratoflow does not move reviewed or "
    "exported data by itself"
)


def _today(reader: str, identity: str, stored: Any, first_time: datetime | None) -> str:
    """The identifier today's reader and importer give the file these rows came from."""
    return file_flight(reader, identity, stored, first_time, LIMIT)


def _references(flight_model: Any, series_model: Any, pks: list[int]) -> list[str]:
    """What besides series refers to the flights ``pks`` (review, exports): names of models."""
    found = []
    for relation in flight_model._meta.related_objects:
        if relation.related_model is series_model:
            continue
        rows = relation.related_model._default_manager.filter(**{f"{relation.field.name}__in": pks})
        if rows.exists():
            found.append(relation.related_model.__name__)
    return found


def _renamed(apps: Any, old: str, new: str) -> None:
    """Make what names flight ``old`` by its identifier name ``new``."""
    for label in ("exports.ExportRecord", "exports.ExportVersion"):
        model = apps.get_model(label)
        if not model.objects.filter(subject=new).exists():
            model.objects.filter(subject=old).update(subject=new)
    task_model = apps.get_model("workflow", "Task")
    for task in task_model.objects.filter(details__flight=old).order_by("pk"):
        task.details = {**task.details, "flight": new}
        task.save(update_fields=["details"])


def forward(apps: Any, schema_editor: Any) -> None:
    flight_model = apps.get_model("catalog", "Flight")
    series_model = apps.get_model("catalog", "Series")
    source_model = apps.get_model("catalog", "SourceFile")
    flights = set(
        series_model.objects.filter(source__reader__in=READERS)
        .values_list("flight_id", flat=True)
        .distinct()
    )
    if not flights:
        return
    sources: dict[int, set[int]] = defaultdict(set)
    first: dict[int, datetime] = {}
    pairs: dict[int, set[tuple[str, str]]] = defaultdict(set)
    rows = series_model.objects.filter(flight_id__in=flights).values_list(
        "flight_id", "source_id", "variable", "level", "time_start"
    )
    for flight, source, variable, level, start in rows.iterator():
        sources[flight].add(source)
        pairs[flight].add((variable, level))
        if start is not None and (source not in first or start < first[source]):
            first[source] = start
    today = {
        pk: _today(reader, identity, attributes, first.get(pk))
        for pk, reader, identity, attributes in source_model.objects.filter(
            pk__in=set().union(*sources.values())
        ).values_list("pk", "reader", "identity", "attributes")
    }
    names = dict(flight_model.objects.filter(pk__in=flights).values_list("pk", "identifier"))
    targets: dict[int, str] = {}
    for flight in sorted(flights):
        named = {today[s] for s in sources[flight]}
        if len(named) == 1:
            targets[flight] = named.pop()
        elif names[flight] not in named:
            logger.warning(
                "flight %s: its files now name the flights %s; left as it is. %s",
                names[flight],
                ", ".join(sorted(named)),
                TODO,
            )
    groups: dict[str, list[int]] = defaultdict(list)
    for flight, target in targets.items():
        if target != names[flight]:
            groups[target].append(flight)
    for target, members in sorted(groups.items()):
        holder = flight_model.objects.filter(identifier=target).first()
        if holder is not None and targets.get(holder.pk, target) != target:
            logger.warning(
                "flights %s now name %s, which flight %s holds and leaves: left as they are. %s",
                ", ".join(sorted(names[m] for m in members)),
                target,
                target,
                TODO,
            )
            continue
        everyone = sorted({*members, *([holder.pk] if holder is not None else [])})
        referred = [m for m in everyone if _references(flight_model, series_model, [m])]
        if holder is not None:
            survivor = holder.pk
        elif len(referred) == 1:
            survivor = referred[0]
        else:
            survivor = min(members)
        others = [m for m in everyone if m != survivor]
        if others:
            for m in everyone:
                if m not in pairs:  # a holder without ICARTT or netCDF series
                    pairs[m] = set(
                        series_model.objects.filter(flight_id=m).values_list("variable", "level")
                    )
            overlap = sum(len(pairs[m]) for m in everyone) != len(
                set().union(*(pairs[m] for m in everyone))
            )
            reviewed_away = any(m != survivor for m in referred)
            if reviewed_away or (overlap and referred):
                logger.warning(
                    "flights %s are one flight %s now, but %s: not joined, left as they are. %s",
                    ", ".join(sorted(names.get(m, target) for m in everyone)),
                    target,
                    "a flight to be joined into another has review or export records"
                    if reviewed_away
                    else "they hold the same variables and one has review or export records",
                    TODO,
                )
                continue
            _join(flight_model, series_model, survivor, others)
            for other in others:
                _renamed(apps, names[other], target)
                logger.info("flight %s joined into %s", names[other], target)
        old = names.get(survivor, target)
        if old != target:
            flight_model.objects.filter(pk=survivor).update(identifier=target)
            _renamed(apps, old, target)
            logger.info("flight %s is now %s", old, target)


def _join(flight_model: Any, series_model: Any, survivor: int, others: list[int]) -> None:
    """Move the series of ``others`` onto ``survivor`` and drop the emptied flights.

    A variable at a level that more than one of them holds (the ICARTT merge and its netCDF
    conversion, both imported) gets what one flight would hold had the files been imported
    onto it in the order they were: versions numbered in import order, and the last version
    imported current where any was. Called only when no review or export record names a
    version of them (see :func:`forward`).
    """
    keep = flight_model.objects.get(pk=survivor)
    for other in flight_model.objects.filter(pk__in=others).order_by("pk"):
        for field in ("platform_id", "departure_airport", "arrival_airport"):
            if not getattr(keep, field) and getattr(other, field):
                setattr(keep, field, getattr(other, field))
    group = [survivor, *others]
    versions: dict[tuple[str, str], list[tuple[int, bool]]] = defaultdict(list)
    rows = series_model.objects.filter(flight_id__in=group).order_by("pk")
    for pk, variable, level, is_current in rows.values_list(
        "pk", "variable", "level", "is_current"
    ):
        versions[(variable, level)].append((pk, is_current))
    shared = {key: found for key, found in versions.items() if len(found) > 1}
    moved = [pk for found in shared.values() for pk, _ in found]
    # out of the way of the unique (flight, variable, level, version) while they move
    top = max([0, *series_model.objects.filter(pk__in=moved).values_list("version", flat=True)])
    for pk in moved:
        series_model.objects.filter(pk=pk).update(version=top + pk)
    series_model.objects.filter(flight_id__in=others).update(flight_id=survivor)
    for found in shared.values():
        latest = max((pk for pk, is_current in found if is_current), default=None)
        for number, (pk, _) in enumerate(found, start=1):
            series_model.objects.filter(pk=pk).update(version=number, is_current=pk == latest)
    current = series_model.objects.filter(flight_id=survivor, is_current=True)
    starts = [t for t in current.values_list("time_start", flat=True) if t is not None]
    ends = [t for t in current.values_list("time_end", flat=True) if t is not None]
    if starts and ends:  # the span of its current series, as the importer keeps it
        keep.time_start, keep.time_end = min(starts), max(ends)
    keep.save()
    flight_model.objects.filter(pk__in=others).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_flight_airport_names"),
        # the rows that name a flight: review, exports and workflow tasks
        ("review", "0005_decision_withdraw"),
        ("exports", "0003_export_record_uploading"),
        ("workflow", "0005_job_enabled_at"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
