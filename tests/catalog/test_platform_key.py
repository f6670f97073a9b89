"""One platform, one row: the stored, unique platform key and the merge of the rows made
under two spellings before it (migration ``catalog/0007_platform_merge``).

Before the key, ``NASA B200 Aircraft`` (ICARTT header) and ``NASA B-200 Aircraft`` (the
archive's netCDF) became two platform rows, their flights, aircraft and review assignments
split between them; and two imports at once could still create two spellings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from stratoflow.dataset import make_dataset

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("catalog", "0005_flight_identity")  # before 0006_platform_key
KEY = "nasa-b-200-aircraft"


@pytest.fixture
def before() -> Iterator[tuple[Any, Callable[[], None]]]:
    """The database migrated back to before the platform key, its models as they were then,
    and a function running the migrations after it; at the end, the latest schema again."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    apps = executor.loader.project_state(BEFORE).apps

    def migrate() -> None:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    yield apps, migrate
    migrate()


def test_rows_of_one_platform_spelt_differently_are_merged_into_the_oldest(
    before: tuple[Any, Callable[[], None]], caplog: pytest.LogCaptureFixture
) -> None:
    """Flights, the aircraft and the PIs' assignments of the three spellings end on the
    oldest row; what only a later row said (description, project) is kept."""
    apps, migrate = before
    platform, flight = apps.get_model("catalog", "Platform"), apps.get_model("catalog", "Flight")
    aircraft, user = apps.get_model("catalog", "Aircraft"), apps.get_model("auth", "User")
    assignment = apps.get_model("review", "ReviewAssignment")
    project = apps.get_model("catalog", "Project").objects.create(name="ACT-America")
    oldest = platform.objects.create(name="NASA B200 Aircraft")
    hyphen = platform.objects.create(
        name="NASA B-200 Aircraft", description="King Air", project=project
    )
    snake = platform.objects.create(name="nasa_b200_aircraft", description="King Air")
    other = platform.objects.create(name="D-AIGT")
    for identifier, row in [("a", oldest), ("b", hyphen), ("c", snake), ("d", other)]:
        flight.objects.create(identifier=identifier, platform=row)
    aircraft.objects.create(registration="N53W", platform=hyphen)
    alice, bob = (user.objects.create(username=name) for name in ("alice", "bob"))
    assignment.objects.create(user=alice, platform=hyphen)
    assignment.objects.create(user=bob, platform=snake)

    with caplog.at_level(logging.INFO, logger="stratoflow.migrations"):
        migrate()

    from stratoflow.server.catalog.models import Aircraft, Flight, Platform
    from stratoflow.server.review.models import ReviewAssignment

    kept = Platform.objects.get(pk=oldest.pk)
    assert list(Platform.objects.order_by("pk").values_list("name", "key")) == [
        ("NASA B200 Aircraft", KEY),
        ("D-AIGT", "d-aigt"),
    ]
    assert (kept.description, kept.project_id) == ("King Air", project.pk)
    assert dict(Flight.objects.values_list("identifier", "platform")) == {
        "a": kept.pk, "b": kept.pk, "c": kept.pk, "d": other.pk,
    }  # fmt: skip
    assert Aircraft.objects.get().platform == kept
    assert set(ReviewAssignment.objects.values_list("user__username", "platform")) == {
        ("alice", kept.pk),
        ("bob", kept.pk),
    }
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_rows_that_cannot_be_merged_are_left_named_and_merged_once_resolved(
    before: tuple[Any, Callable[[], None]], caplog: pytest.LogCaptureFixture, admin_client: Any
) -> None:
    """An aircraft on two rows, two descriptions, one PI assigned to two rows: merging would
    break a unique rule or decide between them. Those rows stay (found by their exact name
    and by any spelling) and the data manager is told which and why; once resolved, the
    admin action merges them."""
    apps, migrate = before
    platform, flight = apps.get_model("catalog", "Platform"), apps.get_model("catalog", "Flight")
    aircraft, user = apps.get_model("catalog", "Aircraft"), apps.get_model("auth", "User")
    assignment = apps.get_model("review", "ReviewAssignment")
    oldest = platform.objects.create(name="NASA B200 Aircraft", description="King Air")
    flown = platform.objects.create(name="NASA B-200 Aircraft")
    described = platform.objects.create(name="NASA B200 aircraft", description="Beechcraft")
    assigned = platform.objects.create(name="nasa b200 AIRCRAFT")
    aircraft.objects.create(registration="N53W", platform=oldest)
    aircraft.objects.create(registration="N529NA", platform=flown)
    flight.objects.create(identifier="f", platform=flown)
    alice = user.objects.create(username="alice")
    for row in (oldest, assigned):
        assignment.objects.create(user=alice, platform=row)

    with caplog.at_level(logging.WARNING, logger="stratoflow.migrations"):
        migrate()

    from stratoflow.server.catalog.models import Aircraft, Flight, Platform
    from stratoflow.server.catalog.services import platform_get_or_create, platforms_named
    from stratoflow.server.review.models import ReviewAssignment

    rows = [oldest.pk, flown.pk, described.pk, assigned.pk]
    assert list(Platform.objects.order_by("pk").values_list("pk", "key")) == [
        (oldest.pk, KEY), (flown.pk, None), (described.pk, None), (assigned.pk, None),
    ]  # fmt: skip
    told = "\n".join(caplog.messages)
    for row, why in [
        (flown, "Aircraft.platform"),
        (described, "description differs ('King Air' and 'Beechcraft')"),
        (assigned, "ReviewAssignment.platform: both rows have user"),
    ]:
        assert f"platform #{row.pk} {row.name!r} not merged into #{oldest.pk}" in told
        assert why in told
    assert told.count("Merge into the platform of the same key") == 3
    assert sorted(platforms_named("NASA-B200-AIRCRAFT")) == rows
    assert platform_get_or_create("NASA B-200 Aircraft").pk == flown.pk  # its flights' row
    assert platform_get_or_create("NASA B 200 Aircraft").pk == oldest.pk

    # resolved: one aircraft and one description left, one assignment of alice
    Aircraft.objects.filter(registration="N529NA").update(platform=None)
    Platform.objects.filter(pk=described.pk).update(description="")
    response = admin_client.post(
        "/admin/catalog/platform/",
        {"action": "merge", "_selected_action": [flown.pk, described.pk, assigned.pk]},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert shown == [
        "NASA B-200 Aircraft, NASA B200 aircraft merged into NASA B200 Aircraft",
        f"nasa b200 AIRCRAFT not merged into NASA B200 Aircraft: ReviewAssignment.platform: "
        f"both rows have user {alice.pk}",
    ]
    ReviewAssignment.objects.filter(platform=assigned.pk).delete()
    admin_client.post(
        "/admin/catalog/platform/", {"action": "merge", "_selected_action": [oldest.pk]}
    )
    assert list(Platform.objects.values_list("pk", "key", "description")) == [
        (oldest.pk, KEY, "King Air")
    ]
    assert Flight.objects.get().platform_id == oldest.pk


def test_a_second_spelling_of_a_platform_cannot_be_saved() -> None:
    """The database refuses it (two imports at once cannot both create one), and the admin
    form says which platform it spells; a renamed platform gets its new key."""
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    from stratoflow.server.catalog.models import Platform

    first = Platform.objects.create(name="NASA B200 Aircraft")
    with pytest.raises(IntegrityError), transaction.atomic():
        Platform.objects.create(name="nasa_b-200 aircraft")
    with pytest.raises(ValidationError, match=f"platform 'NASA B200 Aircraft' \\(#{first.pk}\\)"):
        Platform(name="NASA B-200 AIRCRAFT").full_clean()
    Platform.objects.create(name="---")  # no letters or digits: no key, several allowed
    Platform.objects.create(name="***")
    first.name = "NASA P-3 Orion"
    first.save(update_fields=["name"])
    assert Platform.objects.get(pk=first.pk).key == "nasa-p-3-orion"
    assert Platform.objects.create(name="NASA B-200 Aircraft").key == "nasa-b-200-aircraft"


@pytest.mark.postgres
def test_two_imports_creating_one_platform_at_once_make_one_row() -> None:
    """Both look the platform up, find none, and create it under their own spelling: the one
    that comes second waits for the first's transaction and takes its row."""
    from django.db import connection, transaction

    from stratoflow.server.catalog.models import Platform
    from stratoflow.server.catalog.services import platform_get_or_create

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time (PostgreSQL pass)")
    found: list[Any] = []
    pid: list[int] = []

    def second() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid.append(cursor.fetchone()[0])
            with transaction.atomic():
                found.append(platform_get_or_create("nasa_b-200 aircraft"))
        except BaseException as exc:  # reported by the test, not lost in the thread
            found.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=second)
    with transaction.atomic():
        first = platform_get_or_create("NASA B200 Aircraft")
        thread.start()
        deadline = time.monotonic() + 60  # a guard against a hang, not a measurement
        while thread.is_alive() and not _waits_for_a_lock(pid):
            assert time.monotonic() < deadline, "the second import neither waited nor ended"
            time.sleep(0.01)
    thread.join(60)
    assert found == [first]
    assert Platform.objects.count() == 1


def _waits_for_a_lock(pid: list[int]) -> bool:
    from django.db import connection

    if not pid:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s AND NOT granted)", pid)
        return bool(cursor.fetchone()[0])


def test_an_import_onto_a_flight_reads_the_flight_once() -> None:
    """The flight was looked up, and then looked up again by ``get_or_create``; and for a
    known flight the platform is not looked up at all."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stratoflow.server.catalog.models import Flight, Platform
    from stratoflow.server.catalog.services import series_import

    def imported(name: str, day: int) -> list[str]:
        times = np.array([f"2024-01-{day:02d}T12:00:00", f"2024-01-{day:02d}T13:00:00"], "M8[ns]")
        ds = make_dataset(
            times,
            {"O3": (np.array([40.0, 41.0]), {"units": "1e-9", "long_name": "ozone"})},
            attrs={"source_checksum": name, "flight_id": "F1", "platform": "D-AIGT"},
        )
        with CaptureQueriesContext(connection) as queries:
            series_import(ds, identity=name, size=1)
        return [q["sql"] for q in queries.captured_queries]

    table = Flight._meta.db_table
    for day, name in [(1, "a"), (2, "b")]:
        sql = imported(name, day)
        by_identifier = [q for q in sql if f'"{table}"."identifier" =' in q]
        assert len(by_identifier) == 1, by_identifier
        platform_reads = [q for q in sql if f'FROM "{Platform._meta.db_table}"' in q]
        assert len(platform_reads) == (1 if name == "a" else 0), platform_reads
    assert Flight.objects.get().platform == Platform.objects.get(name="D-AIGT")
