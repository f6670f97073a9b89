"""``stratoflow job reprocess``: a changed processing configuration, applied to imported files.

A job imports two flights with calibration A; the PI approves them and flags a range by hand.
The manager's calibration is corrected to B. A dry run lists both files with what changed and
touches nothing; re-processing makes version 2 of every series of both files (values moved as
calibration B says, version 1 kept), the manual flag is replayed, the flights await review again
and the export still sees the approved version; asking again does nothing. ``--flight`` limits
the selection; a file whose staged copy was deleted is reported by name, not crashed on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import LazySettings

from stratoflow import write_dataset
from stratoflow.cli import main
from stratoflow.dataset import make_dataset

pytestmark = pytest.mark.django_db(transaction=True)

FLIGHTS = {"RP-A": "2024-03-01T00:00:00", "RP-B": "2024-03-05T00:00:00"}


def _calibration(offset: float) -> list[dict[str, Any]]:
    pre = {
        "time": "2024-01-01T00:00:00",
        "function": "linear",
        "parameters": {
            "offset": {"value": offset, "units": "hPa"},
            "slope": {"value": 1.0, "units": "1"},
        },
    }
    return [{"step": "calibration", "params": {"variable": "p", "pre": pre}}]


def _write(folder: Path, flight: str, start: str) -> Path:
    t = np.datetime64(start, "ns") + np.arange(300) * np.timedelta64(1, "s")
    ds = make_dataset(
        t,
        {
            "p": (np.linspace(800.0, 900.0, 300), {"units": "hPa", "long_name": "pressure"}),
            "T": (np.linspace(250.0, 260.0, 300), {"units": "K", "long_name": "temperature"}),
        },
        attrs={"flight_id": flight},
    )
    return write_dataset(ds, folder / f"{flight}.nc", writer="netcdf")


@pytest.fixture
def job(tmp_path: Path, settings: LazySettings) -> Any:
    """A job whose import manager has imported both flights with calibration A (offset 1)."""
    from stratoflow.server.workflow.models import DataProvider, Job, TaskManager, TransferHandler
    from stratoflow.server.workflow.services import job_run

    settings.STAGING_DIR = tmp_path / "staging"
    folder = tmp_path / "portal"
    folder.mkdir()
    for flight, start in FLIGHTS.items():
        _write(folder, flight, start)
    provider = DataProvider.objects.create(name="portal")
    transfer = TransferHandler.objects.create(
        name="portal-dir",
        provider=provider,
        transfer_type="local",
        auth="none",
        transfer_options={"root": str(folder), "pattern": "*.nc"},
    )
    job = Job.objects.create(name="flights")
    TaskManager.objects.create(
        job=job,
        name="import",
        kind="import",
        transfer=transfer,
        options={"processing": _calibration(1.0)},
    )
    report = job_run(job, workers=1)
    assert report.state == "succeeded", report
    assert report.managers[0].states == {"awaiting_review": 2}
    return job


def _recalibrate(job: Any, offset: float) -> None:
    manager = job.managers.get(name="import")
    manager.options = {**manager.options, "processing": _calibration(offset)}
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

    staged = Path(Task.objects.get(subject__endswith="RP-A.nc").details["staged_path"])
    staged.unlink()
    assert main(["job", "reprocess", "flights"]) == 1  # a file was left as it was: say so
    out = capsys.readouterr().out
    assert "1 file(s) re-processed" in out and "1 cannot be re-processed" in out
    assert f"cannot re-process {Task.objects.get(subject__endswith='RP-A.nc').subject}" in out
    assert str(staged) in out and "no longer in the staging area; put the file back there" in out
    assert _versions("RP-B", "p") == [(1, False), (2, True)]
    assert _versions("RP-A", "p") == [(1, True)]
    # the run records what it could not do
    from stratoflow.server.workflow.models import JobRun

    run = JobRun.objects.filter(summary__has_key="reprocess").get()
    assert run.state == "succeeded"
    assert [b["flight"] for b in run.summary["reprocess"]["blocked"]] == ["RP-A"]


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
    for processing in ([], _calibration(2.0)):
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
    from stratoflow.server.catalog.metadata import metadata_import
    from stratoflow.server.catalog.models import Calibration, Series
    from stratoflow.server.catalog.selectors import series_arrays

    metadata_import(
        {
            "aircraft": [{"registration": "D-REPR"}],
            "component_types": [{"name": "pressure sensor"}],
            "component_classes": [{"name": "sensor"}],
            "components": [{"type": "pressure sensor", "class": "sensor", "serial": "1"}],
            "deployments": [
                {"instrument": "pressure sensor/1", "aircraft": "D-REPR", "start": "2024-01-01"}
            ],
            "calibrations": [
                {
                    "component": "pressure sensor/1",
                    "time": "2023-12-31T00:00:00Z",
                    "function": "linear",
                    "parameters": {
                        "offset": {"value": 1.0, "units": "hPa"},
                        "slope": {"value": 1.0, "units": "1"},
                    },
                }
            ],
        },
        source="test",
        who="test",
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


def test_a_configuration_an_earlier_version_had_is_reported_not_applied(
    job: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Going back to calibration A: the catalog keeps version 1 and makes no new one, so the
    current data (B) would stay; re-processing says so instead of pretending."""
    _recalibrate(job, 3.0)
    assert main(["job", "reprocess", "flights"]) == 0
    _recalibrate(job, 1.0)
    capsys.readouterr()
    before = _counts()
    assert main(["job", "reprocess", "flights"]) == 1
    out = capsys.readouterr().out
    assert out.count("an earlier version of its series was made with this very configuration") == 2
    assert "no run made" in out and _counts() == before
    assert _versions("RP-A", "p") == [(1, False), (2, True)]


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
    response = admin_client.post(
        "/admin/workflow/job/",
        {"action": "reprocess", "_selected_action": [job.pk]},
        follow=True,
    )
    page = response.content.decode().lower()  # the admin capitalises its messages
    assert "flights: 1 file(s) to re-process in run" in page
    assert "cannot re-process rp-a.nc: its staged copy" in page
    run = JobRun.objects.get(summary__has_key="reprocess")
    assert run.state == "pending" and Task.objects.filter(run=run, state="queued").count() == 1
    assert run in runs_due(timezone.now())
    report = run_execute(run)  # as the scheduler does
    assert report.state == "succeeded" and report.managers[0].states == {"awaiting_review": 1}
    assert _versions("RP-B", "p") == [(1, False), (2, True)]
    assert _versions("RP-A", "p") == [(1, True)]
