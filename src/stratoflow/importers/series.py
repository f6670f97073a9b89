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

import json
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from django.db import transaction

from stratoflow import open_dataset
from stratoflow.dataset import TIME
from stratoflow.errors import ConfigError, ImportFailed
from stratoflow.flags import count_flags
from stratoflow.processing import basic_flags, run_steps
from stratoflow.server.catalog.models import QCRun, Series
from stratoflow.server.catalog.services import ImportResult, series_import

if TYPE_CHECKING:
    from stratoflow.server.catalog.models import Component

__all__ = ["FileImport", "PlannedImport", "import_file", "import_plan"]

log = logging.getLogger(__name__)


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
    #: an earlier version made the same way became current again (nothing created)
    restored: bool = False
    #: stored series QC'd again because the QC settings changed (``requalify``)
    requalified: bool = False


def _instrument(ref: Component | str | None) -> Component | None:
    from stratoflow.server.catalog.models import Component

    if ref is None or isinstance(ref, Component):
        return ref
    type_name, sep, serial = ref.rpartition("/")
    found = Component.objects.filter(component_type__name=type_name, serial_number=serial).first()
    if not sep or found is None:
        raise ConfigError(f"instrument {ref!r} is not a known component ('type/serial')")
    return found


@dataclass(frozen=True)
class _Candidate:
    path: Path
    identity: str


def _span_ns(ds: xr.Dataset) -> tuple[int, int]:
    times = np.asarray(ds[TIME].values, dtype="datetime64[ns]").astype(np.int64)
    if times.size == 0:
        return 0, -1
    return int(times[0]), int(times[-1])


@lru_cache(maxsize=1024)
def _candidate_span(path: str, mtime_ns: int, reader: str | None, options: str) -> tuple[int, int]:
    """Time span of a candidate reference file (cached: a job reads many data files against
    the same few references, and staged files never change in place)."""
    return _span_ns(open_dataset(path, reader=reader, **json.loads(options)))


def _overlap_s(a: tuple[int, int], b: tuple[int, int]) -> float:
    return max(0, min(a[1], b[1]) - max(a[0], b[0])) / 1e9


def _reference(
    name: str, spec: Mapping[str, Any], data_span: tuple[int, int]
) -> tuple[xr.Dataset, dict[str, Any]]:
    """Read the reference ``name``; of several candidates, the one overlapping the data most.

    Candidates are compared by how much of their time span overlaps the data's, the data's
    span widened by ``tolerance_s`` on both sides (for a clock so far off that the raw spans
    do not overlap); ties go to the candidate whose centre is nearest the data's.
    """
    reader = spec.get("reader")
    options = dict(spec.get("reader_options") or {})
    if "candidates" in spec:
        candidates = [
            _Candidate(Path(str(c["path"])), str(c.get("identity") or c["path"]))
            for c in spec["candidates"]
        ]
        origin = str(spec.get("origin") or "candidates")
    else:
        path = Path(str(spec.get("path") or ""))
        if not str(spec.get("path") or ""):
            raise ConfigError(f"reference {name!r}: give a 'path' (or 'candidates')")
        candidates = [_Candidate(path, str(path))]
        origin = "path"
    if not candidates:
        raise ImportFailed(f"reference {name!r}: no candidate file ({origin})")
    tolerance = round(float(spec.get("tolerance_s", 0.0)) * 1e9)
    wide = (data_span[0] - tolerance, data_span[1] + tolerance)
    if len(candidates) == 1:
        chosen = candidates[0]
    else:
        key = json.dumps(options, sort_keys=True)
        spans = [
            _candidate_span(str(c.path), c.path.stat().st_mtime_ns, reader, key) for c in candidates
        ]
        centre = (wide[0] + wide[1]) / 2
        scores = [(_overlap_s(s, wide), -abs((s[0] + s[1]) / 2 - centre)) for s in spans]
        best = max(range(len(candidates)), key=scores.__getitem__)
        if scores[best][0] <= 0:
            raise ImportFailed(
                f"reference {name!r}: none of the {len(candidates)} files ({origin}) overlaps "
                f"the data's time span {_iso(data_span[0])} - {_iso(data_span[1])} "
                f"(tolerance {tolerance / 1e9:g} s)"
            )
        chosen = candidates[best]
    ref = open_dataset(chosen.path, reader=reader, **options)
    span = _span_ns(ref)
    return ref, {
        "identity": chosen.identity,
        "checksum": str(ref.attrs.get("source_checksum", "")),
        "origin": origin,
        "reader": str(ref.attrs.get("reader", reader or "")),
        "reader_options": options,
        "time_start": _iso(span[0]),
        "time_end": _iso(span[1]),
        "overlap_s": _overlap_s(span, data_span),
        "candidates": len(candidates),
    }


def _iso(ns: int) -> str:
    return str(np.datetime64(ns, "ns"))


def _references(
    specs: Mapping[str, Any], ds: xr.Dataset
) -> tuple[dict[str, xr.Dataset], dict[str, dict[str, Any]]]:
    """The reference Datasets the processing steps name, and what each one is (provenance).

    A spec is a path, ``{path, reader, reader_options}``, or ``{candidates: [{path,
    identity}], origin, reader, reader_options, tolerance_s}`` (what a job's import manager
    passes after fetching the files matching a pattern). Relative paths are relative to the
    current directory, as on a command line.
    """
    data_span = _span_ns(ds)
    refs: dict[str, xr.Dataset] = {}
    infos: dict[str, dict[str, Any]] = {}
    for name, spec in specs.items():
        spec = {"path": spec} if isinstance(spec, str | Path) else dict(spec)
        refs[name], infos[name] = _reference(str(name), spec, data_span)
    return refs, infos


def _uses(params: Mapping[str, Any]) -> set[str]:
    """The reference names a step's parameters point at (``reference``, merge ``streams``)."""
    used = {str(params["reference"])} if params.get("reference") else set()
    streams = params.get("streams")
    if isinstance(streams, list | tuple):
        used.update(str(s) for s in streams)
    return used


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


def _without_qc(result: ImportResult) -> list[Series]:
    """The imported series that still need QC: all new ones, and stored ones never checked.

    A file first imported with ``qc=False`` (``--no-qc``) is unchanged when imported again;
    that import asks for QC, so the series get it now instead of staying unchecked for good.
    """
    if result.created:
        return list(result.series)
    checked = set(
        QCRun.objects.filter(series__in=result.series).values_list("series_id", flat=True)
    )
    return [s for s in result.series if s.pk not in checked]


def _read_noting_warnings(
    path: Path, reader: str | None, options: Mapping[str, Any]
) -> tuple[xr.Dataset, list[str]]:
    """Read ``path``; what the reader warned about becomes import notes as well.

    A reader that reads a file despite a defect (NUL bytes after the last ICARTT record)
    warns; the warning went to the log of whichever process ran the import, and the series'
    provenance and the import's notes said nothing of it. Warnings still propagate.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = open_dataset(path, reader=reader, **options)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    prefix = f"{path}: "
    return ds, [f"read: {str(w.message).removeprefix(prefix)}" for w in caught]


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
    requalify: bool = False,
    fence: Callable[[], None] | None = None,
) -> FileImport:
    """Import ``path``; QC the new series (and stored ones never checked) unless ``qc`` is False.

    ``requalify`` (re-processing) also QCs the stored series whose last import QC was made
    with other settings than ``qc`` now stands for (another configuration text or method): QC
    is not part of a series' configuration key, so a changed ``qc`` option makes a new QC run
    of the same version, not a new version.

    ``qc`` may be a mapping with ``config`` (a QC configuration) and ``evaluation`` (method
    name). ``processing`` is a list of ``{step, params}`` (see
    :mod:`stratoflow.processing.pipeline`); ``references`` names the extra files its steps use
    (``name -> {path, reader, reader_options}``, or candidates: see :func:`_references`); the
    record of each step that used one names the file read (identity, checksum, how chosen).
    Re-importing the same bytes under the same identity creates nothing. ``fence`` is called
    last inside the transaction that stores the import: raising there rolls it all back (a
    job's task that its run gave up on while it ran must not record anything).
    """
    from stratoflow.server.catalog.qc import qc_outdated, qc_series, qc_settings

    options = dict(reader_options or {})
    wanted = qc_settings(qc) if requalify else None
    ds, read_notes = _read_noting_warnings(path, reader, options)
    component = _instrument(instrument)
    steps = _with_catalog_calibrations(processing, component, ds)
    records: list[dict[str, Any]] = []
    if steps:
        try:
            refs, infos = _references(references or {}, ds)
            ds, records = run_steps(ds, steps, references=refs)
        except (ConfigError, ImportFailed) as exc:  # name the file being imported
            raise type(exc)(f"{identity or path.name}: {exc}") from exc
        for record in records:
            used = _uses(record["params"]) & set(infos)
            if used:
                record["references"] = {n: infos[n] for n in sorted(used)}
    ds, report = basic_flags(ds)
    report["notes"] = [*read_notes, *report.get("notes", [])]
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
            # a file named by its base name is told from same-named files by where it is
            location="" if identity else str(path.resolve()),
        )
        counts = count_flags([])
        runs: list[QCRun] = []
        unchecked = _without_qc(result) if qc is not False else []
        if wanted is not None:
            ids = {s.pk for s in unchecked}
            unchecked += [s for s in qc_outdated(result.series, wanted)[0] if s.pk not in ids]
        if unchecked:
            qc_options = dict(qc) if isinstance(qc, Mapping) else {}
            runs = qc_series(
                unchecked,
                ds,
                config=qc_options.get("config"),
                evaluation=qc_options.get("evaluation"),  # None: the configuration's own
            )
        checked = {s.pk for s in unchecked}
        runs += QCRun.objects.filter(
            series__in=[s for s in result.series if s.pk not in checked], is_current=True
        )
        for run in runs:
            for name, n in run.flag_counts.items():
                counts[name] = counts.get(name, 0) + int(n)
        if fence is not None:
            fence()
    flight = result.series[0].flight.identifier if result.series else ""
    if result.source.identity != (identity or path.name):
        report["notes"] = [
            *report.get("notes", []),
            f"the same bytes as {result.source.identity!r}, imported already: nothing new",
        ]
    report["notes"] = [*report.get("notes", []), *_moved_notes(result, flight)]
    return FileImport(
        flight=flight,
        created=result.created,
        restored=result.restored,
        requalified=wanted is not None and bool(unchecked) and not result.created,
        series_ids=[s.pk for s in result.series],
        points=result.points,
        flag_counts=counts,
        result=result,
        report=report,
    )


def _moved_notes(result: ImportResult, flight: str) -> list[str]:
    """What the import took off other flights: the series an earlier version of the file
    left there, now that it names ``flight`` (a corrected flight number). Logged as well:
    a job's operator sees it in the worker's log, a data manager in the import's notes."""
    moved: dict[str, list[Series]] = {}
    for old in result.superseded:
        if old.flight.identifier != flight:
            moved.setdefault(old.flight.identifier, []).append(old)
    notes = []
    for other, series in sorted(moved.items()):
        names = ", ".join(f"{s.variable} v{s.version}" for s in series)
        note = (
            f"flight {other}: {len(series)} series of the earlier version of "
            f"{result.source.identity} superseded ({names}): the file now names flight "
            f"{flight}; the old versions are kept"
        )
        log.warning("%s", note)
        notes.append(note)
    return notes


@dataclass(frozen=True)
class PlannedImport:
    """How :func:`import_file` would store a file under a configuration, before it does.

    ``config_key`` is the fingerprint :func:`~stratoflow.server.catalog.services.config_key`
    that the stored series would carry; ``processing`` the step records it covers (without
    what the steps would find). ``checksum`` is the file's, as the reader recorded it.
    """

    config_key: str
    checksum: str
    reader: str
    reader_options: dict[str, Any]
    level: str
    processing: list[dict[str, Any]]


def import_plan(
    path: Path,
    *,
    identity: str | None = None,
    reader: str | None = None,
    reader_options: Mapping[str, Any] | None = None,
    level: str = "L0",
    processing: Sequence[Mapping[str, Any]] = (),
    references: Mapping[str, Any] | None = None,
    instrument: Component | str | None = None,
) -> PlannedImport:
    """The configuration key :func:`import_file` would give ``path``'s series, cheaply.

    Reads the file, resolves the catalog calibrations and the reference files exactly as
    :func:`import_file` does, but runs no processing step and stores nothing: the key covers
    only what decides the values (reader, options, level, step parameters, reference files),
    never what a step finds. Re-processing (``stratoflow job reprocess``) compares it with the
    key of the stored series to tell which files a changed configuration would change. Kept
    beside :func:`import_file` so that the two cannot drift apart unnoticed (a test compares
    the plan with what an import stores).
    """
    from stratoflow.server.catalog.services import config_key

    options = dict(reader_options or {})
    ds = open_dataset(path, reader=reader, **options)
    records: list[dict[str, Any]] = []
    if processing:
        steps = _with_catalog_calibrations(processing, _instrument(instrument), ds)
        try:
            _, infos = _references(references or {}, ds)
        except (ConfigError, ImportFailed) as exc:  # name the file being planned
            raise type(exc)(f"{identity or path.name}: {exc}") from exc
        for i, spec in enumerate(steps):
            if "step" not in spec:
                raise ConfigError(f"processing step {i}: must be a mapping with 'step'")
            record: dict[str, Any] = {
                "step": str(spec["step"]),
                "params": dict(spec.get("params") or {}),
            }
            used = _uses(record["params"]) & set(infos)
            if used:
                record["references"] = {n: infos[n] for n in sorted(used)}
            records.append(record)
    records.append({"step": "basic_flags", "params": {}})
    name = str(ds.attrs.get("reader", ""))
    return PlannedImport(
        config_key=config_key(name, options, level, records),
        checksum=str(ds.attrs.get("source_checksum", "")),
        reader=name,
        reader_options=options,
        level=level,
        processing=records,
    )
