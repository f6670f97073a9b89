"""The series importer: read, process, flag, store and QC a file — atomically.

``import_file`` is the one code path behind a job's import manager and ``stratoflow import``:

1. the reader turns the file into a standardized Dataset;
2. the configured processing steps run (:mod:`stratoflow.processing`: clock synchronisation
   against reference files, unit conversion, calibration — with the instrument's pre/post
   calibrations from the catalog when the step does not name them); raw or already processed
   data simply has no steps;
3. basic flags are set (time stamps ordered, missing, physically impossible);
4. every variable is stored as a new series version with its provenance (source, checksum,
   provider, reader and options, each processing step with its resolved parameters and
   results, stratoflow version), and QC runs on what was stored.

Storing and QC happen in one database transaction: a defective file or a failing QC test leaves
no trace in the database, and the error names the file and the defect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr
from django.db import transaction

from stratoflow import open_dataset
from stratoflow.errors import ConfigError
from stratoflow.flags import count_flags
from stratoflow.processing import basic_flags, run_steps
from stratoflow.server.catalog.services import ImportResult, series_import

if TYPE_CHECKING:
    from stratoflow.server.catalog.models import Component

__all__ = ["FileImport", "import_file"]


@dataclass
class FileImport:
    """What importing one file did."""

    flight: str
    created: bool
    series_ids: list[int]
    points: int
    flag_counts: dict[str, int] = field(default_factory=dict)
    result: ImportResult | None = None
    report: dict[str, Any] = field(default_factory=dict)


def _instrument(ref: Component | str | None) -> Component | None:
    from stratoflow.server.catalog.models import Component

    if ref is None or isinstance(ref, Component):
        return ref
    type_name, sep, serial = ref.rpartition("/")
    found = Component.objects.filter(component_type__name=type_name, serial_number=serial).first()
    if not sep or found is None:
        raise ConfigError(f"instrument {ref!r} is not a known component ('type/serial')")
    return found


def _references(specs: Mapping[str, Any], base: Path) -> dict[str, xr.Dataset]:
    refs = {}
    for name, spec in specs.items():
        spec = {"path": spec} if isinstance(spec, str) else dict(spec)
        path = Path(str(spec.get("path", "")))
        refs[name] = open_dataset(
            path if path.is_absolute() else base / path,
            reader=spec.get("reader"),
            **dict(spec.get("reader_options") or {}),
        )
    return refs


def _with_catalog_calibrations(
    steps: Sequence[Mapping[str, Any]], instrument: Component | None, ds: xr.Dataset
) -> list[dict[str, Any]]:
    """Fill calibration steps that name no calibration with the deployment's pre/post ones."""
    from stratoflow.server.catalog.selectors import calibrations_for_deployment, deployment_at
    from stratoflow.server.catalog.services import _datetime

    out = [dict(s) for s in steps]
    for spec in out:
        params = dict(spec.get("params") or {})
        if spec.get("step") != "calibration" or params.get("pre") or params.get("post"):
            continue
        if instrument is None or ds.sizes.get("time", 0) == 0:
            raise ConfigError("calibration step names no calibration and no instrument is given")
        deployment = deployment_at(instrument, _datetime(ds["time"].values[0]))
        if deployment is None:
            raise ConfigError(f"{instrument}: no deployment covers the start of the data")
        component = _instrument(params["component"]) if params.get("component") else None
        pre, post = calibrations_for_deployment(deployment, component=component)
        for key, cal in (("pre", pre), ("post", post)):
            if cal is not None:
                params[key] = {
                    "time": cal.time.isoformat(),
                    "function": cal.function,
                    "parameters": cal.parameters,
                }
        spec["params"] = params
    return out


def import_file(
    path: Path,
    *,
    identity: str | None = None,
    provider: str = "",
    reader: str | None = None,
    reader_options: Mapping[str, Any] | None = None,
    qc: Mapping[str, Any] | bool = True,
    level: str = "L0",
    processing: Sequence[Mapping[str, Any]] = (),
    references: Mapping[str, Any] | None = None,
    instrument: Component | str | None = None,
) -> FileImport:
    """Import ``path``; run QC on new series unless ``qc`` is False.

    ``qc`` may be a mapping with ``config`` (a QC configuration) and ``evaluation`` (method
    name). ``processing`` is a list of ``{step, params}`` (see
    :mod:`stratoflow.processing.pipeline`); ``references`` names the extra files its steps use
    (``name -> {path, reader, reader_options}``). Re-importing the same bytes under the same
    identity creates nothing.
    """
    from stratoflow.server.catalog.qc import qc_series

    options = dict(reader_options or {})
    ds = open_dataset(path, reader=reader, **options)
    component = _instrument(instrument)
    steps = _with_catalog_calibrations(processing, component, ds)
    if steps:
        ds, records = run_steps(ds, steps, references=_references(references or {}, path.parent))
    else:
        records = []
    ds, report = basic_flags(ds)
    records.append({"step": "basic_flags", "params": {}, "result": report})
    with transaction.atomic():
        result = series_import(
            ds,
            identity=identity or path.name,
            size=path.stat().st_size,
            provider=provider,
            reader_options=options,
            level=level,
            processing=records,
            instrument=component,
        )
        counts = count_flags([])
        if result.created and qc is not False:
            qc_options = dict(qc) if isinstance(qc, Mapping) else {}
            runs = qc_series(
                result.series,
                ds,
                config=qc_options.get("config"),
                evaluation=qc_options.get("evaluation", "worst"),
            )
            for run in runs:
                for name, n in run.flag_counts.items():
                    counts[name] = counts.get(name, 0) + int(n)
    flight = result.series[0].flight.identifier if result.series else ""
    return FileImport(
        flight=flight,
        created=result.created,
        series_ids=[s.pk for s in result.series],
        points=result.points,
        flag_counts=counts,
        result=result,
        report=report,
    )
