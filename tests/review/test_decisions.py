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

from .conftest import Review, import_corrected, page_token

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


def test_approval_from_a_page_older_than_a_new_version_is_refused(
    review: Review, client: Client, tmp_path: Path
) -> None:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.review.models import Decision, ReviewEvent

    client.force_login(review.pi)
    stale = _page_token(client, review)
    import_corrected(review, tmp_path)  # imported while the PI looks at version 1
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
    import_corrected(review, tmp_path)  # a new version after the approval: not released
    assert _exported(review) == approved


def _approve(client: Client, review: Review, level: str = "L1") -> list[str]:
    return _post(
        client, review, "approve", {"level": level, "reviewed": _page_token(client, review)}
    )


def test_a_manual_flag_on_released_data_withdraws_the_release(
    review: Review, client: Client
) -> None:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.review.models import Decision, ManualFlag, ReviewEvent

    client.force_login(review.pi)
    assert _approve(client, review) == ["released to L1"]
    flight = review.flight.identifier  # type: ignore[attr-defined]
    assert flight not in client.get("/review/").content.decode()
    o3 = Series.objects.get(flight=review.flight, variable="O3_P1", is_current=True)
    assert o3.time_start is not None
    messages = _post(
        client,
        review,
        "flag",
        {
            "variables": ["O3_P1"],
            "start": o3.time_start.strftime("%Y-%m-%d %H:%M:%S"),
            "end": o3.time_start.strftime("%Y-%m-%d %H:%M:%S"),
            "flag": "3",
            "comment": "inlet frozen",
        },
    )
    assert messages[0] == "manual flag set on 1 variable(s)"
    assert "release to L1 is withdrawn" in messages[1]
    latest = Decision.objects.order_by("-created_at", "-id").first()
    assert latest is not None and (latest.action, latest.user) == ("withdraw", review.pi)
    assert "manual flag" in latest.reason
    assert ReviewEvent.objects.filter(action="withdraw").count() == 1
    # the database no longer says "released": no export, back in the queue, page says so
    assert _exported(review) == []
    assert f"/review/flight/{flight}/" in client.get("/review/").content.decode()
    page = client.get(f"/review/flight/{flight}/").content.decode()
    assert "release withdrawn by pi" in page
    # L2 needs an L1 release of what is there now; approving again releases the flag too
    assert "release to L1 before L2" in _approve(client, review, "L2")[0]
    assert _approve(client, review) == ["released to L1"]
    flag = ManualFlag.objects.get()
    o3_export = next(v for v in _exported(review) if v["variable"] == "O3_P1")
    assert o3_export["manual_flags"] == [flag.pk]
    assert o3_export["qc_run"] == o3.qc_runs.get(is_current=True).pk


@pytest.mark.parametrize(
    ("action", "data"),
    [("evaluate", {"method": "critical"}), ("rerun", {"config": "", "method": ""})],
)
def test_reevaluating_or_rerunning_released_data_withdraws_the_release(
    review: Review, client: Client, action: str, data: dict[str, str]
) -> None:
    from stratoflow.server.review.models import Decision

    client.force_login(review.pi)
    _approve(client, review)
    assert _approve(client, review, "L2") == ["released to L2"]
    messages = _post(client, review, action, data)
    assert len(messages) == 2 and "release to L2 is withdrawn" in messages[1]
    assert Decision.objects.order_by("-created_at", "-id")[0].action == "withdraw"
    assert _exported(review, "L1") == [] and _exported(review, "L2") == []


def test_changing_flags_of_unreleased_or_rejected_data_withdraws_nothing(
    review: Review, client: Client
) -> None:
    from stratoflow.server.review.models import Decision

    client.force_login(review.pi)
    assert _post(client, review, "evaluate", {"method": "critical"}) == [
        "re-evaluated 8 series with 'critical'"
    ]
    _post(client, review, "reject", {"reason": "zero drift"})
    assert _post(client, review, "evaluate", {"method": "worst"}) == [
        "re-evaluated 8 series with 'worst'"
    ]
    assert list(Decision.objects.values_list("action", flat=True)) == ["reject"]


def test_repeated_and_lowering_approvals_are_refused(review: Review, client: Client) -> None:
    from stratoflow.server.review.models import Decision, ReviewEvent

    client.force_login(review.pi)
    flight = review.flight.identifier  # type: ignore[attr-defined]
    assert _approve(client, review) == ["released to L1"]
    again = _approve(client, review)
    assert again == [f"flight {flight}: these data are already released to L1; nothing changed"]
    assert _approve(client, review, "L2") == ["released to L2"]
    for level in ("L2", "L1"):
        refused = _approve(client, review, level)
        assert len(refused) == 1 and f"flight {flight}: these data" in refused[0]
    assert "not lowered to L1" in refused[0]
    decisions = list(Decision.objects.order_by("id").values_list("action", "level"))
    assert decisions == [("approve", "L1"), ("approve", "L2")]
    assert ReviewEvent.objects.filter(action="approve").count() == 2
    assert [v["id"] for v in _exported(review, "L2")] == [v["id"] for v in _exported(review)]


def test_new_data_after_a_release_go_to_l1_before_l2(
    review: Review, client: Client, tmp_path: Path
) -> None:
    from stratoflow.server.review.models import Decision

    client.force_login(review.pi)
    _approve(client, review)
    released = _exported(review)
    import_corrected(review, tmp_path)  # version 2 arrives after the L1 release
    refused = _approve(client, review, "L2")
    assert "changed since their release to L1" in refused[0]
    assert Decision.objects.count() == 1 and _exported(review, "L2") == []
    assert _exported(review) == released  # L1 keeps delivering the approved version
    assert _approve(client, review) == ["released to L1"]  # the new version, at L1
    assert _approve(client, review, "L2") == ["released to L2"]


def test_approved_flights_lists_the_released_versions_not_newer_ones(
    review: Review, client: Client, tmp_path: Path
) -> None:
    from stratoflow.server.review.selectors import approved_flights

    client.force_login(review.pi)
    _approve(client, review)
    released = [v["id"] for v in _exported(review)]
    import_corrected(review, tmp_path)
    ((flight, series),) = approved_flights("L1")
    assert flight == review.flight and sorted(s.pk for s in series) == sorted(released)
    assert list(approved_flights("L2")) == []


def test_l2_over_an_l1_release_that_recorded_no_state_is_refused(review: Review) -> None:
    """An L1 release made before decisions recorded their state may be of other data (the
    exports take the versions current at its time); L2 went through on top of it, releasing
    as final data that never were at L1."""
    from stratoflow.errors import ConfigError
    from stratoflow.server.review.models import Decision
    from stratoflow.server.review.services import flight_approve

    flight = review.flight
    Decision.objects.create(flight=flight, action="approve", level="L1", reviewed={})
    with pytest.raises(ConfigError, match="does not record which data it released"):
        flight_approve(flight, user=review.pi, level="L2")  # type: ignore[arg-type]
    assert Decision.objects.count() == 1
    flight_approve(flight, user=review.pi, level="L1")  # type: ignore[arg-type]
    flight_approve(flight, user=review.pi, level="L2")  # type: ignore[arg-type]
    assert list(Decision.objects.order_by("id").values_list("level", flat=True)) == [
        "L1",
        "L1",
        "L2",
    ]


def test_reevaluating_a_flight_without_qc_results_changes_nothing(
    review: Review, tmp_path: Path
) -> None:
    """Nothing to re-evaluate (no series has stored test results): the re-evaluation
    recorded an event and withdrew the release, though no flag had changed."""
    from stratoflow.errors import ConfigError
    from stratoflow.importers import import_file
    from stratoflow.server.catalog.models import Flight
    from stratoflow.server.review.models import Decision, ReviewEvent
    from stratoflow.server.review.services import flight_approve, flight_reevaluate

    ds = open_dataset(review.path)
    ds.attrs["flight_id"] = "no-qc"
    path = write_dataset(ds, tmp_path / "no_qc.nc", writer="netcdf", layout="iagos")
    flight = Flight.objects.get(
        identifier=import_file(path, identity="portal/no_qc", qc=False).flight
    )
    flight_approve(flight, user=review.pi)
    events = ReviewEvent.objects.filter(flight=flight).count()
    with pytest.raises(ConfigError, match="no series with QC test results to re-evaluate"):
        flight_reevaluate(flight, user=review.pi, method="critical")
    assert list(Decision.objects.filter(flight=flight).values_list("action", flat=True)) == [
        "approve"
    ]
    assert ReviewEvent.objects.filter(flight=flight).count() == events


def test_a_qc_rerun_of_data_replaced_meanwhile_is_refused(
    review: Review, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new version is imported while the re-run reads the flight's values (outside any
    lock: it is the slow part): QC ran on the replaced version and stored runs of series no
    longer current, withdrawing the release for flags nobody sees."""
    from stratoflow.errors import ConfigError
    from stratoflow.server.catalog import selectors as catalog
    from stratoflow.server.catalog.models import QCRun
    from stratoflow.server.review.services import flight_rerun_qc

    original = catalog.flight_dataset

    def read_then_replaced(*args: Any, **kwargs: Any) -> Any:
        ds = original(*args, **kwargs)
        import_corrected(review, tmp_path)  # version 2 lands after the read
        return ds

    monkeypatch.setattr(catalog, "flight_dataset", read_then_replaced)
    runs = QCRun.objects.count()
    with pytest.raises(ConfigError, match="a new version of its data arrived"):
        flight_rerun_qc(review.flight, user=review.pi)  # type: ignore[arg-type]
    assert QCRun.objects.count() == runs + 8  # only the new version's own QC
