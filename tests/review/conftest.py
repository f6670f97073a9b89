"""Fixtures of the review tests: one small imported flight awaiting review, and its people.

The flight is a generated IAGOS-like flight (with injected faults) written to netCDF and
imported through the real importer with the default QC, so the review pages work on the same
stored columnar values and per-test probabilities as in production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import LazySettings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from stratoflow import open_dataset, write_dataset
from stratoflow.samples import generate_flight

PASSWORD = "correct horse battery staple"


@dataclass
class Review:
    """The scene: a flight awaiting review, its task, and users with various rights."""

    flight: object
    path: Path
    task: object
    job: object
    admin: User
    pi: User
    project_pi: User
    other_pi: User
    nobody: User


@pytest.fixture(autouse=True)
def _fast_passwords(settings: LazySettings) -> None:
    """Test users log in for real; a cheap hasher keeps creating five of them fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _user(username: str, **extra: object) -> User:
    return User.objects.create_user(
        username=username, email=f"{username}@example.org", password=PASSWORD, **extra
    )


def write_sample(directory: Path, *, seed: int = 11) -> Path:
    """Write one generated flight as IAGOS netCDF (a short hop: ~850 points per variable)."""
    path = directory / f"IAGOS_timeseries_{seed}.nc"
    ds = generate_flight(seed=seed, origin="FRA", destination="MUC", step_s=4).dataset
    write_dataset(ds, path, writer="netcdf", layout="iagos")
    return path


def import_sample(path: Path) -> object:
    """Import ``path`` with the default QC, as ``portal/<name>``; returns its Flight."""
    from stratoflow.importers import import_file
    from stratoflow.server.catalog.models import Flight

    result = import_file(path, identity=f"portal/{path.name}")
    return Flight.objects.get(identifier=result.flight)


def import_corrected(review: Review, tmp_path: Path) -> object:
    """The provider sends a corrected file of the review's flight (same identity, other
    bytes: CO_P1[5] = 99), imported as above: a new version of its series. Returns the
    Flight."""
    ds = open_dataset(review.path)
    ds["CO_P1"].values[5] = 99.0
    corrected = tmp_path / "corrected" / review.path.name
    corrected.parent.mkdir()
    write_dataset(ds, corrected, writer="netcdf", layout="iagos")
    return import_sample(corrected)


@pytest.fixture
def review(tmp_path: Path, db: None) -> Review:
    from stratoflow.jobs.states import TaskState
    from stratoflow.server.catalog.models import Platform, Project
    from stratoflow.server.review.models import ReviewAssignment
    from stratoflow.server.workflow.models import Job, Task, TaskManager

    path = write_sample(tmp_path)
    flight = import_sample(path)
    project = Project.objects.create(name="IAGOS-CORE")
    platform = flight.platform  # type: ignore[attr-defined]
    platform.project = project
    platform.save()
    other = Platform.objects.create(name="D-OTHER")

    admin = _user("admin", is_staff=True)
    pi = _user("pi")
    project_pi = _user("project-pi")
    other_pi = _user("other-pi")
    nobody = _user("nobody")
    ReviewAssignment.objects.create(user=pi, platform=platform)
    ReviewAssignment.objects.create(user=project_pi, project=project)
    ReviewAssignment.objects.create(user=other_pi, platform=other)

    job = Job.objects.create(name="ozone", responsible=admin)
    manager = TaskManager.objects.create(job=job, name="import", kind=TaskManager.Kind.IMPORT)
    task = Task.objects.create(
        manager=manager,
        key=f"portal/{flight.identifier}@x",  # type: ignore[attr-defined]
        subject=f"IAGOS_timeseries_{flight.identifier}.nc",  # type: ignore[attr-defined]
        state=TaskState.AWAITING_REVIEW.value,
        details={"flight": flight.identifier},  # type: ignore[attr-defined]
        finished_at=timezone.now() - timedelta(hours=1),
    )
    return Review(flight, path, task, job, admin, pi, project_pi, other_pi, nobody)


def page_token(client: Client, flight: str) -> str:
    """The review state the approve form of the flight's page carries (what the PI saw)."""
    page = client.get(f"/review/flight/{flight}/").content.decode()
    form = page[page.index('id="approve-form"') :]
    match = re.search(r'name="reviewed" value="([0-9a-f]+)"', form[: form.index("</form>")])
    assert match, "the approve form carries no reviewed state"
    return match.group(1)
