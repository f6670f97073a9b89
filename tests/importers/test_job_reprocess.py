"""``stratoflow job reprocess``: a changed processing configuration, applied to imported files.

A job imports two flights with calibration A; the PI approves them and flags a range by hand.
The manager's calibration is corrected to B. A dry run lists both files with what changed and
touches nothing; re-processing makes version 2 of every series of both files (values moved as
calibration B says, version 1 kept), the manual flag is replayed, the flights await review again
and the export still sees the approved version; asking again does nothing. ``--flight`` limits
the selection; a staged copy that was deleted is fetched again from the provider, and reported by
name when the provider now has other bytes. Going
back to calibration A restores version 1 instead of making a version 3.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import LazySettings

from _jobs import one_manager_job, transfer_handler
from stratoflow import write_dataset
from stratoflow.cli import main
from stratoflow.dataset import make_dataset

from ._helpers import calibrated, catalog_instrument, write_pressure_flight

pytestmark = pytest.mark.django_db(transaction=True)

FLIGHTS = {"RP-A": "2024-03-01T00:00:00", "RP-B": "2024-03-05T00:00:00"}


def _write(folder: Path, flight: str, start: str) -> Path:
    return write_pressure_flight(folder / f"{flight}.nc", flight, start, 300)


@pytest.fixture
def job(tmp_path: Path, settings: LazySettings) -> Any:
    """A job whose import manager has imported both flights with calibration A (offset 1)."""
    from stratoflow.server.workflow.services import job_run

    settings.STAGING_DIR = tmp_path / "staging"
    folder = tmp_path / "portal"
    folder.mkdir()
    for flight, start in FLIGHTS.items():
        _write(folder, flight, start)
    job = _import_job("flights", folder)
    report = job_run(job, workers=1)
    assert report.state == "succeeded", report
    assert report.managers[0].states == {"awaiting_review": 2}
    return job


def _import_job(name: str, folder: Path) -> Any:
    """The job ``name``: one import manager ``import`` over the ``*.nc`` files of ``folder``,
    with calibration A (offset 1)."""
    transfer = transfer_handler(
        f"{name}-dir",
        provider="portal",
        transfer_type="local",
        auth="none",
        transfer_options={"root": str(folder), "pattern": "*.nc"},
    )
    return one_manager_job(
        name,
        manager="import",
        kind="import",
        transfer=transfer,
        options={"processing": calibrated(1.0)},
    )


def _recalibrate(job: Any, offset: float) -> None:
    manager = job.managers.get(name="import")
    manager.options = {**manager.options, "processing": calibrated(offset)}
    manager.full_clean()
    manager.save()


def _counts() -> tuple[int, int, int, int]:
    from stratoflow.server.catalog.models import Segment, Series
    from stratoflow.server.workflow.models import JobRun, Task

    return (
        Series.objects.count(),
        Segment.objects.count(),
        JobRun.objects.count(),
        Task.objects.count(),
    )


def _versions(flight: str, variable: str) -> list[tuple[int, bool]]:
    from stratoflow.server.catalog.models import Series

    rows = Series.objects.filter(flight__identifier=flight, variable=variable).order_by("version")
    return [(s.version, s.is_current) for s in rows]


def test_reprocess_makes_new_versions_for_review_once(
    job: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.exporters.selection import Selection, select
    from stratoflow.server.catalog.models import Flight, Series
    from stratoflow.server.catalog.selectors import series_arrays, series_qc_flags
    from stratoflow.server.review.selectors import review_tasks
    from stratoflow.server.review.services import flight_approve, flight_flag_range

    flights = {f.identifier: f for f in Flight.objects.filter(identifier__in=FLIGHTS)}
    start = datetime(2024, 3, 1, 0, 1, tzinfo=UTC)
    end = datetime(2024, 3, 1, 0, 2, tzinfo=UTC)
    flight_flag_range(
        flights["RP-A"], user=None, variables=["p"], start=start, end=end, flag=3, comment="spike"
    )
    for row in flights.values():
        flight_approve(row, user=None)
        assert not review_tasks(row).exists()
    capsys.readouterr()

    # nothing changed yet: nothing to do
    assert main(["job", "reprocess", "flights", "--dry-run"]) == 0
    assert "0 file(s) to re-process, 2 unchanged" in capsys.readouterr().out

    _recalibrate(job, 3.0)
    before = _counts()
    assert main(["job", "reprocess", "flights", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "import: 2 file(s) to re-process, 0 unchanged" in out
    for flight in FLIGHTS:
        assert f"{flight}.nc (flight {flight}): configuration " in out
    assert out.count("processing[0].params.pre.parameters.offset.value: 1.0 -> 3.0") == 2
    assert "dry run: nothing changed" in out
    assert _counts() == before
    assert all(not review_tasks(f).exists() for f in flights.values())

    assert main(["job", "reprocess", "flights", "--progress", "plain"]) == 0
    out = capsys.readouterr().out
    assert "import: 2 task(s) queued; 2 awaiting_review" in out and ": succeeded" in out
    for flight in FLIGHTS:
        for variable in ("p", "T"):
            assert _versions(flight, variable) == [(1, False), (2, True)]
        old, new = (
            Series.objects.get(flight__identifier=flight, variable="p", version=v) for v in (1, 2)
        )
        assert old.source_id == new.source_id  # the same bytes, processed anew
        np.testing.assert_allclose(series_arrays(new)["value"] - series_arrays(old)["value"], 2.0)
        t_old, t_new = (
            Series.objects.get(flight__identifier=flight, variable="T", version=v) for v in (1, 2)
        )
        np.testing.assert_array_equal(series_arrays(t_new)["value"], series_arrays(t_old)["value"])
        assert new.provenance["config_key"] != old.provenance["config_key"]
        # the flight is back in the PI's queue ...
        tasks = list(review_tasks(flights[flight]))
        assert (
            len(tasks) == 1 and tasks[0].details["reprocess"]["to"] == new.provenance["config_key"]
        )
    # ... the manual flag holds on the new version ...
    p2 = Series.objects.get(flight__identifier="RP-A", variable="p", version=2)
    flags = series_qc_flags(p2)
    assert flags is not None
    times = series_arrays(p2)["time"]
    inside = (times >= np.datetime64("2024-03-01T00:01:00")) & (
        times <= np.datetime64("2024-03-01T00:02:00")
    )
    assert inside.sum() == 61 and (flags[inside] == 3).all() and (flags[~inside] != 3).any()
    # ... and an export still delivers what the PI approved, until they approve again
    released = {item.flight.identifier: item for item in select(Selection(level="L1"))}
    assert set(released) == set(FLIGHTS)
    assert {v.series.version for item in released.values() for v in item.series} == {1}

    # asking again does nothing, neither a run nor a version
    after = _counts()
    assert main(["job", "reprocess", "flights"]) == 0
    out = capsys.readouterr().out
    assert "0 file(s) re-processed, 2 unchanged" in out and "no run made" in out
    assert _counts() == after
    # and the normal job run does not import the files again either
    from stratoflow.server.workflow.services import job_run

    assert job_run(job, workers=1).managers[0].collected == 0
    assert Series.objects.count() == after[0]


def test_flight_selection_and_a_missing_staged_copy(
    job: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.workflow.models import Task

    _recalibrate(job, 5.0)
    capsys.readouterr()
    assert main(["job", "reprocess", "flights", "--flight", "RP-B", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "1 file(s) to re-process" in out and "1 outside the selection" in out
    assert "RP-B.nc (flight RP-B)" in out and "RP-A.nc" not in out
    assert main(["job", "reprocess", "flights", "--since", "2024-03-04", "--dry-run"]) == 0
    assert "RP-B.nc (flight RP-B)" in (out := capsys.readouterr().out) and "RP-A.nc" not in out

    # A staged copy cleaned away is fetched again from the provider (same bytes only) ...
    subject = Task.objects.get(subject__endswith="RP-A.nc").subject
    staged = Path(Task.objects.get(subject=subject).details["staged_path"])
    staged.unlink()
    assert main(["job", "reprocess", "flights", "--flight", "RP-A", "--dry-run"]) == 0
    assert "RP-A.nc (flight RP-A)" in capsys.readouterr().out
    assert staged.is_file()
    # ... but not when the provider now serves other bytes under that name: said, not guessed
    staged.unlink()
    portal = Path(job.managers.get(name="import").transfer.transfer_options["root"])
    with (portal / "RP-A.nc").open("ab") as fh:
        fh.write(b"\0")
    assert main(["job", "reprocess", "flights"]) == 1  # a file was left as it was: say so
    out = capsys.readouterr().out
    assert "1 file(s) re-processed" in out and "1 cannot be re-processed" in out
    assert f"cannot re-process {subject}" in out and str(staged) in out
    assert "could not be fetched again" in out and "the provider now serves other bytes" in out
    assert "put the file back there" in out and not staged.exists()
    assert _versions("RP-B", "p") == [(1, False), (2, True)]
    assert _versions("RP-A", "p") == [(1, True)]
    # the run records what it could not do
    from stratoflow.server.workflow.models import JobRun

    run = JobRun.objects.filter(summary__has_key="reprocess").get()
    assert run.state == "succeeded"
    assert [b["flight"] for b in run.summary["reprocess"]["blocked"]] == ["RP-A"]


def test_a_renamed_copy_is_reprocessed_as_the_file_it_copies(
    job: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second job gets flight RP-A under another name: its import recognises the bytes
    (nothing new), but re-processing that job said the file was "not in the catalog now"
    and left it as it was. The copy is now found by its content digest, as the import finds
    it, and re-processed as the catalog's file: a new version from the same source row."""
    from stratoflow.server.catalog.models import Series, SourceFile
    from stratoflow.server.catalog.selectors import series_arrays
    from stratoflow.server.workflow.services import job_run

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    original = Path(job.managers.get(name="import").transfer.transfer_options["root"])
    (mirror / "copy-of-A.nc").write_bytes((original / "RP-A.nc").read_bytes())
    copies = _import_job("mirror", mirror)
    report = job_run(copies, workers=1)
    assert report.managers[0].states == {"done": 1}  # the same bytes: nothing new
    assert _versions("RP-A", "p") == [(1, True)]

    _recalibrate(copies, 3.0)
    capsys.readouterr()
    assert main(["job", "reprocess", "mirror", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "not in the catalog" not in out
    assert "import: 1 file(s) to re-process, 0 unchanged" in out
    assert "copy-of-A.nc (flight RP-A)" in out
    assert "the same bytes as RP-A.nc, re-processed as that file" in out

    assert main(["job", "reprocess", "mirror"]) == 0
    assert "1 file(s) re-processed" in capsys.readouterr().out
    assert _versions("RP-A", "p") == [(1, False), (2, True)]
    old, new = (
        Series.objects.get(flight__identifier="RP-A", variable="p", version=v) for v in (1, 2)
    )
    assert new.source_id == old.source_id == SourceFile.objects.get(identity="RP-A.nc").pk
    np.testing.assert_allclose(series_arrays(new)["value"] - series_arrays(old)["value"], 2.0)
    assert SourceFile.objects.filter(identity="copy-of-A.nc").count() == 0

    # asking again does nothing; the first job's own plan sees the change as its file's
    assert main(["job", "reprocess", "mirror"]) == 0
    assert "0 file(s) re-processed, 1 unchanged" in capsys.readouterr().out
    assert main(["job", "reprocess", "flights", "--dry-run"]) == 0
    assert "restore v1" in capsys.readouterr().out
    # going back through the copy restores version 1, recorded with the copy's task
    from stratoflow.server.review.models import ReviewEvent

    _recalibrate(copies, 1.0)
    assert main(["job", "reprocess", "mirror"]) == 0
    assert _versions("RP-A", "p") == [(1, True), (2, False)]
    restored = ReviewEvent.objects.get(action="restore")
    assert restored.task is not None and restored.task.subject == "copy-of-A.nc"


def test_unknown_or_non_import_manager_is_refused(
    job: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.workflow.models import TaskManager

    TaskManager.objects.create(job=job, name="drill", kind="noop", order=5)
    assert main(["job", "reprocess", "flights", "--manager", "nope"]) == 1
    assert "no task manager 'nope' (it has: import, drill)" in capsys.readouterr().err
    assert main(["job", "reprocess", "flights", "--manager", "drill"]) == 1
    assert "cannot re-process files" in capsys.readouterr().err


def test_an_abandoned_reprocess_run_resumes_only_its_own_managers(job: Any, tmp_path: Path) -> None:
    """A re-processing run whose driver died is finished by the next ``job run``; the
    resumed run touches only its managers (not the job's others), the new run all of them."""
    from datetime import timedelta

    from django.utils import timezone

    from stratoflow.server.workflow.models import JobRun, Task, TaskManager
    from stratoflow.server.workflow.reprocess import Selection
    from stratoflow.server.workflow.services import _queue, job_run

    log = tmp_path / "noop.log"
    TaskManager.objects.create(
        job=job, name="drill", kind="noop", order=5, options={"tasks": 1, "log": str(log)}
    )
    _recalibrate(job, 3.0)
    manager = job.managers.get(name="import")
    from stratoflow.server.workflow.managers import ImportManager

    plan = ImportManager().reprocess(manager, Selection())
    assert len(plan.items) == 2
    stale = timezone.now() - timedelta(hours=1)
    run = JobRun.objects.create(
        job=job,
        scheduled_for=stale,
        state="running",
        owner="dead-host:1:x",
        heartbeat_at=stale,
        summary={"reprocess": {"managers": ["import"], "selection": {}, "blocked": []}},
    )
    assert _queue(manager, run, (i.unit() for i in plan.items), per_run=False) == 2

    report = job_run(job, workers=1)
    (resumed,) = report.resumed
    assert resumed.run_id == run.pk and resumed.state == "succeeded"
    assert [m.manager for m in resumed.managers] == ["import"]
    assert resumed.managers[0].states == {"awaiting_review": 2}
    assert [m.manager for m in report.managers] == ["import", "drill"]
    assert len(log.read_text().splitlines()) == 1  # the noop ran once: in the new run only
    run.refresh_from_db()
    assert run.summary["reprocess"]["managers"] == ["import"]
    assert Task.objects.filter(run=run).count() == 2
    assert _versions("RP-A", "p") == [(1, False), (2, True)]


def test_the_plan_gives_the_key_an_import_stores(tmp_path: Path) -> None:
    """import_plan and import_file agree (raw and processed), else reprocess never settles."""
    from stratoflow.importers.series import import_file, import_plan
    from stratoflow.server.catalog.models import Series

    path = _write(tmp_path, "RP-K", "2024-04-01T00:00:00")
    for processing in ([], calibrated(2.0)):
        planned = import_plan(path, identity="k/RP-K.nc", processing=processing, level="L1")
        result = import_file(
            path, identity="k/RP-K.nc", processing=processing, level="L1", qc=False
        )
        assert result.created
        made = Series.objects.filter(pk__in=result.series_ids)
        stored = {s.provenance["config_key"] for s in made}
        assert stored == {planned.config_key}
        assert planned.checksum == Series.objects.get(pk=result.series_ids[0]).source.checksum


def test_a_corrected_catalog_calibration_is_picked_up(
    job: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Calibrations taken from the catalog: correcting the calibration row is a change too."""
    from stratoflow.server.catalog.models import Calibration, Series
    from stratoflow.server.catalog.selectors import series_arrays

    catalog_instrument(
        "pressure sensor/1",
        "sensor",
        aircraft="D-REPR",
        deployed="2024-01-01",
        calibrated="2023-12-31T00:00:00Z",
        offset=1.0,
        units="hPa",
    )
    manager = job.managers.get(name="import")
    manager.options = {
        **manager.options,
        "instrument": "pressure sensor/1",
        "processing": [{"step": "calibration", "params": {"variable": "p"}}],
    }
    manager.full_clean()
    manager.save()
    capsys.readouterr()
    # same offset, but the step now reads the catalog's calibration (another time): a change
    assert main(["job", "reprocess", "flights"]) == 0
    assert "2 file(s) re-processed" in capsys.readouterr().out
    assert _versions("RP-A", "p") == [(1, False), (2, True)]

    calibration = Calibration.objects.get()
    calibration.parameters = {**calibration.parameters, "offset": {"value": 4.0, "units": "hPa"}}
    calibration.save()
    assert main(["job", "reprocess", "flights", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("pre.parameters.offset.value: 1.0 -> 4.0") == 2
    assert main(["job", "reprocess", "flights"]) == 0
    capsys.readouterr()
    v2, v3 = (
        Series.objects.get(flight__identifier="RP-B", variable="p", version=v) for v in (2, 3)
    )
    assert v3.is_current and not v2.is_current
    np.testing.assert_allclose(series_arrays(v3)["value"] - series_arrays(v2)["value"], 3.0)


def test_going_back_to_an_earlier_configuration_restores_its_version(
    job: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A -> B -> A: version 1 becomes current again (no row copied), the flight awaits review,
    the restore is in its history with the task that did it; the export keeps what the PI
    approved (version 2) until they approve again, then delivers version 1. Back and forth
    (B, A again) restores each time, with a task of its own."""
    from stratoflow.exporters.selection import Selection, select
    from stratoflow.server.catalog.models import Flight, Series
    from stratoflow.server.catalog.selectors import series_arrays, series_qc_flags
    from stratoflow.server.review.models import ReviewEvent
    from stratoflow.server.review.selectors import review_history, review_tasks
    from stratoflow.server.review.services import flight_approve, flight_flag_range
    from stratoflow.server.workflow.models import Task

    flights = {f.identifier: f for f in Flight.objects.filter(identifier__in=FLIGHTS)}
    _recalibrate(job, 3.0)
    assert main(["job", "reprocess", "flights"]) == 0
    # the PI approves version 2 and flags a range by hand while it is current
    for row in flights.values():
        flight_approve(row, user=None)
    start = datetime(2024, 3, 1, 0, 1, tzinfo=UTC)
    end = datetime(2024, 3, 1, 0, 2, tzinfo=UTC)
    flight_flag_range(
        flights["RP-A"], user=None, variables=["p"], start=start, end=end, flag=3, comment="spike"
    )
    v1 = Series.objects.get(flight__identifier="RP-A", variable="p", version=1)
    before_restore = series_qc_flags(v1)
    assert before_restore is not None and not (before_restore == 3).any()

    _recalibrate(job, 1.0)
    capsys.readouterr()
    before = _counts()
    assert main(["job", "reprocess", "flights", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "import: 2 file(s) to re-process, 0 unchanged" in out
    assert out.count("restore v1 (made with this configuration before)") == 2
    assert out.count("processing[0].params.pre.parameters.offset.value: 3.0 -> 1.0") == 2
    assert _counts() == before

    assert main(["job", "reprocess", "flights", "--progress", "plain"]) == 0
    out = capsys.readouterr().out
    assert "import: 2 task(s) queued; 2 awaiting_review" in out and ": succeeded" in out
    series, segments, runs, tasks = _counts()
    assert (series, segments) == before[:2]  # nothing copied, nothing made
    assert (runs, tasks) == (before[2] + 1, before[3] + 2)
    for flight in FLIGHTS:
        for variable in ("p", "T"):
            assert _versions(flight, variable) == [(1, True), (2, False)]
        restored = Series.objects.get(flight__identifier=flight, variable="p", version=1)
        (entry,) = restored.provenance["restorations"]
        assert entry["config_key"] == restored.provenance["config_key"]
        assert {(r["variable"], r["version"]) for r in entry["replaced"]} == {("p", 2), ("T", 2)}
        # awaiting review again, and the history says what was restored by which task
        (task,) = review_tasks(flights[flight])
        assert task.details["restored"] and task.details["reprocess"]["restore"] == [1]
        event = ReviewEvent.objects.get(flight=flights[flight], action="restore")
        assert event.task == task and event.user is None
        assert event.details["run"] == task.run_id
        assert {(r["variable"], r["version"]) for r in event.details["restored"]} == {
            ("p", 1),
            ("T", 1),
        }
        summary = review_history(flights[flight])[0]["summary"]
        assert "restored" in summary and "p v1" in summary and "p v2" in summary
        # the values are calibration A's again
        assert series_arrays(restored)["value"][0] == pytest.approx(801.0)
    # the manual flag set on version 2 is replayed onto version 1 (a new run, derived) ...
    v1.refresh_from_db()
    flags = series_qc_flags(v1)
    assert flags is not None
    times = series_arrays(v1)["time"]
    inside = (times >= np.datetime64("2024-03-01T00:01:00")) & (
        times <= np.datetime64("2024-03-01T00:02:00")
    )
    assert inside.sum() == 61 and (flags[inside] == 3).all()
    a_event = ReviewEvent.objects.get(flight=flights["RP-A"], action="restore")
    assert len(a_event.details["qc_runs"]) == 1  # only p had a manual flag since its run
    b_event = ReviewEvent.objects.get(flight=flights["RP-B"], action="restore")
    assert b_event.details["qc_runs"] == []

    # ... the export still delivers the approved version 2, not the restored one ...
    released = {item.flight.identifier: item for item in select(Selection(level="L1"))}
    assert {v.series.version for item in released.values() for v in item.series} == {2}
    # ... until the PI approves again: then version 1, with the replayed flags
    flight_approve(flights["RP-A"], user=None)
    released = {item.flight.identifier: item for item in select(Selection(level="L1"))}
    assert {v.series.version for v in released["RP-A"].series} == {1}
    assert {v.series.version for v in released["RP-B"].series} == {2}
    p_a = next(v for v in released["RP-A"].series if v.series.variable == "p")
    assert p_a.qc_run is not None and p_a.qc_run.pk == a_event.details["qc_runs"][0]

    # asking again does nothing
    after = _counts()
    assert main(["job", "reprocess", "flights"]) == 0
    assert "0 file(s) re-processed, 2 unchanged" in capsys.readouterr().out
    assert _counts() == after

    # back to B: version 2 is restored; back to A: version 1 again, each by a task of its own
    for offset, current in ((3.0, 2), (1.0, 1)):
        _recalibrate(job, offset)
        assert main(["job", "reprocess", "flights", "--dry-run"]) == 0
        assert capsys.readouterr().out.count(f"restore v{current} (made with") == 2
        assert main(["job", "reprocess", "flights"]) == 0
        assert "2 task(s) queued; 2 awaiting_review" in capsys.readouterr().out
        for flight in FLIGHTS:
            expected = [(1, current == 1), (2, current == 2)]
            assert _versions(flight, "p") == expected == _versions(flight, "T")
    assert _counts()[:2] == after[:2]
    keys = sorted(Task.objects.filter(key__startswith="reprocess@").values_list("key", flat=True))
    assert len(keys) == len(set(keys)) == 8  # B, A, B again, A again, for two files
    assert (
        Series.objects.get(flight__identifier="RP-A", variable="p", version=1).provenance[
            "restorations"
        ][-1]["replaced"][0]["version"]
        == 2
    )
    assert len(v1.provenance["restorations"]) == 1
    v1.refresh_from_db()
    assert len(v1.provenance["restorations"]) == 2


def test_the_plan_follows_reference_files(tmp_path: Path) -> None:
    """A step reading a reference file: the plan names the same file (identity, checksum)."""
    from stratoflow.importers.series import import_file, import_plan
    from stratoflow.server.catalog.models import Series

    path = _write(tmp_path, "RP-M", "2024-04-02T00:00:00")
    t = np.datetime64("2024-04-02T00:00:00", "ns") + np.arange(300) * np.timedelta64(1, "s")
    extra = make_dataset(t, {"q": (np.linspace(1.0, 2.0, 300), {"units": "g/kg"})})
    stream = write_dataset(extra, tmp_path / "stream.nc", writer="netcdf")
    merge = [{"step": "merge", "params": {"streams": ["humidity"], "tolerance_s": 1.0}}]
    references = {"humidity": {"path": str(stream)}}
    planned = import_plan(path, identity="m/RP-M.nc", processing=merge, references=references)
    result = import_file(
        path, identity="m/RP-M.nc", processing=merge, references=references, qc=False
    )
    made = Series.objects.filter(pk__in=result.series_ids)
    assert {s.variable for s in made} == {"p", "T", "q"}
    assert {s.provenance["config_key"] for s in made} == {planned.config_key}
    assert planned.processing[0]["references"]["humidity"]["identity"] == str(stream)


def test_admin_action_queues_a_run_the_scheduler_executes(
    job: Any, admin_client: Any, tmp_path: Path
) -> None:
    from django.utils import timezone

    from stratoflow.server.workflow.models import JobRun, Task
    from stratoflow.server.workflow.scheduler import runs_due
    from stratoflow.server.workflow.services import run_execute

    _recalibrate(job, 3.0)
    Path(Task.objects.get(subject__endswith="RP-A.nc").details["staged_path"]).unlink()
    portal = Path(job.managers.get(name="import").transfer.transfer_options["root"])
    (portal / "RP-A.nc").unlink()  # gone at the provider too: cannot be fetched again
    response = admin_client.post(
        "/admin/workflow/job/",
        {"action": "reprocess", "_selected_action": [job.pk]},
        follow=True,
    )
    page = response.content.decode().lower()  # the admin capitalises its messages
    assert "flights: 1 file(s) to re-process in run" in page
    assert "cannot re-process rp-a.nc: its staged copy" in page
    assert "rp-a.nc: no longer offered" in page
    run = JobRun.objects.get(summary__has_key="reprocess")
    assert run.state == "pending" and Task.objects.filter(run=run, state="queued").count() == 1
    assert run in runs_due(timezone.now())
    report = run_execute(run)  # as the scheduler does
    assert report.state == "succeeded" and report.managers[0].states == {"awaiting_review": 1}
    assert _versions("RP-B", "p") == [(1, False), (2, True)]
    assert _versions("RP-A", "p") == [(1, True)]


def _qc_text(bad_max: float) -> str:
    """A QC configuration whose only profile checks ``T`` (250..260 K) against ``bad_max``."""
    return (
        "temperature:\n"
        "  match: {name: [T]}\n"
        "  units: [K]\n"
        "  tests:\n"
        "    - test: gross_range\n"
        f"      bad_min: 0\n      doubtful_min: 1\n"
        f"      doubtful_max: {bad_max - 1}\n      bad_max: {bad_max}\n"
    )


def _bad_t(flight: str) -> int:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.selectors import series_qc_flags

    series = Series.objects.get(flight__identifier=flight, variable="T", is_current=True)
    flags = series_qc_flags(series)
    assert flags is not None
    return int((flags == 3).sum())


def test_changed_qc_options_are_applied_by_reprocess(
    job: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QC is not part of a series' configuration key (a new QC run, not a new version), yet a
    job whose QC options or stored QC configuration changed must have its files QC'd anew by
    ``job reprocess``: once per change, with the flights back in review and no new version."""
    from stratoflow.server.catalog.models import QCConfiguration, QCRun, Series
    from stratoflow.server.catalog.qc_configurations import qc_configuration_save
    from stratoflow.server.review.selectors import review_tasks
    from stratoflow.server.review.services import flight_approve

    qc_configuration_save(QCConfiguration(name="t-limits", text=_qc_text(500.0)), user=None)
    manager = job.managers.get(name="import")
    manager.options = {**manager.options, "qc": {"config": "t-limits"}}
    manager.save()
    capsys.readouterr()
    assert main(["job", "reprocess", "flights", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "import: 2 file(s) to re-process, 0 unchanged" in out, out
    assert "qc.config: default_qc.yaml" in out and "-> t-limits v1" in out
    assert main(["job", "reprocess", "flights"]) == 0
    assert "2 awaiting_review" in capsys.readouterr().out
    series = Series.objects.count()
    assert {_bad_t(f) for f in FLIGHTS} == {0}
    for flight in Series.objects.filter(variable="T").values_list("flight", flat=True):
        run = QCRun.objects.filter(series__flight=flight, is_current=True).first()
        assert run is not None and run.config["qc_configuration"]["name"] == "t-limits"

    # nothing changed since: nothing to do
    from stratoflow.server.catalog.models import Flight

    for row in Flight.objects.filter(identifier__in=FLIGHTS):
        flight_approve(row, user=None)
    assert main(["job", "reprocess", "flights"]) == 0
    assert "0 file(s) re-processed, 2 unchanged" in capsys.readouterr().out

    # a new version of the stored configuration: the values above 255 K are now bad
    stored = QCConfiguration.objects.get(name="t-limits")
    stored.text = _qc_text(255.0)
    qc_configuration_save(stored, user=None)
    assert main(["job", "reprocess", "flights", "--dry-run"]) == 0
    assert "qc.config: t-limits v1" in capsys.readouterr().out
    assert main(["job", "reprocess", "flights"]) == 0
    capsys.readouterr()
    assert all(_bad_t(f) > 100 for f in FLIGHTS)
    assert all(review_tasks(f).exists() for f in Flight.objects.filter(identifier__in=FLIGHTS))

    # another evaluation method in the job's YAML options, reloaded: QC'd again
    manager.refresh_from_db()
    manager.options = {**manager.options, "qc": {"config": "t-limits", "evaluation": "vote"}}
    manager.save()
    assert main(["job", "reprocess", "flights", "--dry-run"]) == 0
    assert "qc.evaluation: worst -> vote" in capsys.readouterr().out
    assert main(["job", "reprocess", "flights"]) == 0
    capsys.readouterr()
    assert set(
        QCRun.objects.filter(is_current=True, series__variable="T").values_list(
            "evaluation", flat=True
        )
    ) == {"vote"}
    assert Series.objects.count() == series  # QC runs, never new versions
    assert main(["job", "reprocess", "flights"]) == 0
    assert "0 file(s) re-processed, 2 unchanged" in capsys.readouterr().out
