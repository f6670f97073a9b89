"""A job switched off and on again resumes from when it was switched on: the slots of the
period it was off are not caught up (``backfill`` makes them on purpose), the slots it missed
while on and the scheduler was down are, per its catch-up policy."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from stratoflow.jobs import ManualClock

pytestmark = pytest.mark.django_db(transaction=True)

MakeJob = Callable[..., Any]
T0 = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)


def _slots(job: Any) -> list[str]:
    return [r.scheduled_for.strftime("%H:%M") for r in job.runs.order_by("scheduled_for")]


@pytest.mark.parametrize(
    ("policy", "after_switch_on"),
    [
        # switched on at 08:30, then the scheduler is down from 08:31 to 11:10
        ("all", ["09:00", "10:00", "11:00"]),
        ("latest", ["11:00"]),
    ],
)
def test_a_job_switched_back_on_catches_up_only_what_it_missed_while_on(
    make_job: MakeJob, policy: str, after_switch_on: list[str]
) -> None:
    """Switched off from 22:30 to 08:30 (its provider down for maintenance): once switched
    on, it used to fire every slot from 23:00 on (catch-up ``all``, up to its cap) or the
    08:00 slot (``latest``) of the period it was off."""
    from stratoflow.server.workflow.scheduler import Scheduler
    from stratoflow.server.workflow.services import job_enabled_at

    job = make_job(f"paused-{policy}", tasks=1)
    job.frequency, job.start, job.timezone = "hourly", T0, "UTC"
    job.catch_up, job.catch_up_cap = policy, 24
    job.save()
    clock = ManualClock(T0 + timedelta(seconds=5))
    scheduler = Scheduler(clock=clock, holder="test")
    scheduler.tick()
    assert _slots(job) == ["22:00"]

    job.enabled = False  # at 22:30
    job.save()
    clock.set(T0 + timedelta(hours=4, seconds=5))
    assert scheduler.tick() == []  # off: no slot is made

    switched_on = T0 + timedelta(hours=10, minutes=30)  # 08:30
    job.enabled_at = job_enabled_at(job, True, now=switched_on)
    job.enabled = True
    job.save()
    clock.set(switched_on + timedelta(minutes=1))
    assert scheduler.tick() == []  # nothing of the period it was off
    clock.set(T0 + timedelta(hours=13, minutes=10))  # back at 11:10
    scheduler.tick()
    assert _slots(job) == ["22:00", *after_switch_on]
    clock.set(T0 + timedelta(hours=14, seconds=5))
    scheduler.tick()
    scheduler.close()
    assert _slots(job)[-1] == "12:00"  # back to normal
    assert set(job.runs.values_list("state", flat=True)) == {"succeeded"}


def test_job_load_records_when_a_job_is_switched_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.cli import main
    from stratoflow.server.workflow.models import Job

    jobs = tmp_path / "jobs.yaml"

    def load(enabled: bool) -> str:
        jobs.write_text(
            "jobs:\n  - name: hourly\n    enabled: " + ("true" if enabled else "false") + "\n"
            "    schedule: {frequency: hourly, start: '2026-03-27T02:00'}\n"
            "    catch_up: {policy: all, cap: 24}\n    managers: [{name: a, kind: noop}]\n"
        )
        assert main(["job", "load", str(jobs)]) == 0
        return capsys.readouterr().out

    load(True)
    assert Job.objects.get().enabled_at is None  # new: it catches up from its start
    assert "updated: job hourly" in load(False)
    assert Job.objects.get().enabled_at is None
    before = timezone.now()
    assert "updated: job hourly" in load(True)
    switched_on = Job.objects.get().enabled_at
    assert switched_on is not None and before <= switched_on <= timezone.now()
    assert "unchanged: job hourly" in load(True)  # on already: the record stays
    assert Job.objects.get().enabled_at == switched_on


def test_the_admin_records_when_a_job_is_switched_on(django_user_model: Any) -> None:
    from stratoflow.server.workflow.models import Job

    user = django_user_model.objects.create_superuser("boss", "boss@example.org", "pw-12345678")
    client = Client()
    client.force_login(user)
    job = Job.objects.create(name="hourly", frequency="hourly", start=T0, catch_up="all")
    url = f"/admin/workflow/job/{job.pk}/change/"
    form = {
        "name": "hourly",
        "description": "",
        "responsible": "",
        "frequency": "hourly",
        "interval": "1",
        "start_0": "2026-03-28",
        "start_1": "22:00:00",
        "timezone": "UTC",
        "end_0": "",
        "end_1": "",
        "catch_up": "all",
        "catch_up_cap": "24",
        "order": "0",
        "managers-TOTAL_FORMS": "0",
        "managers-INITIAL_FORMS": "0",
        "managers-MIN_NUM_FORMS": "0",
        "managers-MAX_NUM_FORMS": "1000",
    }

    def save(**changes: str) -> None:
        response = client.post(url, {**form, **changes})
        errors = re.findall(r'class="errorlist[^"]*">(.*?)</ul>', response.content.decode())
        assert response.status_code == 302, errors

    save()  # "enabled" not sent: switched off
    job.refresh_from_db()
    assert not job.enabled and job.enabled_at is None
    before = timezone.now()
    save(enabled="on")
    job.refresh_from_db()
    assert job.enabled and job.enabled_at is not None
    assert before <= job.enabled_at <= timezone.now()
    switched_on = job.enabled_at
    save(enabled="on", description="on already")
    job.refresh_from_db()
    assert job.enabled_at == switched_on
    page = client.get(url).content.decode()
    assert "Enabled at" in page and 'name="enabled_at"' not in page  # shown, not editable
