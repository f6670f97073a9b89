"""Who may see and do what: login, assignments, admins, 403 for everybody else, CSRF, no GET.

Every page and every action is tried by every kind of user; a refused action must leave the
database unchanged.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from .conftest import PASSWORD, Review

pytestmark = pytest.mark.django_db

ACTIONS = {
    "evaluate": {"method": "critical"},
    "rerun": {"config": "", "method": ""},
    "flag": {
        "variables": ["O3_P1"],
        "start": "2000-01-01 00:00:00",
        "end": "2100-01-01 00:00:00",
        "flag": "3",
        "comment": "why not",
    },
    "approve": {"level": "L1"},
    "reject": {"reason": "no"},
}


def _state() -> tuple[int, ...]:
    from stratoflow.server.catalog.models import QCRun
    from stratoflow.server.review.models import Decision, ManualFlag, ReviewEvent

    return (
        QCRun.objects.count(),
        Decision.objects.count(),
        ManualFlag.objects.count(),
        ReviewEvent.objects.count(),
    )


def _pages(flight: str) -> list[str]:
    return ["/review/", f"/review/flight/{flight}/", f"/review/flight/{flight}/data"]


def test_anonymous_is_sent_to_login_for_pages_and_actions(review: Review, client: Client) -> None:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    before = _state()
    for url in _pages(flight):
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/review/login/"), url
    for action, data in ACTIONS.items():
        r = client.post(f"/review/flight/{flight}/{action}", data)
        assert r.status_code == 302 and r["Location"].startswith("/review/login/"), action
    assert _state() == before


def test_user_without_assignment_gets_403_everywhere(review: Review, client: Client) -> None:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    client.force_login(review.nobody)
    before = _state()
    for url in _pages(flight):
        assert client.get(url).status_code == 403, url
    for action, data in ACTIONS.items():
        assert client.post(f"/review/flight/{flight}/{action}", data).status_code == 403
    assert _state() == before


def test_pi_of_another_platform_sees_an_empty_queue_and_gets_403(
    review: Review, client: Client
) -> None:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    client.force_login(review.other_pi)
    before = _state()
    r = client.get("/review/")
    assert r.status_code == 200
    assert flight not in r.content.decode()
    assert "Nothing awaits your review" in r.content.decode()
    for url in _pages(flight)[1:]:
        assert client.get(url).status_code == 403, url
    for action, data in ACTIONS.items():
        assert client.post(f"/review/flight/{flight}/{action}", data).status_code == 403
    assert _state() == before


@pytest.mark.parametrize("who", ["pi", "project_pi", "admin"])
def test_assigned_pi_project_pi_and_admin_see_the_flight(
    review: Review, client: Client, who: str
) -> None:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    client.force_login(getattr(review, who))
    queue = client.get("/review/")
    assert queue.status_code == 200
    assert f"/review/flight/{flight}/" in queue.content.decode()
    page = client.get(f"/review/flight/{flight}/")
    assert page.status_code == 200
    assert "QC tests: what fired where" in page.content.decode()
    data = client.get(f"/review/flight/{flight}/data")
    assert data.status_code == 200 and data["Content-Type"] == "application/json"


def test_assigned_pi_may_act(review: Review, client: Client) -> None:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    client.force_login(review.project_pi)
    r = client.post(f"/review/flight/{flight}/evaluate", ACTIONS["evaluate"])
    assert r.status_code == 303 and r["Location"] == f"/review/flight/{flight}/"


def test_inactive_user_is_refused(review: Review, client: Client) -> None:
    review.pi.is_active = False
    review.pi.save()
    client.force_login(review.pi)
    r = client.get("/review/")
    assert r.status_code == 302 and r["Location"].startswith("/review/login/")


def test_unknown_flight_is_404(review: Review, client: Client) -> None:
    client.force_login(review.admin)
    assert client.get("/review/flight/no-such-flight/").status_code == 404
    assert client.post("/review/flight/no-such-flight/approve", {"level": "L1"}).status_code == 404


def test_actions_refuse_get(review: Review, client: Client) -> None:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    client.force_login(review.admin)
    before = _state()
    for action in ACTIONS:
        assert client.get(f"/review/flight/{flight}/{action}").status_code == 405, action
    assert _state() == before


def test_pages_refuse_post(review: Review, client: Client) -> None:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    client.force_login(review.admin)
    for url in _pages(flight):
        assert client.post(url, {}).status_code == 405, url


def test_every_form_is_csrf_protected(review: Review) -> None:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    client = Client(enforce_csrf_checks=True)
    client.force_login(review.pi)
    before = _state()
    for action, data in ACTIONS.items():
        r = client.post(f"/review/flight/{flight}/{action}", data)
        assert r.status_code == 403, action  # no token
    assert _state() == before
    page = client.get(f"/review/flight/{flight}/").content.decode()
    forms = re.findall(r"<form method=\"post\"[^>]*>(.*?)</form>", page, re.S)
    assert len(forms) == 6  # logout, evaluate, flag, approve, reject, rerun
    assert all("csrfmiddlewaretoken" in f for f in forms)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    r = client.post(
        f"/review/flight/{flight}/evaluate",
        {**ACTIONS["evaluate"], "csrfmiddlewaretoken": token.group(1)},
    )
    assert r.status_code == 303


def test_a_pi_logs_in_with_the_review_login_page(review: Review, client: Client) -> None:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    r = client.get(f"/review/flight/{flight}/")
    assert r.status_code == 302
    login = r["Location"]
    assert client.get(login).status_code == 200
    bad = client.post("/review/login/", {"username": "pi", "password": "wrong"})
    assert bad.status_code == 200  # form again, not logged in
    r = client.post(
        "/review/login/",
        {"username": "pi", "password": PASSWORD, "next": f"/review/flight/{flight}/"},
    )
    assert r.status_code == 302 and r["Location"] == f"/review/flight/{flight}/"
    assert client.get(r["Location"]).status_code == 200
    assert client.post("/review/logout/").status_code == 302
    assert client.get(f"/review/flight/{flight}/").status_code == 302


def test_plotly_is_served_by_the_app(client: Client) -> None:
    r = client.get("/review/assets/plotly.min.js")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/javascript")
    head = b"".join(r.streaming_content)[:2000]  # type: ignore[attr-defined]
    assert b"plotly.js" in head


def test_review_page_loads_no_third_party_script(review: Review, client: Client) -> None:
    flight = review.flight.identifier  # type: ignore[attr-defined]
    client.force_login(review.pi)
    page = client.get(f"/review/flight/{flight}/").content.decode()
    sources = re.findall(r'<script src="([^"]+)"', page)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "cdn" not in page.lower()
