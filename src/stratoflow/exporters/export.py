"""Export: selection -> Dataset per flight -> file, each recorded as an :class:`ExportRecord`.

The record keeps what is needed to make the same file again (selection, series and QC-run
versions, writer and options, resampling) and its SHA-256. The ``fingerprint`` identifies the
*content*; a new fingerprint for the same flight and format is a new export ``version`` (and
the file name says so: ``<flight>_<level>[_<resolution>]_v<version><suffix>``, or the option
``name_template`` (see :mod:`stratoflow.exporters.naming`); ICARTT files are named as ICARTT
prescribes, ``<flight>-<level>[-<resolution>]_<platform>_<YYYYMMDD>_R<n>.ict`` with revision
``R<version - 1>``).

Example::

    records = export(Selection(flights=("2024032703373803",), level="L1"),
                     ExportOptions(format="netcdf", resample="10s"), Path("out"))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from xarray import Dataset

from stratoflow import write_dataset
from stratoflow.commands.convert import FORMATS
from stratoflow.dataset import TIME, data_variables
from stratoflow.errors import ConfigError, ExportError, StratoflowError, WriterError
from stratoflow.exporters.assemble import flight_dataset
from stratoflow.exporters.hidden import hidden_name, orphan, remove_abandoned, same_file, writing
from stratoflow.exporters.naming import check_name_template, render_name, safe_name
from stratoflow.exporters.resample import AGGREGATES, Aggregate, parse_resolution
from stratoflow.exporters.selection import FlightSelection, Selection, select
from stratoflow.flags import Flag
from stratoflow.readers.base import file_checksum
from stratoflow.server.catalog.models import Series
from stratoflow.server.exports.models import ExportRecord, ExportVersion
from stratoflow.server.workflow.models import Task, TransferHandler
from stratoflow.transfer.secrets import redact
from stratoflow.writers import get_writer
from stratoflow.writers.icartt import icartt_revision

__all__ = [
    "ExportIncomplete",
    "ExportOptions",
    "delivered_fingerprints",
    "export",
    "export_one",
    "fingerprint",
    "record_delivered",
    "record_failed",
]

logger = logging.getLogger(__name__)


class ExportIncomplete(ExportError):
    """Some flights of a selection could not be exported; the others were.

    ``records`` are the files written, ``failures`` ``(flight, message)`` for each flight
    left out (no file of it stays behind), ``total`` the number of flights selected.
    """

    def __init__(
        self, records: list[ExportRecord], failures: list[tuple[str, str]], total: int
    ) -> None:
        self.records, self.failures, self.total = records, failures, total
        messages = "; ".join(message for _, message in failures)
        if len(failures) == 1 and total == 1:
            super().__init__(messages)
        else:
            super().__init__(f"{len(failures)} of {total} flights not exported: {messages}")


@dataclass(frozen=True)
class ExportOptions:
    """How to export: format (see ``stratoflow export --help``), writer options, resampling.

    ``valid_flags`` are the flags whose points contribute to a resampled mean (good; add
    limited to use questionable data). ``name_template`` names the files instead of the
    default (:mod:`stratoflow.exporters.naming`); it is checked here, before any export.
    """

    format: str = "netcdf"
    writer_options: dict[str, Any] = field(default_factory=dict)
    resample: str | None = None
    aggregate: Aggregate = "worst"
    valid_flags: tuple[int, ...] = (int(Flag.GOOD),)
    ddof: int = 1
    name_template: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"unknown export format {self.format!r}; known: {sorted(FORMATS)}")
        if self.name_template is not None:
            check_name_template(self.name_template, self.format)
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"aggregate must be one of {AGGREGATES}, not {self.aggregate!r}")
        if self.resample is not None:
            parse_resolution(self.resample)

    @property
    def writer(self) -> str:
        """The writer plugin of the format."""
        return FORMATS[self.format][0]

    def all_writer_options(self) -> dict[str, Any]:
        """The format's own writer options, overridden by ``writer_options``."""
        return {**FORMATS[self.format][1], **self.writer_options}

    def processing(self) -> dict[str, Any]:
        """Resampling options as stored in the record (empty at native resolution)."""
        if self.resample is None:
            return {}
        return {
            "resample": self.resample,
            "aggregate": self.aggregate,
            "valid_flags": [Flag(c).label for c in self.valid_flags],
            "ddof": self.ddof,
        }


def fingerprint(item: FlightSelection, selection: Selection, options: ExportOptions) -> str:
    """SHA-256 of everything that determines the content of an export (not the bytes)."""
    document = {
        "flight": item.flight.identifier,
        "level": item.level,
        "start": selection.start.isoformat() if selection.start else None,
        "end": selection.end.isoformat() if selection.end else None,
        "versions": item.versions(),
        "format": options.format,
        "writer": options.writer,
        "writer_options": options.all_writer_options(),
        "processing": options.processing(),
    }
    text = json.dumps(document, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


#: Rounds of :func:`export_one`'s claim: each lost round means another content of the same
#: flight and format took the number meanwhile (a concurrent export), so this bounds how many
#: exports of different contents may race for one flight before one gives up.
_CLAIM_ROUNDS = 8


class _Again(Exception):
    """Claim and place the export again: the number it claimed went to another content
    meanwhile (its claim was released by a failed export of the same content and taken by
    another), or the recorded file it was to reuse was removed since."""


def _claim_version(subject: str, fmt: str, digest: str) -> int:
    """The version of this content: the one it was given before, else the next number, claimed.

    Claimed in a transaction of its own, committed before the file is written: the file of a
    long flight takes minutes, and on SQLite a writing transaction holds the lock of the
    whole database, so imports and the web UI would wait for (or fail on) the export. The
    :class:`ExportVersion` row is therefore a reservation: an export that fails releases it
    (:func:`_release_claim`, no gap in the numbers), one killed outright leaves it to the
    next export of the same content, which takes it up. Reading the highest number and using
    the next is not enough when exports run at once (two workers, the command line beside a
    job): the unique constraints make the database decide, and the loser reads again and
    takes the next number (or the content's own).
    """
    for _ in range(_CLAIM_ROUNDS):
        with transaction.atomic():
            known = (
                ExportVersion.objects.filter(subject=subject, format=fmt, fingerprint=digest)
                .values_list("version", flat=True)
                .first()
            )
            if known is not None:
                return int(known)
            latest = ExportVersion.objects.filter(subject=subject, format=fmt).aggregate(
                v=Max("version")
            )["v"]
            number = int(latest or 0) + 1
            try:
                with transaction.atomic():
                    ExportVersion.objects.create(
                        subject=subject, format=fmt, fingerprint=digest, version=number
                    )
            except IntegrityError:
                continue  # taken by a concurrent export that committed first: read again
            return number
    raise ExportError(
        f"flight {subject} ({fmt}): no export version could be claimed; concurrent exports "
        f"of other contents took the next number {_CLAIM_ROUNDS} times in a row; export again"
    )


def _hold_claim(subject: str, fmt: str, digest: str, version: int) -> None:
    """Inside a transaction: lock this content's claim of ``version`` until it commits.

    Serialises the exports of one content where they look at and place the file (on
    PostgreSQL a row lock; SQLite's writing transactions are serialised anyway), so one sees
    the other's file *and* its record, never the file alone. A claim released meanwhile (a
    failed export of the same content) is made again; :class:`_Again` when its number
    went to another content.
    """
    row = (
        ExportVersion.objects.select_for_update()
        .filter(subject=subject, format=fmt, fingerprint=digest)
        .first()
    )
    if row is None:
        try:
            with transaction.atomic():
                ExportVersion.objects.create(
                    subject=subject, format=fmt, fingerprint=digest, version=version
                )
        except IntegrityError:
            raise _Again from None
    elif row.version != version:
        raise _Again


def _release_claim(subject: str, fmt: str, digest: str, version: int) -> None:
    """Give up the claim of an export that failed, unless a record of the content has it.

    In a transaction of its own, after the failed one. Never raises: it runs while another
    error (or SIGTERM) unwinds, and a claim left behind only keeps a number for the content
    (the next export of it takes the claim up)."""
    try:
        with transaction.atomic():
            row = (
                ExportVersion.objects.select_for_update()
                .filter(subject=subject, format=fmt, fingerprint=digest, version=version)
                .first()
            )
            recorded = ExportRecord.objects.filter(
                subject=subject, format=fmt, fingerprint=digest
            ).exists()
            if row is not None and not recorded:
                row.delete()
    except DatabaseError as exc:
        logger.warning("export v%s of %s (%s) keeps its claim: %s", version, subject, fmt, exc)


def _existing(path: Path, subject: str, fmt: str, digest: str, version: int) -> str | None:
    """The SHA-256 of ``path`` when it is this very export, written and recorded before: it is
    kept, not rewritten; None when the name is free (or holds a killed export's unrecorded
    file of this content, see :func:`~stratoflow.exporters.hidden.orphan`).

    A version names one content, and a file of that name may already have been handed on
    (delivered, checksummed, cited): writing it again would give ``v1`` other bytes (a new
    creation date). A file of that name that is *not* a recorded export of this content is
    someone else's, or was edited: it is never overwritten (:class:`ExportError`). The
    checksum is read outside any transaction (a large file takes seconds); the records are
    looked at holding the claim, so a concurrent export of the same content that has
    placed the file has recorded it too.
    """
    if not path.exists() and not path.is_symlink():
        return None
    if path.is_file() and not path.is_symlink():
        checksum = file_checksum(path)
        with transaction.atomic():
            _hold_claim(subject, fmt, digest, version)
            if ExportRecord.objects.filter(
                subject=subject, format=fmt, fingerprint=digest, sha256=checksum
            ).exists():
                return checksum
        if orphan(path, digest):
            return None
    raise ExportError(_taken(path, subject, fmt, version))


def _taken(path: Path, subject: str, fmt: str, version: int) -> str:
    return (
        f"{path} already exists and is not the recorded export v{version} of flight {subject} "
        f"({fmt}); stratoflow does not overwrite it: move it away or export into another "
        "directory"
    )


def _write_hidden(ds: Dataset, path: Path, options: ExportOptions, hidden: Path) -> None:
    """Write the export of ``path`` as ``hidden`` (its errors name ``path``, the file the
    user asked for)."""
    try:
        write_dataset(ds, hidden, writer=options.writer, **options.all_writer_options())
    except (WriterError, ConfigError) as exc:
        if str(hidden) not in str(exc):
            raise
        raise type(exc)(str(exc).replace(str(hidden), str(path))) from exc


def _place(
    hidden: Path, path: Path, subject: str, fmt: str, digest: str, version: int
) -> str | None:
    """Inside the recording transaction, holding the claim: link ``hidden`` to ``path``;
    None, or the SHA-256 of the file already there when it is this content's recorded
    export (a concurrent export of the same content placed it first).

    Between the first look at the name and now, another export may have placed a file there
    (a flight whose identifier makes the same file name, an ICARTT revision given as a
    writer option), and a rename would silently replace it under that export's record. A
    hard link fails when the name is taken (on a file system without hard links: checked,
    then renamed). A killed export's unrecorded file of this content is replaced.
    """
    for _ in range(2):
        try:
            os.link(hidden, path)
        except FileExistsError:
            if path.is_file() and not path.is_symlink():
                checksum = file_checksum(path)
                if ExportRecord.objects.filter(
                    subject=subject, format=fmt, fingerprint=digest, sha256=checksum
                ).exists():
                    return checksum
                if orphan(path, digest):
                    path.unlink()
                    continue
            raise ExportError(_taken(path, subject, fmt, version)) from None
        except OSError:  # no hard links here (some network and FAT file systems)
            if path.exists() or path.is_symlink():
                raise ExportError(_taken(path, subject, fmt, version)) from None
            os.rename(hidden, path)
        return None
    raise ExportError(_taken(path, subject, fmt, version))


def _file_name(item: FlightSelection, options: ExportOptions, version: int, ds: Dataset) -> str:
    resolution = f"_{options.resample.replace(' ', '')}" if options.resample else ""
    suffix = get_writer(options.writer).suffix or ".dat"
    # the identifier comes from a data file: never let it name a folder ("../", "/")
    flight = safe_name(item.flight.identifier, "flight")
    if options.writer == "icartt":
        revision = icartt_revision(options.all_writer_options().get("revision"), ds.attrs)
        return _icartt_name(item, flight, resolution, revision, ds[TIME].values[0], suffix)
    if options.name_template is not None:
        start = item.flight.time_start
        day = (
            start.astimezone(UTC).strftime("%Y%m%d")
            if start is not None
            else str(ds[TIME].values[0].astype("datetime64[D]")).replace("-", "")
        )
        fields = {
            "flight": flight,
            "level": item.level,
            "resolution": resolution[1:],
            "version": version,
            "format": options.format,
            "suffix": suffix,
            "date": day,
        }
        return render_name(options.name_template, fields)
    return f"{flight}_{item.level}{resolution}_v{version}{suffix}"


def _icartt_name(
    item: FlightSelection,
    flight: str,
    resolution: str,
    revision: str,
    first: np.datetime64,
    suffix: str,
) -> str:
    """``dataID_locationID_YYYYMMDD_R#.ict``, the file name ICARTT 2.0 (2.1.1) prescribes.

    Archives and the icartt library take the data ID and location (platform) from the name,
    the date (line 7's, the UTC day of the first record) and the revision (the header's
    REVISION: R0 = export v1, unless the writer option ``revision`` says otherwise);
    ``<flight>_L1_v1.ict`` read as data ID ``<flight>`` measured at location ``L1``, without
    a date or revision. Underscores separate the fields, so the fields themselves use
    hyphens. Like ``v<version>``, the revision counts distinct contents of the flight in the
    format (another variable selection is one too), which keeps every file name unique.
    """

    def part(text: str, default: str) -> str:
        return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-") or default

    data_id = "-".join(
        [part(flight, "flight"), item.level, *([part(resolution, "")] if resolution else [])]
    )
    platform = item.flight.platform.name if item.flight.platform is not None else ""
    day = str(first.astype("datetime64[D]")).replace("-", "")
    location = _shortened(part(platform, "NA"), 40)
    tail = f"_{location}_{day}_{part(revision, 'R0')}{suffix}"
    # ICARTT names are at most 127 characters: a long identifier (an EBAS file name) is cut,
    # a digest of the whole keeping two that differ only beyond the cut apart
    return _shortened(data_id, _ICARTT_NAME_MAX - len(tail)) + tail


_ICARTT_NAME_MAX = 127


def _shortened(text: str, most: int) -> str:
    """``text``, or its head and a digest of the whole, in at most ``most`` characters."""
    if len(text) <= most:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: max(1, most - 9)].rstrip('-')}-{digest}"


def export_one(
    item: FlightSelection,
    selection: Selection,
    options: ExportOptions,
    directory: Path,
    *,
    requested_by: str = "",
    user: User | None = None,
    task: Task | None = None,
    transfer: TransferHandler | None = None,
    fence: Callable[[], None] | None = None,
) -> ExportRecord:
    """Write one flight's file into ``directory`` and record it (state ``written``).

    Short transactions only, none of them while the file is written (on SQLite a writing
    transaction locks the whole database): claim the version (:func:`_claim_version`);
    write the file under a hidden name; then, holding the claim, link it into place and
    record it in one transaction. Whatever fails or interrupts it (an error, Ctrl-C,
    SIGTERM) leaves neither a file under the export's name nor a record nor the claim; a
    process killed outright leaves its claim and hidden file, which the next export of the
    same flight takes up and removes.

    ``fence`` is called last in the recording transaction (a job's task checks there that
    its run has not given it up, :func:`~stratoflow.server.workflow.services.task_fence`);
    when it raises, the export is undone like any failed one: no record, no file, no claim.
    """
    digest = fingerprint(item, selection, options)
    ds = flight_dataset(
        item,
        start=selection.start,
        end=selection.end,
        resample=options.resample,
        aggregate=options.aggregate,
        valid_flags=options.valid_flags,
        ddof=options.ddof,
    )
    if ds.sizes[TIME] == 0:
        raise ExportError(f"flight {item.flight.identifier}: no data in the selected time range")
    subject, fmt = item.flight.identifier, options.format
    for _ in range(_CLAIM_ROUNDS):
        version = _claim_version(subject, fmt, digest)
        ds.attrs["export_version"] = version
        ds.attrs["export_fingerprint"] = digest
        try:
            return _write_and_record(
                ds,
                item,
                selection,
                options,
                directory / _file_name(item, options, version, ds),
                version,
                digest,
                requested_by=requested_by,
                user=user,
                task=task,
                transfer=transfer,
                fence=fence,
            )
        except _Again:
            continue  # its number went to another content meanwhile: claim again
        except BaseException:
            _release_claim(subject, fmt, digest, version)
            raise
    raise ExportError(
        f"flight {subject} ({fmt}): no export version could be kept; concurrent exports of "
        f"other contents took its number {_CLAIM_ROUNDS} times in a row; export again"
    )


def _write_and_record(
    ds: Dataset,
    item: FlightSelection,
    selection: Selection,
    options: ExportOptions,
    path: Path,
    version: int,
    digest: str,
    *,
    requested_by: str,
    user: User | None,
    task: Task | None,
    transfer: TransferHandler | None,
    fence: Callable[[], None] | None = None,
) -> ExportRecord:
    """Write ``path`` (unless it is this export, recorded before) and record it."""
    subject, fmt = item.flight.identifier, options.format
    with contextlib.suppress(OSError):  # tidying only
        remove_abandoned(path, recorded=False)
    checksum = _existing(path, subject, fmt, digest, version)
    hidden: Path | None = None
    placed = False
    try:
        if checksum is None:
            hidden = hidden_name(path, digest)
            writing.add(hidden, path)
            _write_hidden(ds, path, options, hidden)
            checksum, size = file_checksum(hidden), hidden.stat().st_size
        else:
            size = path.stat().st_size
        with transaction.atomic():
            _hold_claim(subject, fmt, digest, version)
            if hidden is not None:
                there = _place(hidden, path, subject, fmt, digest, version)
                placed = there is None
                if there is not None:  # the same content, placed and recorded meanwhile
                    checksum, size = there, path.stat().st_size
            elif not path.is_file():
                raise _Again  # removed since (delivered from an outbox): write it anew
            record = ExportRecord.objects.create(
                subject=subject,
                flight=item.flight,
                format=fmt,
                fingerprint=digest,
                version=version,
                selection=selection.to_dict(),
                series_versions=item.versions(),
                writer=options.writer,
                writer_options=options.all_writer_options(),
                processing=options.processing(),
                file_name=path.name,
                sha256=checksum,
                size=size,
                points=int(ds.sizes[TIME]) * len(data_variables(ds)),
                user=user,
                requested_by=requested_by[:200],
                task=task,
                transfer=transfer,
            )
            record.series.set([v.series for v in item.series])
            if fence is not None:
                fence()
    except BaseException:
        # Not recorded (the transaction that links and records is rolled back): a file left
        # under the version's name would make the next export of it refuse to overwrite
        # "someone else's" file, or be delivered without a record. Linked and then
        # interrupted before _place returned: the hidden file says the name holds ours.
        if placed or (hidden is not None and same_file(hidden, path)):
            path.unlink(missing_ok=True)
        raise
    finally:
        if hidden is not None:
            hidden.unlink(missing_ok=True)
            writing.discard(hidden)
    # recorded: a killed export's file that was this one's evidence may go now (tidying
    # only: the export is done whatever stands in the way)
    with contextlib.suppress(OSError):
        remove_abandoned(path, recorded=True)
    return record


def export(
    selection: Selection,
    options: ExportOptions,
    directory: Path,
    *,
    requested_by: str = "",
    user: User | None = None,
) -> list[ExportRecord]:
    """Export every flight of ``selection`` (one file each) into ``directory``.

    A flight that fails is left out (no file of it stays) and the others are exported
    still; then :class:`ExportIncomplete` says which failed and why, holding the records of
    those written.
    """
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} is a file, not a directory to export into")
    items = select(selection)
    if not items and selection.variables:
        stored = set(
            Series.objects.filter(variable__in=list(selection.variables))
            .values_list("variable", flat=True)
            .distinct()
        )
        unknown = [v for v in selection.variables if v not in stored]
        if unknown:
            known = sorted(set(Series.objects.values_list("variable", flat=True).distinct()))
            raise ExportError(
                f"no series of variable(s) {', '.join(unknown)} in the database; "
                f"stored variables: {', '.join(known[:40]) or 'none'}"
            )
    if not items:
        raise ExportError(
            f"nothing to export ({selection.describe()}): no flight with "
            + (
                "current data"
                if selection.level == "any"
                else f"data released to {selection.level} (data not reviewed yet: level 'any')"
            )
        )
    directory.mkdir(parents=True, exist_ok=True)
    records: list[ExportRecord] = []
    failures: list[tuple[str, str]] = []
    for item in items:
        try:
            records.append(
                export_one(
                    item, selection, options, directory, requested_by=requested_by, user=user
                )
            )
        except _FLIGHT_DEFECTS as exc:
            # One flight's bad data (a corrupt segment, a writer's refusal, a foreign file
            # of its name) must not keep the others of the selection from being exported.
            failures.append((item.flight.identifier, _defect(item.flight.identifier, exc)))
    if failures:
        raise ExportIncomplete(records, failures, len(items))
    return records


#: What one flight's export may fail with while the others can still be exported; anything
#: else (the database gone, an interrupt) stops the whole export.
_FLIGHT_DEFECTS = (StratoflowError, ValueError, TypeError, KeyError, IndexError, OSError)


def _defect(flight: str, exc: BaseException) -> str:
    """The failure in one line that names the flight (once) and the defect."""
    text = str(exc) if isinstance(exc, StratoflowError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if flight in text else f"flight {flight}: {text}"


def record_delivered(record: ExportRecord, remote: str) -> ExportRecord:
    """Mark ``record`` delivered (only ever after the transfer handler confirmed it)."""
    record.state = ExportRecord.State.DELIVERED
    record.remote = remote[:500]
    record.delivered_at = timezone.now()
    record.error = ""
    record.save(update_fields=["state", "remote", "delivered_at", "error"])
    return record


def record_failed(record: ExportRecord, error: str) -> ExportRecord:
    """Mark ``record``'s delivery failed with ``error`` (revealed secrets masked: a plugin or
    library may have quoted the credential it was given)."""
    record.state = ExportRecord.State.FAILED
    record.error = redact(error)
    record.save(update_fields=["state", "error"])
    return record


def delivered_fingerprints(subjects: Sequence[str], transfer: TransferHandler) -> set[str]:
    """Fingerprints already delivered to ``transfer`` for ``subjects``."""
    return set(
        ExportRecord.objects.filter(
            subject__in=list(subjects), transfer=transfer, state=ExportRecord.State.DELIVERED
        ).values_list("fingerprint", flat=True)
    )
