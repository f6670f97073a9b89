"""Acceptance: real files imported end to end by a configured job; values read back exactly.

One job, one import manager per source (IAGOS netCDF, CARIBIC and EBAS NASA Ames, ACT-America
ICARTT, the four FAIRO raw logs), each with a local transfer handler reading the shared data
folder in place. Every stored series must equal what the reader makes of the file, bit for bit
(text columns as text), with its time axis and provenance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import LazySettings

from _jobs import transfer_handler
from stratoflow import open_dataset
from stratoflow.dataset import data_variables

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SOURCES: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
    ("iagos", "iagos", "IAGOS_timeseries_*.nc4", "iagos_netcdf", {}),
    ("caribic", "caribic_nasa_ames", "*_valid0.txt", "nasa_ames", {}),
    ("ebas", "ebas_nasa_ames", "*.nas", "nasa_ames", {}),
    ("icartt", "icartt", "*20170121_R0.ict", "icartt", {}),
    ("fairo-omc", "fairo_raw", "*.OMC", "delimited", {"preset": "fairo_omc"}),
    ("fairo-hal", "fairo_raw", "*.HAL", "delimited", {"preset": "fairo_hal"}),
    ("fairo-tp", "fairo_raw", "*.T_P", "delimited", {"preset": "fairo_tp"}),
    ("fairo-dat", "fairo_raw", "*.DAT", "delimited", {"preset": "fairo_dat"}),
]


def _same(stored: np.ndarray, read: np.ndarray) -> bool:
    if read.dtype.kind in "OUS":
        return bool(np.array_equal(stored.astype(str), read.astype(str)))
    return stored.dtype == read.dtype and stored.tobytes() == read.tobytes()


def test_real_files_imported_by_a_job_read_back_exactly(
    shared_data: Path, tmp_path: Path, settings: LazySettings
) -> None:
    from stratoflow.server.catalog.models import Series, SourceFile
    from stratoflow.server.catalog.selectors import series_arrays
    from stratoflow.server.workflow.models import DataProvider, Job, Task, TaskManager
    from stratoflow.server.workflow.services import job_run

    settings.STAGING_DIR = tmp_path / "staging"
    provider = DataProvider.objects.create(name="shared sample data")
    job = Job.objects.create(name="acceptance-import")
    for order, (name, folder, pattern, reader, options) in enumerate(SOURCES):
        transfer = transfer_handler(
            f"shared-{name}",
            provider=provider,
            transfer_type="local",
            auth="none",
            transfer_options={"root": str(shared_data / folder), "pattern": pattern},
        )
        TaskManager.objects.create(
            job=job,
            name=f"import-{name}",
            kind="import",
            order=order,
            transfer=transfer,
            options={"reader": reader, "reader_options": options, "review": False},
        )
    report = job_run(job)
    failed = list(Task.objects.exclude(state="done").values_list("subject", "error"))
    assert failed == [] and report.state != "failed", failed
    assert SourceFile.objects.count() == len(SOURCES)

    checked = 0
    for name, folder, pattern, reader, options in SOURCES:
        (path,) = sorted((shared_data / folder).glob(pattern))
        ds = open_dataset(path, reader=reader, **options)
        source = SourceFile.objects.get(identity=path.name)
        assert source.checksum == ds.attrs["source_checksum"]
        stored = {s.variable: s for s in Series.objects.filter(source=source)}
        assert set(stored) == set(data_variables(ds)), name
        for variable, series in stored.items():
            arrays = series_arrays(series)
            assert arrays["time"].tobytes() == ds["time"].values.tobytes(), (name, variable)
            assert _same(arrays["value"], np.asarray(ds[variable].values)), (name, variable)
            assert series.provenance["reader"] == ds.attrs["reader"]
            assert series.provenance["provider"] == "shared sample data"
            checked += 1
    assert checked > 150

    # a second run finds nothing new
    job_run(job)
    assert SourceFile.objects.count() == len(SOURCES)
