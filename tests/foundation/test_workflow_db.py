"""The embedded workflow against a real database (SQLite pass and PostgreSQL pass).

Runs the demo end to end in-process, checks idempotency, versioning and atomicity of imports.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.conf import LazySettings

from stratoflow import open_dataset, write_dataset
from stratoflow.cli import main
from stratoflow.samples import generate_flight

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def home(tmp_path: Path, settings: LazySettings) -> Path:
    settings.HOME = tmp_path
    settings.STAGING_DIR = tmp_path / "staging"
    return tmp_path


def test_demo_runs_end_to_end_and_is_idempotent(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.catalog.models import QCRun, Segment, Series, SourceFile
    from stratoflow.server.workflow.models import JobRun, Task

    assert main(["demo", "--flights", "2", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "2 new task(s)" in out and "points stored" in out and "exported" in out
    assert "http://127.0.0.1:8000/" in out
    # the web UI hint names this home: a bare `stratoflow serve` would open another database
    assert f"STRATOFLOW_HOME={home}stratoflowserve" in "".join(out.split())
    exported = sorted((home / "demo" / "external-system").glob("*.nc"))
    assert len(exported) == 2
    counts = (
        SourceFile.objects.count(),
        Series.objects.count(),
        Segment.objects.count(),
        QCRun.objects.count(),
        Task.objects.count(),
    )
    assert counts[0] == 2 and counts[1] == 16 and counts[2] == 16 and counts[3] == 16

    # Stored values are columnar segments, bit-exact with what the reader produced.
    from stratoflow.server.catalog.selectors import series_arrays

    portal_file = sorted((home / "demo" / "data-portal").glob("*.nc"))[0]
    ds = open_dataset(portal_file)
    series = Series.objects.get(source__identity__endswith=portal_file.name, variable="O3_P1")
    arrays = series_arrays(series)
    assert np.array_equal(arrays["time"], ds["time"].values)
    assert arrays["value"].tobytes() == ds["O3_P1"].values.tobytes()

    # The exported file holds the values and QC flags.
    out_ds = open_dataset(exported[0])
    assert "O3_P1_flag" in out_ds
    assert (out_ds["O3_P1_flag"].values == 3).any()
    assert out_ds["O3_P1"].values.tobytes() == ds["O3_P1"].values.tobytes()

    # Second run: nothing new anywhere.
    assert main(["demo", "--flights", "2", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "nothing new" in out
    assert (
        SourceFile.objects.count(),
        Series.objects.count(),
        Segment.objects.count(),
        QCRun.objects.count(),
        Task.objects.count(),
    ) == counts
    assert JobRun.objects.count() == 4
    assert len(list((home / "demo" / "external-system").glob("*.nc"))) == 2


def _write(tmp_path: Path, seed: int, name: str = "flight.nc") -> Path:
    path = tmp_path / name
    write_dataset(
        generate_flight(seed=seed, hours=1.0).dataset, path, writer="netcdf", layout="iagos"
    )
    return path


def test_import_is_idempotent_and_versions_corrected_files(tmp_path: Path) -> None:
    from stratoflow.importers import import_file
    from stratoflow.server.catalog.models import Series

    path = _write(tmp_path, seed=1)
    first = import_file(path, identity="portal/flight.nc", qc=False)
    again = import_file(path, identity="portal/flight.nc", qc=False)
    assert first.created and not again.created
    assert again.series_ids == first.series_ids

    # A corrected file (same identity, different bytes) becomes version 2; v1 is kept.
    ds = open_dataset(path)
    ds["O3_P1"].values[10] = 55.5
    corrected = tmp_path / "corrected.nc"
    write_dataset(ds, corrected, writer="netcdf", layout="iagos")
    second = import_file(corrected, identity="portal/flight.nc", qc=False)
    assert second.created
    o3 = Series.objects.filter(variable="O3_P1").order_by("version")
    assert [(s.version, s.is_current) for s in o3] == [(1, False), (2, True)]


def test_failed_import_leaves_nothing(tmp_path: Path) -> None:
    from stratoflow.errors import ReaderError
    from stratoflow.importers import import_file
    from stratoflow.server.catalog.models import Segment, Series, SourceFile

    bad = tmp_path / "IAGOS_timeseries_broken.nc"
    bad.write_bytes(_write(tmp_path, seed=2).read_bytes()[:5000])
    with pytest.raises(ReaderError, match=r"IAGOS_timeseries_broken\.nc"):
        import_file(bad, reader="iagos_netcdf")
    assert (SourceFile.objects.count(), Series.objects.count(), Segment.objects.count()) == (
        0,
        0,
        0,
    )


def test_corrupt_file_fails_only_its_own_task(home: Path) -> None:
    from stratoflow.server.workflow.models import Job, Task
    from stratoflow.server.workflow.services import job_run

    assert main(["demo", "--flights", "1"]) == 0
    portal = home / "demo" / "data-portal"
    (portal / "IAGOS_timeseries_corrupt.nc").write_bytes(b"CDF\x01 definitely not netCDF")
    _write(portal, seed=9, name="IAGOS_timeseries_good.nc")
    report = job_run(Job.objects.get(name="demo"))
    assert report.state == "failed"
    states = dict(
        Task.objects.filter(manager__name="import-flights").values_list("subject", "state")
    )
    assert states["IAGOS_timeseries_good.nc"] == "awaiting_review"
    assert states["IAGOS_timeseries_corrupt.nc"] == "failed"
    error = Task.objects.get(subject="IAGOS_timeseries_corrupt.nc").error
    assert "IAGOS_timeseries_corrupt.nc" in error


def test_inspect_json_and_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, seed=4)
    assert main(["inspect", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reader"] == "iagos_netcdf"
    assert summary["variables"]["O3_P1"]["units"] == "1e-9"
    assert summary["points"] > 100
    missing = tmp_path / "nope.nc"
    assert main(["inspect", str(missing)]) == 1
    err = capsys.readouterr().err
    assert "nope.nc" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
