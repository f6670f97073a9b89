"""The PI re-processes a flight with the job's current processing, from its review page.

A job imports one flight with calibration A. As long as the job's configuration is the one the
data were made with, the page offers nothing and a forged request changes nothing. When the
calibration is corrected (B), the page shows what changed and the assigned PI (or staff) can
re-process: a new version, the flight awaiting review again, the request in the history. Other
PIs and anonymous users are refused, GET is refused, a POST without the CSRF token is refused.
Going back to A restores version 1. With ``STRATOFLOW_EXECUTOR=celery`` the request queues a
run for the scheduler instead of running it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import LazySettings
from django.contrib.auth.models import User
from django.test import Client

from _jobs import one_manager_job, transfer_handler
from importers._helpers import calibrated
from stratoflow import write_dataset
from stratoflow.dataset import make_dataset

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

FLIGHT = "RPV-1"
URL = f"/review/flight/{FLIGHT}/"


@dataclass
class Scene:
    job: Any
    flight: Any
    pi: User
    other_pi: User
    admin: User


@pytest.fixture
def scene(tmp_path: Path, settings: LazySettings) -> Scene:
    """One flight imported by a job (calibration A), awaiting review; its PI, another, staff."""
    from stratoflow.server.catalog.models import Flight, Platform
    from stratoflow.server.review.models import ReviewAssignment
    from stratoflow.server.workflow.services import job_run

    settings.STAGING_DIR = tmp_path / "staging"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STRATOFLOW_EXECUTOR = "inprocess"
    folder = tmp_path / "portal"
    folder.mkdir()
    t = np.datetime64("2024-05-01T00:00:00", "ns") + np.arange(300) * np.timedelta64(1, "s")
    ds = make_dataset(
        t,
        {
            "p": (np.linspace(800.0, 900.0, 300), {"units": "hPa", "long_name": "pressure"}),
            "T": (np.linspace(250.0, 260.0, 300), {"units": "K", "long_name": "temperature"}),
        },
        attrs={"flight_id": FLIGHT, "platform": "D-RPRV"},
    )
    write_dataset(ds, folder / f"{FLIGHT}.nc", writer="netcdf")
    transfer = transfer_handler(
        "portal-dir",
        provider="portal",
        transfer_type="local",
        auth="none",
        transfer_options={"root": str(folder), "pattern": "*.nc"},
    )
    job = one_manager_job(
        "pressure",
        manager="import",
        kind="import",
        transfer=transfer,
        options={"processing": calibrated(1.0)},
    )
    assert job_run(job, workers=1).managers[0].states == {"awaiting_review": 1}
    pi, other_pi = (User.objects.create_user(n, password=PASSWORD) for n in ("pi", "other-pi"))
    admin = User.objects.create_user("admin", password=PASSWORD, is_staff=True)
    ReviewAssignment.objects.create(user=pi, platform=Platform.objects.get(name="D-RPRV"))
    ReviewAssignment.objects.create(user=other_pi, platform=Platform.objects.create(name="D-NOT"))
    return Scene(job, Flight.objects.get(identifier=FLIGHT), pi, other_pi, admin)


def _recalibrate(scene: Scene, offset: float) -> None:
    manager = scene.job.managers.get(name="import")
    manager.options = {**manager.options, "processing": calibrated(offset)}
    manager.full_clean()
    manager.save()


def _versions(variable: str = "p") -> list[tuple[int, bool]]:
    from stratoflow.server.catalog.models import Series

    rows = Series.objects.filter(flight__identifier=FLIGHT, variable=variable).order_by("version")
    return [(s.version, s.is_current) for s in rows]


def _state() -> tuple[int, ...]:
    from stratoflow.server.catalog.models import QCRun, Segment, Series
    from stratoflow.server.review.models import ReviewEvent
    from stratoflow.server.workflow.models import JobRun, Task

    return (
        Series.objects.filter(is_current=True).count(),
        Series.objects.count(),
        Segment.objects.count(),
        QCRun.objects.count(),
        ReviewEvent.objects.count(),
        JobRun.objects.count(),
        Task.objects.count(),
    )


def _client(user: User) -> Client:
    """A logged-in client that enforces CSRF as a browser would meet it."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _post(client: Client, data: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """POST the action with the page's CSRF token; the status and the messages shown."""
    page = client.get(URL)
    assert page.status_code == 200
    token = client.cookies["csrftoken"].value
    r = client.post(f"{URL}reprocess", {"csrfmiddlewaretoken": token, **(data or {})}, follow=True)
    if r.redirect_chain:
        assert r.redirect_chain == [(URL, 303)]
        return r.status_code, [str(m) for m in r.context["messages"]]
    return r.status_code, []


def test_nothing_changed_no_button_and_a_forged_request_changes_nothing(scene: Scene) -> None:
    from stratoflow.server.review.models import ReviewEvent

    client = _client(scene.pi)
    page = client.get(URL).content.decode()
    assert 'id="reprocess-check"' in page  # the dry run is only made on request
    page = client.get(f"{URL}?reprocess=check").content.decode()
    assert 'id="reprocess-form"' not in page and "Processing changed since import" not in page
    assert "nothing to re-process" in page
    before = _state()
    status, shown = _post(client)
    assert status == 200 and any("nothing to re-process" in m for m in shown)
    assert _state() == before
    assert not ReviewEvent.objects.filter(action="reprocess").exists()


def test_the_assigned_pi_reprocesses_with_the_changedcalibrated(scene: Scene) -> None:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.selectors import series_arrays
    from stratoflow.server.review.models import ReviewEvent
    from stratoflow.server.review.selectors import review_tasks
    from stratoflow.server.review.services import flight_approve

    flight_approve(scene.flight, user=scene.pi)
    assert not review_tasks(scene.flight).exists()
    _recalibrate(scene, 3.0)
    client = _client(scene.pi)
    assert 'id="reprocess-form"' not in client.get(URL).content.decode()  # not checked yet
    page = client.get(f"{URL}?reprocess=check").content.decode()
    assert 'id="reprocess-form"' in page
    assert "processing[0].params.pre.parameters.offset.value: 1.0 -&gt; 3.0" in page
    assert f"{FLIGHT}.nc" in page and "restores an earlier version" not in page

    before = _state()
    status, shown = _post(client, {"reason": "calibration corrected"})
    assert status == 200 and any("1 file(s) re-processed" in m for m in shown), shown
    assert _versions("p") == _versions("T") == [(1, False), (2, True)]
    old, new = (Series.objects.get(variable="p", version=v) for v in (1, 2))
    np.testing.assert_allclose(series_arrays(new)["value"] - series_arrays(old)["value"], 2.0)
    assert _state()[1:3] == (before[1] + 2, before[2] + 2)
    (event,) = ReviewEvent.objects.filter(flight=scene.flight, action="reprocess")
    assert event.user == scene.pi and event.reason == "calibration corrected"
    assert [i["identity"] for i in event.details["items"]] == [f"{FLIGHT}.nc"]
    assert event.details["queued"] is False
    assert [r["state"] for r in event.details["runs"]] == ["succeeded"]
    assert len(review_tasks(scene.flight)) == 1  # awaiting review again
    page = client.get(f"{URL}?reprocess=check").content.decode()
    assert 'id="reprocess-form"' not in page  # nothing would change any more
    assert "re-processed 1 file(s) with the job&#x27;s current configuration" in page
    assert "calibration corrected" in page

    # going back to A (by staff): version 1 is restored, not copied
    _recalibrate(scene, 1.0)
    admin = _client(scene.admin)
    page = admin.get(f"{URL}?reprocess=check").content.decode()
    assert "restore v1 (made with this configuration before)" in page
    rows = _state()[1:3]
    status, shown = _post(admin)
    assert status == 200 and any("1 file(s) re-processed" in m for m in shown), shown
    assert _versions("p") == _versions("T") == [(1, True), (2, False)]
    assert _state()[1:3] == rows
    actions = list(
        ReviewEvent.objects.filter(flight=scene.flight)
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions[-3:] == ["reprocess", "restore", "reprocess"]
    restore = ReviewEvent.objects.get(flight=scene.flight, action="restore")
    assert restore.task is not None and restore.task.details["reprocess"]["restore"] == [1]
    assert "restored p v1" in admin.get(URL).content.decode()


def test_others_are_refused_and_nothing_changes(scene: Scene) -> None:
    _recalibrate(scene, 3.0)
    before = _state()
    other = Client()  # no CSRF check: what refuses it is the assignment
    other.force_login(scene.other_pi)
    assert other.get(URL).status_code == 403
    r = other.post(f"{URL}reprocess", {})
    assert r.status_code == 403
    # the CSRF check comes first for everybody: the PI without the token is refused too
    pi = _client(scene.pi)
    assert pi.post(f"{URL}reprocess", {}).status_code == 403
    assert pi.get(f"{URL}reprocess").status_code == 405  # never by GET
    anonymous = Client()
    r = anonymous.post(f"{URL}reprocess", {})
    assert r.status_code == 302 and r["Location"].startswith("/review/login/")
    nobody = User.objects.create_user("nobody", password=PASSWORD)
    assert _client(nobody).get(URL).status_code == 403
    assert _state() == before
    assert _versions() == [(1, True)]


def test_with_celery_the_request_queues_a_run_for_the_scheduler(
    scene: Scene, settings: LazySettings
) -> None:
    from django.utils import timezone

    from stratoflow.server.review.models import ReviewEvent
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.scheduler import runs_due
    from stratoflow.server.workflow.services import run_execute

    _recalibrate(scene, 3.0)
    settings.STRATOFLOW_EXECUTOR = "celery"
    status, shown = _post(_client(scene.pi))
    assert status == 200 and any("queued for re-processing" in m for m in shown), shown
    run = JobRun.objects.get(summary__has_key="reprocess")
    assert run.state == "pending" and Task.objects.filter(run=run, state="queued").count() == 1
    assert run in runs_due(timezone.now())
    assert _versions() == [(1, True)]  # nothing done in the request
    event = ReviewEvent.objects.get(flight=scene.flight, action="reprocess")
    assert event.details["queued"] is True and event.details["runs"][0]["run"] == run.pk

    settings.STRATOFLOW_EXECUTOR = "inprocess"  # the scheduler's side, run here in-process
    assert run_execute(run).state == "succeeded"
    assert _versions() == [(1, False), (2, True)]


def test_a_changed_qc_evaluation_is_offered_and_applied_by_the_page(scene: Scene) -> None:
    """Only the job's QC option changed (QC is not in the configuration key): the page still
    offers re-processing, and it makes a new QC run with the new method, no new version."""
    from stratoflow.server.catalog.models import QCRun
    from stratoflow.server.review.selectors import review_tasks
    from stratoflow.server.review.services import flight_approve

    flight_approve(scene.flight, user=scene.pi)
    manager = scene.job.managers.get(name="import")
    manager.options = {**manager.options, "qc": {"evaluation": "vote"}}
    manager.full_clean()
    manager.save()
    client = _client(scene.pi)
    page = client.get(f"{URL}?reprocess=check").content.decode()
    assert 'id="reprocess-form"' in page
    assert "qc.evaluation: worst -&gt; vote" in page
    status, shown = _post(client, {"reason": "vote"})
    assert status == 200 and any("1 file(s) re-processed" in m for m in shown), shown
    assert _versions("p") == _versions("T") == [(1, True)]
    assert set(QCRun.objects.filter(is_current=True).values_list("evaluation", flat=True)) == {
        "vote"
    }
    assert len(review_tasks(scene.flight)) == 1
    page = client.get(f"{URL}?reprocess=check").content.decode()
    assert 'id="reprocess-form"' not in page
