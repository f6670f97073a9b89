"""Approvals release exactly what the PI saw: stale pages, later flag changes, repeated and
downgrading approvals. Through the Django test client, checked against the database and the
export selection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from stratoflow import open_dataset, write_dataset

from .conftest import Review, import_sample, page_token

pytestmark = pytest.mark.django_db


def _page_token(client: Client, review: Review) -> str:
    return page_token(client, review.flight.identifier)  # type: ignore[attr-defined]


def _post(client: Client, review: Review, action: str, data: dict[str, Any]) -> list[str]:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    r = client.post(f"/review/flight/{flight}/{action}", data, follow=True)
    assert r.status_code == 200
    return [str(m) for m in r.context["messages"]]  # type: ignore[index]


def _exported(review: Review, level: str = "L1") -> list[dict[str, Any]]:
    """What an export of ``level`` would deliver of the flight (its series versions)."""
    from stratoflow.exporters.selection import Selection, select

    flight = review.flight.identifier  # type: ignore[attr-defined]
    items = select(Selection(flights=(flight,), level=level))  # type: ignore[arg-type]
    return items[0].versions() if items else []


def _correct_file(review: Review, tmp_path: Path) -> None:
    """The provider sends a corrected file: same identity, other bytes -> version 2."""
    ds = open_dataset(review.path)
    ds["CO_P1"].values[5] = 99.0
    corrected = tmp_path / "corrected" / review.path.name
    corrected.parent.mkdir()
    write_dataset(ds, corrected, writer="netcdf", layout="iagos")
    import_sample(corrected)


def test_approval_from_a_page_older_than_a_new_version_is_refused(
    review: Review, client: Client, tmp_path: Path
) -> None:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.review.models import Decision, ReviewEvent

    client.force_login(review.pi)
    stale = _page_token(client, review)
    _correct_file(review, tmp_path)  # imported while the PI looks at version 1
    messages = _post(client, review, "approve", {"level": "L1", "reviewed": stale})
    assert len(messages) == 1 and "changed since you opened the page" in messages[0]
    assert "nothing was released" in messages[0]
    assert Decision.objects.count() == 0
    assert not ReviewEvent.objects.filter(action="approve").exists()
    review.task.refresh_from_db()  # type: ignore[attr-defined]
    assert review.task.state == "awaiting_review"  # type: ignore[attr-defined]
    assert _exported(review) == []
    # without a token (a hand-made request) nothing is released either
    assert _post(client, review, "approve", {"level": "L1"})[0].startswith("reviewed:")
    assert Decision.objects.count() == 0

    # from the reloaded page: version 2 is released, and exactly it is exported
    assert _post(
        client, review, "approve", {"level": "L1", "reviewed": _page_token(client, review)}
    ) == ["released to L1"]
    current = set(
        Series.objects.filter(flight=review.flight, is_current=True).values_list("pk", flat=True)
    )
    exported = _exported(review)
    assert {v["id"] for v in exported} == current
    assert {v["version"] for v in exported if v["variable"] == "CO_P1"} == {2}


def test_approval_after_a_reevaluation_by_someone_else_is_refused(
    review: Review, client: Client
) -> None:
    from stratoflow.server.review.models import Decision
    from stratoflow.server.review.services import flight_reevaluate

    client.force_login(review.pi)
    stale = _page_token(client, review)
    flight_reevaluate(review.flight, user=review.admin, method="critical")  # type: ignore[arg-type]
    messages = _post(client, review, "approve", {"level": "L1", "reviewed": stale})
    assert "changed since you opened the page" in messages[0]
    assert Decision.objects.count() == 0


def test_export_delivers_the_recorded_state_not_a_later_version(
    review: Review, client: Client, tmp_path: Path
) -> None:
    from stratoflow.server.review.models import Decision

    client.force_login(review.pi)
    assert _post(
        client, review, "approve", {"level": "L1", "reviewed": _page_token(client, review)}
    ) == ["released to L1"]
    approved = _exported(review)
    recorded = Decision.objects.get().reviewed
    assert sorted(r["id"] for r in recorded["series"]) == sorted(v["id"] for v in approved)
    assert {v["qc_run"] for v in approved} == {r["qc_run"] for r in recorded["series"]}
    _correct_file(review, tmp_path)  # a new version after the approval: not released
    assert _exported(review) == approved
