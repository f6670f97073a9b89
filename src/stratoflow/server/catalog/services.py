"""Catalog services: the only code that writes series, values and QC results.

Every write is one transaction: an import that fails anywhere leaves nothing behind, and the
unique (identity, checksum) of :class:`SourceFile` makes re-importing the same bytes a no-op
even when two workers race (the loser's transaction fails on the constraint and it reports
the winner's series as unchanged). The same bytes imported under another processing
configuration are a new version of the series, from the same source row (see
:func:`config_key`); imported again under a configuration an *earlier* version was made with
(A -> B -> A), that version is made current again (a *restore*: no rows copied, see
:func:`series_import`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min, Q

from stratoflow import __version__
from stratoflow.dataset import TIME, data_variables, flags_of, validate
from stratoflow.errors import CatalogError, ImportFailed
from stratoflow.flags import count_flags
from stratoflow.flights import catalog_identifier, platform_key
from stratoflow.server.catalog.attributes import attributes_to_json, json_ready
from stratoflow.server.catalog.models import (
    Component,
    DataLevel,
    Deployment,
    Flight,
    Installation,
    Platform,
    QCRun,
    QCTestResult,
    Segment,
    Series,
    SourceFile,
)
from stratoflow.store.segments import encode_columns

__all__ = [
    "ImportResult",
    "TestOutcome",
    "config_key",
    "deployment_add",
    "flight_lock",
    "installation_add",
    "platform_get_or_create",
    "platforms_named",
    "qc_run_store",
    "series_import",
]

#: Points per stored segment; long series are split so one segment stays a few MB.
SEGMENT_POINTS = 1_000_000


@dataclass
class ImportResult:
    """What an import did: the source row, the series, and whether anything was created.

    ``restored``: nothing was created, but ``series`` (an earlier version made the same way)
    became current again in place of ``superseded``.
    """

    source: SourceFile
    series: list[Series]
    created: bool
    superseded: list[Series] = field(default_factory=list)
    restored: bool = False

    @property
    def points(self) -> int:
        """Number of stored values (time steps x variables)."""
        return sum(s.n_points for s in self.series)


@dataclass(frozen=True)
class TestOutcome:
    """One QC test's per-point validity probabilities for one series, and how they came about."""

    test: str
    parameters: Mapping[str, Any]
    version: str
    runtime_s: float
    probabilities: npt.NDArray[np.floating[Any]]


def _datetime(value: np.datetime64) -> datetime:
    ns = int(np.asarray(value).astype("datetime64[ns]").astype(np.int64))
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(
        microsecond=(ns % 1_000_000_000) // 1000
    )


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it, for step parameters, QC thresholds and configurations:
    numpy values as Python values, and NaN or infinity as the strings JSON parsers use for
    them (``"NaN"``, ``"Infinity"``), not the bare tokens that made the database refuse the
    whole import. The configuration key (:func:`config_key`) is computed over this form, so
    it stays as it is; attributes, which are read back as values, are stored with
    :func:`~stratoflow.server.catalog.attributes.attributes_to_json` instead."""
    return json_ready(value, str)


def _flight_identifier(ds: xr.Dataset, identity: str) -> str:
    """The identifier of the flight ``ds`` lands on (see :func:`catalog_identifier`)."""
    limit = Flight._meta.get_field("identifier").max_length or 100
    return catalog_identifier(ds.attrs, identity, limit)


def _stored_values(values: npt.NDArray[Any], attributes: dict[str, Any]) -> npt.NDArray[Any]:
    """Values as a segment column; text becomes integer codes with ``categories`` recorded."""
    if values.dtype.kind not in "OUS":
        return values
    categories, codes = np.unique(values.astype(str), return_inverse=True)
    attributes["categories"] = categories.tolist()
    return codes.astype(np.int32)


def platform_get_or_create(name: str) -> Platform:
    """The platform named ``name``, however spelt: the one of that exact name, else the one
    whose name has its canonical key (:func:`stratoflow.flights.platform_key`, the unique
    ``Platform.key``), else a new one named as given.

    ``NASA B200 Aircraft`` (an ICARTT header) and ``NASA B-200 Aircraft`` (the archive's
    netCDF of the same flight) made two platforms, and a PI assigned to one never saw the
    flights filed under the other. The name first given stays, for display. The exact name
    comes first for the rows of one key that could not be merged (see
    :mod:`stratoflow.server.catalog.platforms`): their flights keep landing where they did.
    Two imports creating two spellings at once cannot make two rows: the key is unique, and
    the loser takes the winner's row (on PostgreSQL it waits for the winner's transaction).
    """
    name = name.strip()[: Platform._meta.get_field("name").max_length or 100]
    key = platform_key(name) or None
    where = Q(name=name) | Q(key=key) if key else Q(name=name)

    def found() -> Platform | None:  # at most two rows (name and key are unique), one query
        rows = list(Platform.objects.filter(where))
        return min(rows, key=lambda row: row.name != name) if rows else None

    platform = found()
    if platform is None:
        try:
            with transaction.atomic():
                platform = Platform.objects.create(name=name)  # its key: see Platform.save
        except IntegrityError:  # another import created this key (or this name) meanwhile
            platform = found()
            if platform is None:
                raise
    return platform


def platforms_named(name: str) -> list[int]:
    """The ids of the platforms named ``name``, however spelt (its canonical key, see
    :func:`platform_get_or_create`): a selection by platform (``export --platform``, the
    review list) found nothing when given the other spelling (``NASA B-200 Aircraft`` for
    the platform first filed as ``NASA B200 Aircraft``), the flights being one platform's.

    Rows without a key (a name without letters or digits, or one left unmerged beside the
    row holding its key) are compared by their name's key here; they are few.
    """
    name = name.strip()
    key = platform_key(name)
    where = Q(name=name)
    if key:
        where |= Q(key=key) | Q(key__isnull=True)
    return [
        pk
        for pk, known, stored in Platform.objects.filter(where)
        .order_by("pk")
        .values_list("pk", "name", "key")
        if known == name or stored is not None or (key and platform_key(known) == key)
    ]


def _flight(ds: xr.Dataset, identity: str) -> Flight:
    """The flight ``ds`` lands on, created with the file's platform, airports and times when
    new (one query when it exists: the platform is looked up only for a new flight)."""
    name = str(ds.attrs.get("platform", "")).strip()
    times = ds[TIME].values
    defaults: dict[str, Any] = {  # a callable is called by get_or_create when it creates
        "platform": (lambda: platform_get_or_create(name)) if name else None,
        "departure_airport": str(ds.attrs.get("departure_airport", ""))[:200],
        "arrival_airport": str(ds.attrs.get("arrival_airport", ""))[:200],
        "time_start": _datetime(times[0]) if times.size else None,
        "time_end": _datetime(times[-1]) if times.size else None,
    }
    flight, _ = Flight.objects.get_or_create(
        identifier=_flight_identifier(ds, identity), defaults=defaults
    )
    return flight


def flight_lock(flight_ids: Iterable[int]) -> None:
    """Lock the rows of the flights ``flight_ids`` until the caller's transaction ends (in
    pk order, so two lockers never deadlock); call inside ``transaction.atomic``.

    The one lock that serialises what the PI's review decides on a flight (approval,
    rejection) with everything that changes what the review page shows of it: a new or
    restored series version, a QC run, a manual flag. Taken first by each of them, before
    they read or write: PostgreSQL's read committed isolation otherwise lets an approval
    check the state, a flag commit, and the approval release a state that is no longer the
    flight's, with the flag's withdrawal of the release missed (it ran before the release
    existed). SQLite serialises writing transactions itself (there it is a no-op).
    """
    ids = sorted(set(flight_ids))
    if ids:
        list(Flight.objects.select_for_update().filter(pk__in=ids).order_by("pk").values("pk"))


def config_key(
    reader: str, reader_options: Mapping[str, Any], level: str, processing: Sequence[Any]
) -> str:
    """A fingerprint of how a file's bytes were turned into series (SHA-256, hex).

    It covers what decides the stored values: reader and options, data level, and every
    processing step with its resolved parameters and the identity and checksum of each
    reference file it read. Not what a step *found* (an estimated clock offset follows from
    the rest), nor QC, whose runs are stored apart and re-run without a new version.
    """
    steps = []
    for record in _jsonable(list(processing)):
        refs = record.get("references") or {}
        steps.append(
            {
                "step": record.get("step"),
                "params": record.get("params") or {},
                "references": {
                    name: [ref.get("identity"), ref.get("checksum")] for name, ref in refs.items()
                },
            }
        )
    canonical = json.dumps(
        {
            "reader": reader,
            "reader_options": _jsonable(dict(reader_options)),
            "level": str(level),
            "processing": steps,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _imported_as(source: SourceFile, level: str, key: str) -> list[Series] | None:
    """The series made from ``source`` under configuration ``key``, if it was imported so."""
    found = [  # the key is recomputed for series stored before keys were recorded
        series
        for series in Series.objects.filter(source=source, level=level).order_by("id")
        if _key_of(series) == key
    ]
    return found or None


def series_import(
    ds: xr.Dataset,
    *,
    identity: str,
    size: int,
    provider: str = "",
    reader_options: Mapping[str, Any] | None = None,
    level: str = DataLevel.L0,
    processing: Sequence[Mapping[str, Any]] = (),
    instrument: Component | None = None,
    components: Mapping[str, Component] | None = None,
    location: str = "",
) -> ImportResult:
    """Store every measured variable of ``ds`` as a new series version, atomically.

    ``identity`` names the source (provider + remote name); together with the checksum the
    reader recorded and the processing configuration (:func:`config_key`) it makes the import
    idempotent: the same bytes imported the same way create nothing, under another identity
    too (a renamed file: ``ImportResult.source`` is then the source first imported with those
    bytes, whose series are reported unchanged, or restored as below). A known identity with a
    new checksum is a corrected file, and known bytes under a changed configuration (another
    calibration, reader option, reference file) are re-processed data: either way the series
    become a new version and the old versions stay, not current.

    Known bytes under a configuration an earlier, no longer current version was made with
    (the PI went back from B to A) *restore* that version: it becomes current again and the
    versions that replaced it stop being current, in one transaction under the same locks as
    a new version (``ImportResult.restored``; see :func:`_restore` for what is recorded and
    what the review and the exports then see). Only a version superseded by a re-processing
    of the same bytes is restored: when a corrected file (other bytes) is current, importing
    the old bytes again changes nothing, as before.
    ``instrument`` (and per-variable ``components``) link the series to the catalog; the
    deployment is the instrument's deployment covering the start of the data.

    A corrected file that names another flight than its earlier version did, for the same
    measurement (a corrected flight number), also supersedes the earlier version's series
    on the old flight (``ImportResult.superseded`` lists them; see :func:`_moved`).
    ``location`` says where a file named by its base name was read from (recorded in the
    provenance); a job's identity names the file at the provider already (leave it empty).
    """
    ds = validate(ds)
    _check_storable(ds, identity)
    checksum = str(ds.attrs.get("source_checksum", ""))
    if not checksum:
        raise ImportFailed(f"{identity}: dataset has no source_checksum (not from a reader?)")
    options = dict(reader_options or {})
    key = config_key(str(ds.attrs.get("reader", "")), options, level, processing)
    for _ in range(2):  # a second round only after losing a race to create the source row
        existing = SourceFile.objects.filter(identity=identity, checksum=checksum).first()
        if existing is None:
            existing = _twin(checksum, level, key)
        if existing is not None:
            same = _imported_as(existing, level, key)
            if same is not None and all(s.is_current for s in same):
                return ImportResult(existing, same, created=False)
        try:
            with transaction.atomic():
                if existing is not None:
                    # Known bytes, new (or earlier) configuration. Lock the source row so that
                    # two workers re-processing it the same way cannot both create a version
                    # or both restore one.
                    existing = SourceFile.objects.select_for_update().get(pk=existing.pk)
                    same = _imported_as(existing, level, key)
                    if same is not None:
                        return _restore(existing, same, level, key)
                    if existing.identity != identity:
                        existing = None  # the twin's series are gone: import as any new file
                return _import(
                    ds,
                    identity,
                    checksum,
                    size,
                    provider,
                    options,
                    level,
                    processing,
                    instrument,
                    dict(components or {}),
                    source=existing,
                    key=key,
                    location=location,
                )
        except _TwinImported:
            continue  # next round finds it and reports its series unchanged
        except IntegrityError:
            # Someone created the source row concurrently; if they imported it the same way,
            # theirs stands (next round reports it unchanged), otherwise ours is a new version.
            if not SourceFile.objects.filter(identity=identity, checksum=checksum).exists():
                raise
    raise ImportFailed(f"{identity}: could not be imported (concurrent imports kept colliding)")


class _TwinImported(Exception):
    """The same bytes, under another name, were imported while this import waited for the
    flight's lock (two tasks of a job fetching one file from two folders)."""


def _check_storable(ds: xr.Dataset, identity: str) -> None:
    """Refuse, naming the file and the defect, what the catalog cannot hold: nothing, or
    names too long for its columns.

    Checked before anything is written, the same on every database: PostgreSQL refused an
    over-long variable name or units string (NASA Ames and ICARTT units are free text) with
    a bare DataError naming neither file nor variable, while SQLite stored them.
    """
    if not data_variables(ds):
        # stored, it made a source row and a flight with no series, "created" at every import
        raise ImportFailed(f"{identity}: no measured variable to store (only the time axis)")
    limits = {
        "variable name": Series._meta.get_field("variable").max_length or 0,
        "units": Series._meta.get_field("units").max_length or 0,
    }
    for name in data_variables(ds):
        texts = {"variable name": name, "units": str(ds.variables[name].attrs.get("units", ""))}
        for what, text in texts.items():
            if len(text) > limits[what]:
                raise ImportFailed(
                    f"{identity}: variable {name[:60]!r}: {what} is {len(text)} characters "
                    f"long, the catalog holds at most {limits[what]}"
                )


def _twin(checksum: str, level: str, key: str) -> SourceFile | None:
    """The source these bytes were already imported from, the same way, under another name.

    A provider that renames a file (a new naming scheme, a copy in another folder, a
    ``.nc4`` published as ``.nc``) delivers nothing new: imported as a new source, its
    series became a second version of every variable, identical values awaiting the PI's
    review again. The twin's series stand for it instead (see :func:`series_import`).
    """
    for twin in SourceFile.objects.filter(checksum=checksum).order_by("id"):
        if _imported_as(twin, level, key) is not None:
            return twin
    return None


def _restore(source: SourceFile, same: list[Series], level: str, key: str) -> ImportResult:
    """Make ``same`` (made from ``source`` under ``key``) current again, if a re-processing
    of the same bytes replaced it; else report it unchanged. Runs inside the caller's
    transaction, with the source row locked.

    The rows of the flight's versions of these variables are locked as :func:`_import` locks
    them, and their state is read again under the lock. Nothing is copied: the restored
    series keep their ids, segments and QC runs; their provenance gets a ``restorations``
    entry (when, which versions it replaced, with which configuration) that the exports use to
    tell which version was current when the PI decided
    (:mod:`stratoflow.exporters.selection`). The review records the restore in the flight's
    history and replays onto the restored version the manual flags set since its last QC run
    (:func:`stratoflow.server.review.services.series_restore_record`); the QC runs are the
    ones that version had, not re-run (QC is not part of the configuration key). An earlier
    approval is not inherited: the exports keep delivering what the PI's latest decision
    released, and the flight awaits review again (the import manager leaves the task
    awaiting review, as for a new version).
    """
    from django.utils import timezone

    from stratoflow.server.review.services import series_restore_record  # review builds on catalog

    flights = {s.flight_id for s in same}
    flight_lock(flights)
    names = sorted({s.variable for s in same})
    rows = {
        r.pk: r
        for r in Series.objects.select_for_update()
        .filter(
            _superseded_scope(level, source.identity), flight_id__in=flights, variable__in=names
        )
        .order_by("pk")
    }
    mine = [rows[s.pk] for s in same]
    replaced = [r for r in rows.values() if r.is_current and r.pk not in {s.pk for s in mine}]
    if all(s.is_current for s in mine) or any(r.source_id != source.pk for r in replaced):
        # unchanged, or a corrected file (other bytes) is current: the old bytes must not
        # undo the correction
        return ImportResult(source, mine, created=False)
    entry = {
        "at": timezone.now().isoformat(),
        "config_key": key,
        "replaced": [
            {"id": r.pk, "variable": r.variable, "version": r.version, "config_key": _key_of(r)}
            for r in sorted(replaced, key=lambda r: r.pk)
        ],
        "stratoflow_version": __version__,
    }
    Series.objects.filter(pk__in=[r.pk for r in replaced]).update(is_current=False)
    for r in replaced:
        r.is_current = False
    for s in mine:
        s.is_current = True
        s.provenance = {
            **s.provenance,
            "restorations": [*(s.provenance.get("restorations") or []), entry],
        }
        s.save(update_fields=["is_current", "provenance"])
    result = ImportResult(
        source, mine, created=False, superseded=sorted(replaced, key=lambda r: r.pk), restored=True
    )
    _flight_spans_update(flights)
    series_restore_record(result)
    return result


def _superseded_scope(level: str, identity: str) -> Q:
    """The series a new (or restored) version of ``identity``'s variables at ``level``
    replaces, besides the flight and variable: every series at that level, and the file's own
    series at any other level.

    The level is part of the configuration key: the same file imported at L1, then at L2, is
    the file re-processed, and must leave one current version per variable, not one per level
    (both current showed every variable twice on the review page and let exports pick either).
    Series of *other* files at other levels stay current: one flight may have data of several
    levels from several files.
    """
    return Q(level=level) | Q(source__identity=identity)


def _key_of(series: Series) -> str:
    p = series.provenance
    return str(
        p.get("config_key")
        or config_key(
            str(p.get("reader", "")),
            p.get("reader_options") or {},
            series.level,
            p.get("processing", []),
        )
    )


def _import(
    ds: xr.Dataset,
    identity: str,
    checksum: str,
    size: int,
    provider: str,
    reader_options: Mapping[str, Any],
    level: str,
    processing: Sequence[Mapping[str, Any]],
    instrument: Component | None,
    components: Mapping[str, Component],
    *,
    source: SourceFile | None,
    key: str,
    location: str,
) -> ImportResult:
    from stratoflow.server.catalog.selectors import deployment_at

    reader = str(ds.attrs.get("reader", ""))
    corrected = source is None  # new bytes: all the identity's earlier content is replaced
    if source is None:
        source = SourceFile.objects.create(
            identity=identity,
            checksum=checksum,
            size=size,
            provider=provider,
            reader=reader,
            reader_options=_jsonable(dict(reader_options)),
            attributes=attributes_to_json(ds.attrs),
        )
    flight = _flight(ds, identity)
    names = data_variables(ds)
    # A corrected file also replaces the flight's current series of the identity that it no
    # longer has (a variable renamed or dropped): left current, the old bytes' values stayed
    # on the review page and in the exports beside the new ones. Series of the identity on
    # *other* flights stay: ``stratoflow import`` names a file by its base name, and
    # same-named files of different flights (``data.nc`` in one folder per flight) are not
    # versions of one another; unless they are this file's, of the same measurement (a
    # corrected flight number, see _moved).
    vanished = (
        Q(source__identity=identity, is_current=True, flight=flight) & ~Q(variable__in=names)
        if corrected
        else Q(pk__in=[])
    )
    times = ds[TIME].values
    moved = _moved(identity, provider, location, flight, times) if corrected else {}
    flight_lock([flight.pk, *moved.values()])
    vanished |= Q(pk__in=list(moved))
    if corrected and _twin(checksum, level, key) is not None:
        raise _TwinImported  # rolls this import back; see series_import
    deployment = (
        deployment_at(instrument, _datetime(times[0]))
        if instrument is not None and times.size
        else None
    )
    provenance = {
        "source_file": str(ds.attrs.get("source_file", identity)),
        "identity": identity,
        "checksum": checksum,
        "provider": provider,
        "reader": reader,
        "reader_options": _jsonable(dict(reader_options)),
        "processing": _jsonable(list(processing)),
        "config_key": key,
        "stratoflow_version": __version__,
        **({"location": location} if location else {}),
    }
    columns: list[tuple[str, dict[str, Any], npt.NDArray[Any], npt.NDArray[np.uint8]]] = []
    for name in names:
        var = ds.variables[name]
        attributes = attributes_to_json(var.attrs)
        values = _stored_values(np.asarray(var.values), attributes)
        columns.append((name, attributes, values, flags_of(ds, name)))
    bounds = [
        (index, start, min(start + SEGMENT_POINTS, times.size))
        for index, start in enumerate(range(0, times.size, SEGMENT_POINTS))
    ]

    def encode(block: tuple[int, int, int]) -> bytes:
        column, start, stop = block
        _, _, values, flags = columns[column]
        return encode_columns(
            {"time": times[start:stop], "value": values[start:stop], "flag": flags[start:stop]}
        )

    # numpy and zstd release the GIL: the columns of a wide file are encoded in parallel, and
    # the encoding starts now, so it overlaps the queries below and the COPY of earlier blobs
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        blobs = pool.map(
            encode, [(c, start, stop) for c in range(len(columns)) for _, start, stop in bounds]
        )
        # One locking query over the earlier versions of these variables (a few columns only:
        # a flight re-processed many times has many), one UPDATE for the ones superseded:
        # those at this level, and those of this file at any level (_superseded_scope).
        latest: dict[str, int] = {}
        current: list[int] = []
        for pk, variable, version, is_current, row_level, flight_id in (
            Series.objects.select_for_update()
            .filter(
                (_superseded_scope(level, identity) & Q(flight=flight, variable__in=names))
                | vanished
            )
            .values_list("pk", "variable", "version", "is_current", "level", "flight_id")
        ):
            if row_level == level and variable in names and flight_id == flight.pk:
                # versions are numbered per variable and level
                latest[variable] = max(latest.get(variable, 0), version)
            if is_current:
                current.append(pk)
        superseded = list(Series.objects.filter(pk__in=current).order_by("pk"))
        Series.objects.filter(pk__in=current).update(is_current=False)
        for old in superseded:
            old.is_current = False
        created = Series.objects.bulk_create(
            [
                Series(
                    flight=flight,
                    instrument=instrument,
                    component=components.get(name),
                    deployment=deployment,
                    variable=name,
                    units=str(attributes.get("units", "")),
                    long_name=str(attributes.get("long_name", ""))[:300],
                    standard_name=str(attributes.get("standard_name", ""))[:200],
                    level=level,
                    version=latest.get(name, 0) + 1,
                    source=source,
                    n_points=int(times.size),
                    time_start=_datetime(times[0]) if times.size else None,
                    time_end=_datetime(times[-1]) if times.size else None,
                    provenance=provenance,
                    attributes=attributes,
                )
                for name, attributes, _, _ in columns
            ]
        )
        segments = (
            Segment(
                series=series,
                index=index,
                time_start=_datetime(times[start]),
                time_end=_datetime(times[stop - 1]),
                n_points=stop - start,
                data=blob,
            )
            for (series, (index, start, stop)), blob in zip(
                ((series, b) for series in created for b in bounds), blobs, strict=True
            )
        )
        _segments_store(segments)  # rows go out as their blobs are ready
    _flight_spans_update({flight.pk, *(old.flight_id for old in superseded)})
    if moved:
        from stratoflow.server.review.services import flight_data_moved  # review builds on us

        for other in Flight.objects.filter(pk__in=set(moved.values())).order_by("pk"):
            flight_data_moved(other, identity=identity, to=flight)
    return ImportResult(source, created, created=True, superseded=superseded)


def _moved(
    identity: str, provider: str, location: str, flight: Flight, times: npt.NDArray[Any]
) -> dict[int, int]:
    """The current series (pk -> flight pk) an earlier version of this file left on another
    flight, when the new version names another flight for the same measurement.

    The provider corrected the flight number in the header and delivered the file again
    under its name: the new version's series are the new flight's, and the old flight's
    series of the file stay current, the file's data then on two flights. They are the same
    file's when they come from the same identity and provider, and, for a file named by its
    location (``stratoflow import`` names a file by its base name, so ``data.nc`` in one
    folder per flight are different files), from the same ``location``; and they are the
    same measurement when their times overlap the new version's (a file name reused for
    the next flight, ``latest.nc``, covers other times and leaves the earlier flight alone).
    """
    if not times.size:
        return {}
    rows = (
        Series.objects.filter(
            source__identity=identity,
            source__provider=provider,
            is_current=True,
            time_start__lte=_datetime(times[-1]),
            time_end__gte=_datetime(times[0]),
        )
        .exclude(flight=flight)
        .values_list("pk", "flight_id", "provenance")
    )
    return {pk: fid for pk, fid, p in rows if str(p.get("location") or "") == location}


def _flight_spans_update(flight_ids: Iterable[int]) -> None:
    """Set each flight's time span to that of its current series (call with the flights
    locked, after a version changed).

    The span was taken from the first file imported and never changed: a later file of the
    flight starting earlier or ending later (the instrument switched on before take-off, a
    flight over midnight delivered in parts), or a corrected file with the clock put right,
    left the flight listed at the first file's times, and searched for by the wrong date.
    """
    spans = (
        Series.objects.filter(flight_id__in=set(flight_ids), is_current=True)
        .values("flight_id")
        .annotate(start=Min("time_start"), end=Max("time_end"))
    )
    for span in spans:
        if span["start"] is not None:
            Flight.objects.filter(pk=span["flight_id"]).update(
                time_start=span["start"], time_end=span["end"]
            )


def _segments_store(segments: Iterable[Segment]) -> None:
    """Insert segments through the database's bulk path: COPY on PostgreSQL.

    Segments are few, large blobs; PostgreSQL's binary COPY streams them without the text
    escaping of ``bytea`` parameters in an INSERT, which dominates the import time otherwise.
    """
    if connection.vendor != "postgresql":
        Segment.objects.bulk_create(list(segments), batch_size=100)
        return
    fields = ["series_id", "index", "time_start", "time_end", "n_points", "data"]
    columns = ", ".join(connection.ops.quote_name(f) for f in fields)
    sql = f"COPY {connection.ops.quote_name(Segment._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql + " (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "int4", "timestamptz", "timestamptz", "int4", "bytea"])
        for seg in segments:
            copy.write_row(
                [seg.series.pk, seg.index, seg.time_start, seg.time_end, seg.n_points, seg.data]
            )


def installation_add(
    component: Component,
    parent: Component,
    *,
    installed_from: datetime,
    installed_to: datetime | None = None,
) -> Installation:
    """Install ``component`` in ``parent`` for a period; rejects overlaps and cycles."""
    with transaction.atomic():
        # lock the component's installations so two writers cannot both pass the check
        list(Installation.objects.select_for_update().filter(component=component))
        installation = Installation(
            component=component,
            parent=parent,
            installed_from=installed_from,
            installed_to=installed_to,
        )
        _full_clean(installation)
        installation.save()
    return installation


def deployment_add(
    instrument: Component,
    aircraft: Any,
    *,
    time_start: datetime,
    time_end: datetime | None = None,
    location: Any = None,
    campaign: Any = None,
) -> Deployment:
    """Deploy ``instrument`` on ``aircraft`` for a period; rejects overlapping deployments."""
    with transaction.atomic():
        list(Deployment.objects.select_for_update().filter(instrument=instrument))
        deployment = Deployment(
            instrument=instrument,
            aircraft=aircraft,
            time_start=time_start,
            time_end=time_end,
            location=location,
            campaign=campaign,
        )
        _full_clean(deployment)
        deployment.save()
    return deployment


def _full_clean(obj: Any) -> None:
    """Run Django validation, translating its error into the catalog's own error."""
    from django.core.exceptions import ValidationError

    try:
        obj.full_clean()
    except ValidationError as exc:
        raise CatalogError("; ".join(exc.messages)) from exc


def qc_run_store(
    series: Series,
    *,
    flags: npt.NDArray[np.uint8],
    evaluation: str,
    thresholds: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    outcomes: Sequence[TestOutcome] = (),
) -> QCRun:
    """Store a QC run of ``series``: final flags and every test's probabilities, atomically.

    The new run becomes the current one; earlier runs stay as history.
    """
    if flags.shape != (series.n_points,):
        raise ImportFailed(
            f"{series}: QC flags have {flags.shape[0]} points, series has {series.n_points}"
        )
    with transaction.atomic():
        flight_lock([series.flight_id])
        QCRun.objects.filter(series=series, is_current=True).update(is_current=False)
        run = QCRun.objects.create(
            series=series,
            evaluation=evaluation,
            thresholds=_jsonable(dict(thresholds or {})),
            config=_jsonable(dict(config or {})),
            flag_counts=count_flags(flags),
            flags=encode_columns({"flag": np.asarray(flags, dtype=np.uint8)}),
        )
        QCTestResult.objects.bulk_create(
            QCTestResult(
                run=run,
                test=o.test,
                parameters=_jsonable(dict(o.parameters)),
                version=o.version,
                runtime_s=o.runtime_s,
                probabilities=encode_columns({"p": np.asarray(o.probabilities, np.float32)}),
            )
            for o in outcomes
        )
    return run
