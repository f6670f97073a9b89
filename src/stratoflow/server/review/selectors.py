"""Review selectors: what awaits review and what has been released."""

from __future__ import annotations

from collections.abc import Iterator

from stratoflow.server.catalog.models import Flight, Series
from stratoflow.server.review.models import Decision

__all__ = ["approved_flights", "latest_decision"]


def latest_decision(flight: Flight) -> Decision | None:
    """The PI's most recent decision on ``flight``."""
    return flight.decisions.order_by("-created_at", "-id").first()


def approved_flights(level: str = "L1") -> Iterator[tuple[Flight, list[Series]]]:
    """Flights whose latest decision releases them to ``level``, with their current series."""
    flights = Flight.objects.filter(decisions__action=Decision.Action.APPROVE).distinct()
    for flight in flights.order_by("identifier"):
        decision = latest_decision(flight)
        if decision is None or decision.action != Decision.Action.APPROVE:
            continue
        if level == "L2" and decision.level != "L2":
            continue
        series = list(flight.series.filter(is_current=True).order_by("id"))
        if series:
            yield flight, series
