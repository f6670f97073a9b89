"""One flight's files from different formats land on one flight, in the catalog too; and the
flights imported before the identity rules changed are found under today's identifiers.

The real files are read in place: the ACT-America B200 merge of 2017-01-21 as ICARTT and as
the ORNL DAAC netCDF conversion (platform spelt ``NASA B200 Aircraft`` and ``NASA B-200
Aircraft``), and the merge and flag files of leg 2 of 2017-03-08.
"""

from __future__ import annotations

import io
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

ICT = "icartt/ACTAMERICA-mrg05-b200_merge_20170121_R0.ict"
NC = "icartt/ACTAMERICA-mrg05-b200_merge_20170121_R0.nc"
MERGE_L2 = "icartt/ACTAMERICA-mrg05-b200_merge_20170308_R0_L2.ict"
FLAGS_L2 = "icartt/ACTAMERICA-flag-metadata_B200_20170308_R0_L2.ict"
CARIBIC = "caribic_nasa_ames/OM_20200304_591_CPT_MUC_V01_valid0.txt"
BEFORE = ("catalog", "0004_flight_airport_names")


def _import(path: Path) -> str:
    from stratoflow.importers.series import import_file
    from stratoflow.readers.text_table import TrailingGarbageWarning

    if path.name.startswith("ACTAMERICA-flag-metadata"):
        with pytest.warns(TrailingGarbageWarning):  # the real file ends with NUL bytes
            return import_file(path, qc=False).flight
    return import_file(path, qc=False).flight


@pytest.mark.parametrize("order", [(ICT, NC), (NC, ICT)])
def test_the_icartt_file_and_its_netcdf_conversion_are_one_flight(
    shared_data: Path, order: tuple[str, str]
) -> None:
    """Imported in either order, the two files of one flight were two flights
    (``NASA-B200-Aircraft_20170121`` and ``merge_20170121``) and two platforms: the PI saw
    the flight twice. The platform keeps the name first given, for display."""
    from stratoflow.server.catalog.models import Flight, Platform, Series

    flights = [_import(shared_data / name) for name in order]
    assert flights == ["nasa-b-200-aircraft_20170121"] * 2
    flight = Flight.objects.get()
    first = "NASA B200 Aircraft" if order[0] == ICT else "NASA B-200 Aircraft"
    assert [p.name for p in Platform.objects.all()] == [first]
    assert flight.platform is not None and flight.platform.name == first
    # one variable, two versions: the second file's is current, as for any file of the flight
    o3 = Series.objects.filter(flight=flight, variable="O3_MixingRatio").order_by("version")
    assert [(s.version, s.is_current, s.source.reader) for s in o3] == [
        (1, False, "icartt" if order[0] == ICT else "cf_netcdf"),
        (2, True, "cf_netcdf" if order[0] == ICT else "icartt"),
    ]


@pytest.mark.parametrize(
    "spelling", ["NASA B200 Aircraft", "NASA B-200 Aircraft", "nasa_b200_aircraft"]
)
def test_a_selection_by_platform_finds_the_flight_in_any_spelling(
    shared_data: Path, spelling: str
) -> None:
    """``export --platform`` with the netCDF's spelling found nothing: the platform is
    filed under the name first given (the ICARTT header's)."""
    from stratoflow.exporters.selection import Selection, select

    _import(shared_data / ICT)
    _import(shared_data / NC)
    found = select(Selection(platform=spelling, level="any"))
    assert [f.flight.identifier for f in found] == ["nasa-b-200-aircraft_20170121"]
    assert select(Selection(platform="NASA B-2000 Aircraft", level="any")) == []


def test_a_conversion_of_another_day_stays_apart(shared_data: Path, tmp_path: Path) -> None:
    """The conversion under the name of another day contradicts its own data: not guessed
    onto the ICARTT flight, it keeps the flight it names itself, as before."""
    from stratoflow.server.catalog.models import Flight

    _import(shared_data / ICT)
    renamed = tmp_path / "ACTAMERICA-mrg05-b200_merge_20170122_R0.nc"
    shutil.copyfile(shared_data / NC, renamed)
    assert _import(renamed) == "merge_20170121"
    assert Flight.objects.count() == 2


def test_a_platform_spelt_otherwise_is_the_same_platform() -> None:
    from stratoflow.server.catalog.models import Platform
    from stratoflow.server.catalog.services import platform_get_or_create

    first = platform_get_or_create("NASA B200 Aircraft")
    assert platform_get_or_create("nasa_b-200 AIRCRAFT") == first
    assert platform_get_or_create("NASA B2000 Aircraft") != first
    assert list(Platform.objects.order_by("pk").values_list("name", flat=True)) == [
        "NASA B200 Aircraft",
        "NASA B2000 Aircraft",
    ]


# --- the data migration ---------------------------------------------------------------------


@pytest.fixture
def remigrate() -> Iterator[object]:
    """Runs the flight identity migration again over rows made to look as an older stratoflow
    left them (migrating back to 0004 changes nothing: the migration's reverse is a no-op),
    and the migrations after it (the tests go on importing with today's schema)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    def run() -> None:
        executor = MigrationExecutor(connection)
        executor.migrate([BEFORE])
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    yield run
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _imported_before(path: Path, identifier: str, *, source_flight: str | None) -> None:
    """Import ``path`` as an older stratoflow did: onto a flight ``identifier``, its source's
    ``flight`` attribute as the older reader made it (None: the reader named no flight)."""
    from stratoflow.server.catalog.models import Flight, SourceFile

    row = Flight.objects.get(identifier=_import(path))
    for source in SourceFile.objects.filter(series__flight=row).distinct():
        attributes = dict(source.attributes)
        attributes.pop("flight_label", None)
        if source_flight is None:
            attributes.pop("flight", None)
        else:
            attributes["flight"] = source_flight
        source.attributes = attributes
        source.save(update_fields=["attributes"])
    row.identifier = identifier
    row.save(update_fields=["identifier"])


def test_flights_named_by_older_rules_are_joined_under_today_s(
    shared_data: Path, tmp_path: Path, remigrate: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Flights the first ICARTT rule named after whole file names (the merge and the flag file
    of one flight: two flights), the second after the platform as spelt, and the netCDF
    conversion after its label, are joined under today's identifiers: one variable's
    versions numbered in import order, the last current. A revision imported afterwards is
    a new version on the one flight, not a flight of its own; a flight of another reader
    stays as it was."""
    from django.core.management import call_command

    from stratoflow.importers.series import import_file
    from stratoflow.server.catalog.models import Flight, Series

    merge_flags, merge_nc = "nasa-b-200-aircraft_20170308_L2", "nasa-b-200-aircraft_20170121"
    file_named = {name: name.split("/")[1].removesuffix(".ict") for name in (MERGE_L2, FLAGS_L2)}
    for name, identifier in file_named.items():
        _imported_before(shared_data / name, identifier, source_flight=None)
    _imported_before(shared_data / ICT, "NASA-B200-Aircraft_20170121",
                     source_flight="NASA-B200-Aircraft_20170121")  # fmt: skip
    _imported_before(shared_data / NC, "merge_20170121", source_flight="merge_20170121")
    caribic = _import(shared_data / CARIBIC)
    assert Flight.objects.count() == 5
    with caplog.at_level(logging.INFO, logger="stratoflow.migrations"):
        remigrate()  # type: ignore[operator]

    assert sorted(Flight.objects.values_list("identifier", flat=True)) == sorted(
        [merge_flags, merge_nc, caribic]
    )
    o3 = Series.objects.filter(flight__identifier=merge_nc, variable="O3_MixingRatio")
    assert [(s.version, s.is_current, s.source.reader) for s in o3.order_by("version")] == [
        (1, False, "icartt"),
        (2, True, "cf_netcdf"),
    ]
    lat = Series.objects.filter(flight__identifier=merge_flags, variable="LATITUDE")
    assert [(s.version, s.is_current, s.source.identity) for s in lat.order_by("version")] == [
        (1, False, MERGE_L2.split("/")[1]),
        (2, True, FLAGS_L2.split("/")[1]),
    ]
    for identifier in (merge_flags, merge_nc):
        flight = Flight.objects.get(identifier=identifier)
        current = Series.objects.filter(flight=flight, is_current=True)
        assert flight.time_start == min(s.time_start for s in current)
        assert flight.platform is not None and flight.platform.name == "NASA B200 Aircraft"
    assert "flight merge_20170121 joined into nasa-b-200-aircraft_20170121" in caplog.messages
    out = io.StringIO()
    call_command("flights_identity", stdout=out)
    assert out.getvalue() == "every flight is under the identifier its files name\n"

    revised = tmp_path / "ACTAMERICA-mrg05-b200_merge_20170308_R1_L2.ict"
    text = (shared_data / MERGE_L2).read_bytes()
    revised.write_bytes(text.replace(b"REVISION: R0", b"REVISION: R1", 1))
    assert import_file(revised, qc=False).flight == merge_flags
    assert Flight.objects.count() == 3
    o3 = Series.objects.filter(flight__identifier=merge_flags, variable="O3_MixingRatio")
    assert [(s.version, s.is_current) for s in o3.order_by("version")] == [(1, False), (2, True)]
    assert Series.objects.filter(
        flight__identifier=merge_flags, variable="Maneuver_flag", is_current=True
    ).exists()


def test_a_renamed_flight_takes_what_names_it_along(shared_data: Path, remigrate: object) -> None:
    """A reviewed and exported flight of the second rule is renamed; the task that imported
    it and its export records and version claims name it by its identifier, and follow."""
    from stratoflow.server.catalog.models import Flight
    from stratoflow.server.exports.models import ExportRecord, ExportVersion
    from stratoflow.server.workflow.models import Job, Task, TaskManager

    old = "NASA-B200-Aircraft_20170121"
    _imported_before(shared_data / ICT, old, source_flight=old)
    flight = Flight.objects.get()
    manager = TaskManager.objects.create(job=Job.objects.create(name="j"), name="m", kind="import")
    task = Task.objects.create(manager=manager, key="k", details={"flight": old, "number": 1})
    ExportRecord.objects.create(
        subject=old, flight=flight, format="netcdf", fingerprint="f" * 64, version=1,
        writer="netcdf", file_name="x.nc", sha256="0" * 64,
    )  # fmt: skip
    ExportVersion.objects.create(subject=old, format="netcdf", fingerprint="f" * 64, version=1)
    remigrate()  # type: ignore[operator]
    flight.refresh_from_db()
    assert flight.identifier == "nasa-b-200-aircraft_20170121"
    task.refresh_from_db()
    assert task.details == {"flight": flight.identifier, "number": 1}
    assert (
        ExportRecord.objects.get().subject
        == ExportVersion.objects.get().subject
        == (flight.identifier)
    )


def test_flights_with_review_records_are_not_joined(
    shared_data: Path, remigrate: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A PI's manual flag on the conversion's flight, which holds the same variables as the
    ICARTT file's: joining would put the flag and two current versions on one flight without
    the PI. Both are left as they are, and the data manager is told, by the migration's log
    and later by ``stratoflow manage flights_identity``."""
    from django.core.management import call_command

    from stratoflow.server.catalog.models import Flight
    from stratoflow.server.review.models import ManualFlag

    old = "NASA-B200-Aircraft_20170121"
    _imported_before(shared_data / ICT, old, source_flight=old)
    _imported_before(shared_data / NC, "merge_20170121", source_flight="merge_20170121")
    flagged = Flight.objects.get(identifier="merge_20170121")
    ManualFlag.objects.create(
        flight=flagged, variable="O3_MixingRatio", time_start=flagged.time_start,
        time_end=flagged.time_end, flag=3, comment="spikes",
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="stratoflow.migrations"):
        remigrate()  # type: ignore[operator]
    assert sorted(Flight.objects.values_list("identifier", flat=True)) == [old, "merge_20170121"]
    assert any("not joined" in m and "flights_identity" in m for m in caplog.messages)
    out = io.StringIO()
    call_command("flights_identity", stdout=out)
    assert out.getvalue().splitlines()[:2] == [
        f"{old}: its files now name nasa-b-200-aircraft_20170121",
        "merge_20170121: its files now name nasa-b-200-aircraft_20170121",
    ]
    assert "2 flight(s) under an older identifier" in out.getvalue()
