"""Clock synchronisation inside a configured job: reference files named by pattern, fetched.

- The real FAIRO logs: one job imports the ``.T_P`` and ``.OMC`` files with a ``clock_sync``
  step against the aircraft record (the ``.HAL`` file, fetched by the pattern ``*.HAL``
  through the same transfer handler). The stored time axis is shifted by the true offset
  (from the HAL file's two clocks, which the estimate never sees) to within the instrument's
  sampling interval, and the provenance names the step, the reference file and the offset.
  A manager whose reference cannot be found fails its task with an error naming the file and
  the reference; the other managers' tasks still run.
- Synthetic files: of several reference files matching the pattern (another provider's
  transfer handler), the one whose time span overlaps the data most is used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import LazySettings

from _jobs import transfer_handler
from stratoflow import open_dataset, write_dataset
from stratoflow.dataset import make_dataset

pytestmark = [pytest.mark.django_db(transaction=True)]

SYNC: dict[str, Any] = {
    "step": "clock_sync",
    "params": {
        "reference": "aircraft",
        "reference_variables": ["Stat_Press", "Dyn_Press"],  # total (inlet) pressure
        "reference_time": "HALO_Time",
        "max_offset_s": 3600,
    },
}
HAL: dict[str, Any] = {
    "pattern": "*.HAL",
    "reader": "delimited",
    "reader_options": {"preset": "fairo_hal"},
}
#: (manager, file pattern, preset, variable synchronised on, sampling interval in s)
STREAMS = [
    ("fairo-tp", "*.T_P", "fairo_tp", "p_Inlet", 2.0),
    ("fairo-omc", "*.OMC", "fairo_omc", "p", 4.0),
]


def _hal_truth(folder: Path) -> float:
    """Instrument clock - aircraft clock, from the HAL file, which logs both."""
    hal = open_dataset(folder / "11_30_01.HAL", reader="delimited", preset="fairo_hal")
    aircraft = np.rint(hal["HALO_Time"].values * 1e9).astype("int64").astype("M8[ns]")
    return float(np.median((hal["time"].values - aircraft).astype(np.int64)) / 1e9)


def _import_manager(
    job: Any, order: int, name: str, pattern: str, root: Path, **options: Any
) -> Any:
    from stratoflow.server.workflow.models import TaskManager

    transfer = transfer_handler(
        name,
        provider="FAIRO on HALO",
        transfer_type="local",
        auth="none",
        transfer_options={"root": str(root), "pattern": pattern},
    )
    return TaskManager.objects.create(
        job=job,
        name=name,
        kind="import",
        order=order,
        transfer=transfer,
        options={"review": False, "qc": False, **options},
    )


@pytest.mark.slow
def test_job_syncs_fairo_clocks_against_the_fetched_hal_file(
    shared_data: Path, tmp_path: Path, settings: LazySettings
) -> None:
    from stratoflow.server.catalog.models import Series, SourceFile
    from stratoflow.server.catalog.selectors import series_arrays
    from stratoflow.server.workflow.models import Job, Task
    from stratoflow.server.workflow.services import job_run

    settings.STAGING_DIR = tmp_path / "staging"
    folder = shared_data / "fairo_raw"
    truth = _hal_truth(folder)
    assert 23 * 60 < truth < 25 * 60  # the manifest's "about 24 minutes"
    hal_sha = hashlib.sha256((folder / "11_30_01.HAL").read_bytes()).hexdigest()

    job = Job.objects.create(name="fairo-synchronised")
    # first, a manager whose reference is missing: its task fails, the others still run
    _import_manager(
        job,
        0,
        "fairo-dat",
        "*.DAT",
        folder,
        reader="delimited",
        reader_options={"preset": "fairo_dat"},
        processing=[{"step": "clock_sync", "params": {**SYNC["params"], "variable": "p"}}],
        references={"aircraft": {**HAL, "pattern": "*.BAHAMAS"}},
    )
    for order, (name, pattern, preset, variable, _) in enumerate(STREAMS, start=1):
        step = {"step": "clock_sync", "params": {**SYNC["params"], "variable": variable}}
        _import_manager(
            job,
            order,
            name,
            pattern,
            folder,
            reader="delimited",
            reader_options={"preset": preset},
            processing=[step],
            references={"aircraft": HAL},
        )
    report = job_run(job)

    assert report.state == "failed"  # because of the missing reference, and only that
    failed = Task.objects.get(manager__name="fairo-dat")
    assert failed.state == "failed"
    assert "11_30_01.DAT" in failed.error and "reference 'aircraft'" in failed.error
    assert "missing" in failed.error and "*.BAHAMAS" in failed.error
    assert not SourceFile.objects.filter(identity="11_30_01.DAT").exists()
    done = Task.objects.filter(manager__name__in=[s[0] for s in STREAMS], state="done")
    assert done.count() == len(STREAMS)

    for name, pattern, preset, variable, interval in STREAMS:
        (path,) = sorted(folder.glob(pattern))
        raw = open_dataset(path, reader="delimited", preset=preset)
        stored = Series.objects.filter(source__identity=path.name)
        assert stored.count() > 5
        for series in stored:
            arrays = series_arrays(series)
            shift = (raw["time"].values - arrays["time"]) / np.timedelta64(1, "s")
            # one shift for every point: the whole axis moved by the estimated offset
            assert np.ptp(shift) < 1e-6, name
            assert abs(shift[0] - truth) < interval, (name, shift[0], truth)
            values = np.asarray(raw[series.variable].values)
            if values.dtype.kind == "f":
                np.testing.assert_array_equal(arrays["value"], values)
        (step, flags) = stored[0].provenance["processing"]
        assert flags["step"] == "basic_flags"
        assert step["step"] == "clock_sync" and step["params"]["variable"] == variable
        assert step["params"]["reference"] == "aircraft"
        assert step["result"]["offset_s"] == pytest.approx(shift[0], abs=1e-6)
        assert step["result"]["correlation"] > 0.9
        ref = step["references"]["aircraft"]
        assert ref["identity"] == "11_30_01.HAL" and ref["checksum"] == hal_sha
        assert ref["reader"] == "delimited" and ref["reader_options"] == {"preset": "fairo_hal"}
        assert "*.HAL" in ref["origin"] and ref["candidates"] == 1

    # the reference was staged apart: it never became a data file of any manager
    assert not SourceFile.objects.filter(identity="11_30_01.HAL").exists()
    assert list((tmp_path / "staging" / ".references").glob("*/*/11_30_01.HAL"))


def _pressure(rng: np.random.Generator, n: int) -> np.ndarray:
    """A smooth, wandering 'pressure' record (hPa) — something worth correlating."""
    walk = np.convolve(rng.normal(size=n + 60), np.ones(60) / 60, mode="valid")[:n]
    return np.asarray(800.0 + 40.0 * walk.cumsum() / np.sqrt(n), dtype=np.float64)


def _write(path: Path, start: np.datetime64, step_s: int, values: np.ndarray, var: str) -> Path:
    t = start + np.arange(values.size) * np.timedelta64(step_s, "s")
    ds = make_dataset(t, {var: (values, {"units": "hPa", "long_name": var})}, attrs={})
    return write_dataset(ds, path, writer="netcdf")


def test_the_reference_overlapping_the_data_most_is_chosen(
    tmp_path: Path, settings: LazySettings
) -> None:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.selectors import series_arrays
    from stratoflow.server.workflow.models import Job, Task
    from stratoflow.server.workflow.services import job_run

    settings.STAGING_DIR = tmp_path / "staging"
    rng = np.random.default_rng(7)
    t0 = np.datetime64("2024-05-02T10:00:00", "ns")
    offset = 95  # s, instrument clock ahead of the aircraft clock
    aircraft = _pressure(rng, 3600)  # 1 Hz, aircraft clock, t0 .. t0 + 1 h
    refs = tmp_path / "aircraft"
    refs.mkdir()
    _write(refs / "b-right.nc", t0, 1, aircraft, "p_static")
    # a partial overlap with other weather, and another day: both also match the pattern
    _write(
        refs / "a-partial.nc", t0 - np.timedelta64(2400, "s"), 1, _pressure(rng, 3600), "p_static"
    )
    _write(refs / "c-other-day.nc", t0 + np.timedelta64(1, "D"), 1, aircraft, "p_static")
    # the instrument logs the same pressure every 2 s for 30 min, on its own clock
    instrument_clock = np.arange(600, 2400, 2) + offset
    seen = np.interp(instrument_clock - offset, np.arange(3600), aircraft)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    data = _write(incoming / "instrument.nc", t0 + np.timedelta64(600 + offset, "s"), 2, seen, "p")

    transfer_handler(
        "aircraft-data",
        provider="aircraft operator",
        transfer_type="local",
        transfer_options={"root": str(refs), "pattern": "*"},
    )
    job = Job.objects.create(name="sync-choice")
    params = {"variable": "p", "reference": "aircraft", "reference_variables": ["p_static"]}
    step = {"step": "clock_sync", "params": params}
    _import_manager(
        job,
        0,
        "instrument",
        "*.nc",
        incoming,
        processing=[step],
        references={"aircraft": {"pattern": "*.nc", "transfer": "aircraft-data"}},
    )
    job_run(job)
    task = Task.objects.get(manager__job=job)
    assert task.state == "done", task.error

    (series,) = Series.objects.filter(source__identity="instrument.nc")
    record = series.provenance["processing"][0]
    ref = record["references"]["aircraft"]
    assert ref["identity"] == "b-right.nc" and ref["candidates"] == 3
    assert ref["overlap_s"] == pytest.approx(1800 - 2, abs=1e-6)
    assert record["result"]["offset_s"] == pytest.approx(offset, abs=2.0)
    stored = series_arrays(series)["time"]
    raw = open_dataset(data)["time"].values
    shift = (raw - stored) / np.timedelta64(1, "s")
    assert abs(shift[0] - offset) < 2.0
