"""The dashboard, run pages, the retry action (POST + CSRF) and the admin's next runs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)

MakeJob = Callable[..., Any]


@pytest.fixture
def admin_client_csrf(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("boss", "boss@example.org", "pw-12345678")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_dashboard_lists_next_runs_runs_tasks_and_errors(
    make_job: MakeJob, admin_client_csrf: Client
) -> None:
    from stratoflow.server.workflow.services import job_run

    job = make_job(tasks=3, fail=[2])
    job.frequency, job.start, job.timezone = (
        "daily",
        datetime(2026, 3, 1, 1, 30, tzinfo=UTC),
        "Europe/Berlin",
    )
    job.save()
    report = job_run(job)
    page = admin_client_csrf.get("/").content.decode()
    assert "T02:30:00+" in page  # next runs, in the job's zone
    assert f"/runs/{report.run_id}/" in page and "failed" in page
    assert "noop #2: noop task #2 fails permanently" in page

    run_page = admin_client_csrf.get(f"/runs/{report.run_id}/").content.decode()
    assert "retry failed tasks (1)" in run_page and "noop #0" in run_page
    assert admin_client_csrf.get("/runs/999999/").status_code == 404


def test_retry_failed_tasks_needs_post_and_csrf(
    make_job: MakeJob, admin_client_csrf: Client
) -> None:
    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.services import job_run

    report = job_run(make_job(tasks=2, fail=[0]))
    url = f"/runs/{report.run_id}/retry/"
    assert admin_client_csrf.get(url).status_code == 405
    assert admin_client_csrf.post(url).status_code == 403  # no CSRF token
    assert JobRun.objects.get(pk=report.run_id).state == "failed"

    page = admin_client_csrf.get(f"/runs/{report.run_id}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = admin_client_csrf.post(url, {"csrfmiddlewaretoken": token.group(1)})
    assert response.status_code == 302
    assert JobRun.objects.get(pk=report.run_id).state == "pending"
    assert Task.objects.get(subject="noop #0").state == "queued"
    follow = admin_client_csrf.get(response["Location"]).content.decode()
    assert "1 failed task(s) queued again" in follow


def test_admin_shows_next_runs_and_offers_retry_action(
    make_job: MakeJob, admin_client_csrf: Client
) -> None:
    from stratoflow.server.workflow.models import JobRun
    from stratoflow.server.workflow.services import job_run

    job = make_job(tasks=1, fail=[0])
    job.frequency, job.interval, job.start = "hourly", 2, datetime(2026, 1, 1, tzinfo=UTC)
    job.save()
    page = admin_client_csrf.get(f"/admin/workflow/job/{job.pk}/change/").content.decode()
    assert "next 5 runs" in page.lower()
    assert len(re.findall(r"T\d\d:00:00\+00:00<br>", page)) == 5
    report = job_run(job)
    changelist = admin_client_csrf.get("/admin/workflow/jobrun/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', changelist)
    assert token is not None and "Retry failed tasks" in changelist
    admin_client_csrf.post(
        "/admin/workflow/jobrun/",
        {
            "csrfmiddlewaretoken": token.group(1),
            "action": "retry_failed",
            "_selected_action": [report.run_id],
        },
    )
    assert JobRun.objects.get(pk=report.run_id).state == "pending"


def test_admin_form_rejects_a_dependency_cycle(
    make_job: MakeJob, admin_client_csrf: Client
) -> None:
    from stratoflow.server.workflow.admin import JobForm
    from stratoflow.server.workflow.definitions import dependencies_set

    a, b = make_job("a"), make_job("b")
    dependencies_set(b, [a])
    form = JobForm(
        instance=a,
        data={
            "name": "a",
            "frequency": "hourly",
            "interval": 1,
            "timezone": "UTC",
            "catch_up": "latest",
            "catch_up_cap": 3,
            "order": 0,
            "enabled": "on",
            "depends_on": [b.pk],
        },
    )
    assert not form.is_valid()
    assert "dependency cycle: a -> b -> a" in form.errors["depends_on"]


def test_dashboard_and_run_pages_are_for_operators_only(
    make_job: MakeJob, django_user_model: Any
) -> None:
    from django.contrib.auth.models import Permission

    from stratoflow.server.catalog.models import Platform
    from stratoflow.server.review.models import ReviewAssignment
    from stratoflow.server.workflow.services import job_run

    report = job_run(make_job(tasks=2, fail=[1]))
    pages = ["/", f"/runs/{report.run_id}/"]
    client = Client()
    for url in pages:  # anonymous: to the login page
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/admin/login/"), url

    plain = django_user_model.objects.create_user("plain", "plain@example.org", "pw-12345678")
    client.force_login(plain)
    for url in pages:
        r = client.get(url)
        assert r.status_code == 403, url
        assert b"noop task #1 fails" not in r.content

    # a PI is sent to their review queue instead
    pi = django_user_model.objects.create_user("pi", "pi@example.org", "pw-12345678")
    ReviewAssignment.objects.create(user=pi, platform=Platform.objects.create(name="D-TEST"))
    client.force_login(pi)
    for url in pages:
        r = client.get(url)
        assert r.status_code == 302 and r["Location"] == "/review/", url

    # the permission opens them without staff status
    plain.user_permissions.add(Permission.objects.get(codename="view_jobrun"))
    plain = django_user_model.objects.get(pk=plain.pk)  # permission cache
    client.force_login(plain)
    for url in pages:
        assert client.get(url).status_code == 200, url


def _form_data(page: str) -> dict[str, Any]:
    """What a browser would submit for the first form of an admin change page, as is."""
    from html.parser import HTMLParser

    data: dict[str, Any] = {}

    class Form(HTMLParser):
        select: str | None = None
        textarea: str | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            name = a.get("name")
            if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
                if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                    return
                data.setdefault(name, []).append(a.get("value") or "")
            elif tag == "select" and name:
                self.select = name
                data.setdefault(name, [])
            elif tag == "option" and self.select and "selected" in a:
                data[self.select].append(a.get("value") or "")
            elif tag == "textarea" and name:
                self.textarea = name
                data[name] = [""]

        def handle_endtag(self, tag: str) -> None:
            if tag == "select":
                self.select = None
            if tag == "textarea":
                self.textarea = None

        def handle_data(self, text: str) -> None:
            if self.textarea:
                data[self.textarea][-1] += (
                    text.lstrip("\n") if not data[self.textarea][-1] else text
                )

    Form().feed(page)
    return data


def test_admin_refuses_deleting_a_manager_with_history_from_the_job_page(
    make_job: MakeJob, admin_client_csrf: Client
) -> None:
    """A tick in the job page's inline "delete" box would delete the manager's tasks with it:
    refused with a message; the manager's own delete page lists what would be deleted."""
    import html

    from stratoflow.server.workflow.models import Task, TaskManager
    from stratoflow.server.workflow.services import job_run

    job = make_job(tasks=2)
    job_run(job)
    manager = TaskManager.objects.get(job=job)
    assert Task.objects.filter(manager=manager).count() == 2
    url = f"/admin/workflow/job/{job.pk}/change/"
    data = _form_data(admin_client_csrf.get(url).content.decode())
    prefix = next(k for k in data if k.endswith("-0-id")).removesuffix("-0-id")
    data[f"{prefix}-0-DELETE"] = ["on"]
    response = admin_client_csrf.post(url, data)
    assert response.status_code == 200  # the form again, with the error
    page = html.unescape(response.content.decode())
    assert f"manager {manager.name!r} has 2 task(s) of history" in page
    assert Task.objects.filter(manager=manager).count() == 2

    confirm = admin_client_csrf.get(f"/admin/workflow/taskmanager/{manager.pk}/delete/")
    assert confirm.status_code == 200 and "Tasks: 2" in confirm.content.decode()
