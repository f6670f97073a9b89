"""What to export: a selection of flights, variables, a time range and a data level.

The data level is decided by the PI, not by the importer: a flight's data are released to L1
or L2 by an *approve* :class:`~stratoflow.server.review.models.Decision`. What was released is
what the PI saw when deciding: the decision records, per variable, the series version, QC run
and manual flags of the page it was made from (``Decision.reviewed``), and exports deliver
exactly those. (A decision made before decisions recorded it falls back to time: each variable
in the version that was current at the decision, the one created, or restored by the catalog,
last before it, with the QC run and manual flags of that moment.) Data reprocessed after the
decision therefore stay out of exports until the PI approves again — and then come out as a new
export version; so does an earlier version made current again after the decision (a restore).
A latest decision that rejects withdraws the flight. ``level="any"`` exports the current
versions, reviewed or not.

Example::

    sel = Selection(platform="D-AIGT", start=..., end=..., variables=("O3", "CO"), level="L2")
    for item in select(sel):
        print(item.flight.identifier, [v.series.variable for v in item.series])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from django.db.models import Q

from stratoflow.errors import ConfigError, ExportError
from stratoflow.server.catalog.models import Flight, QCRun, Series
from stratoflow.server.catalog.services import platforms_named
from stratoflow.server.review.models import Decision, ManualFlag

__all__ = ["LEVELS", "FlightSelection", "Level", "Selection", "SeriesVersion", "select"]

Level = Literal["L1", "L2", "any"]
LEVELS: tuple[Level, ...] = ("L1", "L2", "any")
_RELEASES: dict[str, tuple[str, ...]] = {"L1": ("L1", "L2"), "L2": ("L2",)}


@dataclass(frozen=True)
class Selection:
    """Which data to export. Empty fields do not restrict; times are timezone-aware UTC.

    ``platform`` is the platform name of the data files; ``aircraft`` a registration from the
    instrument catalog (or a platform name); ``deployment`` the id of an instrument's
    deployment: only series measured under it.
    """

    flights: tuple[str, ...] = ()
    platform: str | None = None
    aircraft: str | None = None
    deployment: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    variables: tuple[str, ...] = ()
    level: Level = "L1"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ConfigError(f"level must be one of {LEVELS}, not {self.level!r}")
        for name, value in (("start", self.start), ("end", self.end)):
            if value is not None and value.utcoffset() is None:
                raise ConfigError(f"selection {name} {value.isoformat()} needs a time zone (UTC)")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ConfigError(f"selection: end {self.end} is not after start {self.start}")

    def describe(self) -> str:
        """The restrictions in words, for messages ("every flight" when there are none)."""
        parts = [
            f"{what} {value}"
            for what, value in (
                ("flights", ", ".join(self.flights)),
                ("platform", self.platform),
                ("aircraft", self.aircraft),
                ("deployment", self.deployment),
                ("from", self.start.isoformat() if self.start else None),
                ("to", self.end.isoformat() if self.end else None),
                ("variables", ", ".join(self.variables)),
            )
            if value
        ]
        return "; ".join(parts) or "every flight"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, stored with every export record."""
        return {
            "flights": list(self.flights),
            "platform": self.platform,
            "aircraft": self.aircraft,
            "deployment": self.deployment,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "variables": list(self.variables),
            "level": self.level,
        }


@dataclass(frozen=True)
class SeriesVersion:
    """One series in the exact version exported, with the QC run that supplies its flags."""

    series: Series
    qc_run: QCRun | None
    manual_flags: tuple[ManualFlag, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """What an export record keeps of it."""
        return {
            "id": self.series.pk,
            "variable": self.series.variable,
            "level": self.series.level,
            "version": self.series.version,
            "qc_run": self.qc_run.pk if self.qc_run is not None else None,
            "manual_flags": [m.pk for m in self.manual_flags],
        }


@dataclass(frozen=True)
class FlightSelection:
    """The series versions of one flight to export, and the level they are released to."""

    flight: Flight
    level: str
    series: list[SeriesVersion] = field(default_factory=list)
    decision: Decision | None = None

    def versions(self) -> list[dict[str, Any]]:
        """The versions as plain dicts (sorted by variable): the identity of the content."""
        return sorted((v.to_dict() for v in self.series), key=lambda d: str(d["variable"]))


def _latest_decision(flight: Flight) -> Decision | None:
    return flight.decisions.order_by("-created_at", "-id").first()


def _made_current(series: Series, cutoff: datetime) -> datetime:
    """When ``series`` last became current by ``cutoff``: created, or restored since (an
    earlier version made current again, recorded in its provenance by the catalog)."""
    times = [series.created_at]
    for entry in series.provenance.get("restorations") or []:
        at = datetime.fromisoformat(str(entry.get("at")))
        if at <= cutoff:
            times.append(at)
    return max(times)


def _versions(flight: Flight, selection: Selection, cutoff: datetime | None) -> list[Series]:
    """Per variable the series current at ``cutoff`` (if given; else the current one): the
    one created or restored last by then."""
    qs = flight.series.all()
    qs = qs.filter(is_current=True) if cutoff is None else qs.filter(created_at__lte=cutoff)
    if selection.variables:
        qs = qs.filter(variable__in=list(selection.variables))
    if selection.deployment is not None:
        qs = qs.filter(deployment_id=selection.deployment)
    chosen: dict[str, Series] = {}
    for s in qs.order_by("variable", "-created_at", "-version", "-id"):
        best = chosen.get(s.variable)
        if best is None or (
            cutoff is not None and _made_current(s, cutoff) > _made_current(best, cutoff)
        ):
            chosen[s.variable] = s
    return sorted(chosen.values(), key=lambda s: s.pk)


def _with_flags(series: Series, flight: Flight, cutoff: datetime | None) -> SeriesVersion:
    runs = series.qc_runs.all()
    if cutoff is None:
        run = runs.filter(is_current=True).order_by("-created_at", "-id").first()
    else:
        run = runs.filter(created_at__lte=cutoff).order_by("-created_at", "-id").first()
    manual = ManualFlag.objects.filter(flight=flight, variable=series.variable)
    if cutoff is not None:
        manual = manual.filter(created_at__lte=cutoff)
    return SeriesVersion(series, run, tuple(manual.order_by("created_at", "id")))


def _recorded(decision: Decision, selection: Selection) -> list[SeriesVersion] | None:
    """The series versions, QC runs and manual flags ``decision`` recorded as reviewed
    (:class:`~stratoflow.server.review.selectors.ReviewState`), filtered by ``selection``;
    None for a decision that recorded none (made before decisions recorded it).

    Exact ids, not times: what is exported is what the PI saw when approving, even if
    another process committed a new version in the same instant.
    """
    rows = decision.reviewed.get("series") if isinstance(decision.reviewed, dict) else None
    if not rows:
        return None
    if selection.variables:
        rows = [r for r in rows if r.get("variable") in selection.variables]
    series = Series.objects.filter(pk__in=[r["id"] for r in rows])
    if selection.deployment is not None:
        series = series.filter(deployment_id=selection.deployment)
    by_id = {s.pk: s for s in series}
    runs = QCRun.objects.in_bulk([r["qc_run"] for r in rows if r.get("qc_run") is not None])
    manual = ManualFlag.objects.in_bulk([pk for r in rows for pk in r.get("manual_flags") or []])
    out = []
    for r in sorted(rows, key=lambda r: int(r["id"])):
        if r["id"] not in by_id:
            continue
        flags = (manual[pk] for pk in r.get("manual_flags") or [] if pk in manual)
        run = runs.get(r["qc_run"]) if r.get("qc_run") is not None else None
        out.append(SeriesVersion(by_id[r["id"]], run, tuple(flags)))
    return out


def _flights(selection: Selection) -> list[Flight]:
    qs = Flight.objects.select_related("platform")
    if selection.flights:
        qs = qs.filter(identifier__in=list(selection.flights))
        missing = set(selection.flights) - set(qs.values_list("identifier", flat=True))
        if missing:
            raise ExportError(f"unknown flight(s): {', '.join(sorted(missing))}")
    if selection.platform:
        qs = qs.filter(platform__in=platforms_named(selection.platform))
    if selection.aircraft:
        qs = qs.filter(
            Q(platform__aircraft__registration=selection.aircraft)
            | Q(platform__name=selection.aircraft)
        )
    if selection.deployment is not None:
        qs = qs.filter(series__deployment_id=selection.deployment).distinct()
    if selection.start is not None:
        qs = qs.exclude(time_end__lt=selection.start)
    if selection.end is not None:
        qs = qs.exclude(time_start__gte=selection.end)
    return list(qs.order_by("time_start", "identifier"))


def select(
    selection: Selection, *, flights: Sequence[Flight] | None = None
) -> list[FlightSelection]:
    """The flights of ``selection`` with the series versions to export (empty ones dropped)."""
    out: list[FlightSelection] = []
    for flight in flights if flights is not None else _flights(selection):
        decision = None
        cutoff = None
        if selection.level != "any":
            decision = _latest_decision(flight)
            if (
                decision is None
                or decision.action != Decision.Action.APPROVE
                or decision.level not in _RELEASES[selection.level]
            ):
                continue
            cutoff = decision.created_at
        recorded = _recorded(decision, selection) if decision is not None else None
        if recorded is None:
            recorded = [
                _with_flags(s, flight, cutoff) for s in _versions(flight, selection, cutoff)
            ]
        if not recorded:
            continue
        out.append(
            FlightSelection(
                flight=flight,
                level=decision.level if decision is not None else "any",
                series=recorded,
                decision=decision,
            )
        )
    return out
