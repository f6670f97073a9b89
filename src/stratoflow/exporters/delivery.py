"""The export side of a job: what an export task manager collects and how a task delivers.

``collect``: every flight released to the manager's level whose export content (its
fingerprint: series versions, QC runs, manual flags, format, options) has not been delivered
to the manager's transfer handler yet. A flight is therefore re-exported exactly when its
released data changed. A unit whose delivery failed is offered again by later runs (at most
``redeliveries`` times, default 3) under a new task key.

``execute``: skip a task whose content is no longer the flight's released content, or was
delivered since by another task (a retried older run must not deliver an older version over a
newer one, nor a version twice); else write the file into the manager's outbox
(``<home>/exports/manager-<id>``), record it, upload it with the transfer handler (which
retries transient failures itself, ``retry`` option), and only then mark the record
delivered. A failed upload marks the record ``failed`` and fails the task — with the
transient error class kept, so the task runner can retry the task later; a retried task
re-uses the file it already wrote.

What a task records is fenced like an import
(:func:`~stratoflow.server.workflow.services.task_fence`): the export is recorded, the
upload begun and the delivery recorded only while the task still holds its claim and is
within its timeout, so an attempt its run gave up on (timed out, lease lost) records no
export. An upload cannot be taken back, though: the record is marked ``uploading`` (fenced)
right before it, and only the attempt that still holds the task marks it ``delivered``. An
``uploading`` record that no attempt confirmed (its attempt was given up, or its process
died, mid-upload) may have arrived. A later attempt looks at the target where it can be
listed (local directory, SFTP, FTP; :mod:`stratoflow.exporters.unconfirmed`): the file there
with the export's size (and checksum, where one is told) marks the record delivered; no file
and no unfinished upload of it gets the file uploaded again. Otherwise (a part file, another
size, a target that cannot be listed, or ``check_target: false``) it does not upload that
content again; it fails, naming the file, what was found and the target to check; whoever
checked the target says whether it arrived in the admin
(:mod:`stratoflow.server.exports.admin`).

Manager options: ``level`` (L1), ``format`` (netcdf; or the older ``writer`` plugin name),
``writer_options``, ``variables``, ``resample``, ``aggregate``, ``valid_flags`` (labels, e.g.
``["good", "limited"]``), ``name_template`` (file names, see
:mod:`stratoflow.exporters.naming`), ``retry`` (``{"attempts": 4, "base": 0.5}``), ``redeliveries``,
``check_target`` (default true; false for a target that takes delivered files away).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from stratoflow.errors import (
    ConfigError,
    ExportError,
    TaskError,
    TransferError,
    TransientTransferError,
)
from stratoflow.exporters.export import (
    ExportOptions,
    delivered_fingerprints,
    export_one,
    fingerprint,
    record_delivered,
    record_failed,
)
from stratoflow.exporters.selection import Selection, select
from stratoflow.exporters.unconfirmed import Verdict, look, upload_lease
from stratoflow.flags import Flag
from stratoflow.jobs.states import TaskState
from stratoflow.readers.base import file_checksum
from stratoflow.server.catalog.models import Flight
from stratoflow.server.exports.models import ExportRecord
from stratoflow.server.workflow.models import Task, TaskManager
from stratoflow.server.workflow.options import WRITER_FORMATS
from stratoflow.transfer.handler import TransferHandler
from stratoflow.transfer.retry import RetryPolicy

__all__ = ["collect", "execute", "options_of"]

Unit = tuple[str, str, dict[str, Any]]

logger = logging.getLogger("stratoflow.workflow")


def options_of(manager: TaskManager) -> tuple[Selection, ExportOptions]:
    """The selection and export options configured on an export task manager."""
    raw: Mapping[str, Any] = manager.options
    fmt = raw.get("format") or WRITER_FORMATS.get(str(raw.get("writer", "netcdf")))
    if fmt is None:
        raise ConfigError(f"export manager {manager}: unknown writer {raw.get('writer')!r}")
    try:
        valid = tuple(int(Flag[str(v).upper()]) for v in raw.get("valid_flags", ["good"]))
    except KeyError as exc:
        raise ConfigError(f"export manager {manager}: unknown flag {exc} in valid_flags") from None
    selection = Selection(level=raw.get("level", "L1"), variables=tuple(raw.get("variables", ())))
    options = ExportOptions(
        format=str(fmt),
        writer_options=dict(raw.get("writer_options") or {}),
        resample=raw.get("resample"),
        aggregate=raw.get("aggregate", "worst"),
        valid_flags=valid,
        name_template=raw.get("name_template"),
    )
    return selection, options


def _require_transfer(manager: TaskManager) -> None:
    if manager.transfer is None:
        raise ConfigError(f"export manager {manager}: no transfer handler configured")


def collect(manager: TaskManager) -> Iterator[Unit]:
    """Released flights whose current export content is not yet delivered."""
    _require_transfer(manager)
    assert manager.transfer is not None
    selection, options = options_of(manager)
    redeliveries = int(manager.options.get("redeliveries", 3))
    items = select(selection)
    delivered = delivered_fingerprints([i.flight.identifier for i in items], manager.transfer)
    for item in items:
        digest = fingerprint(item, selection, options)
        if digest in delivered:
            continue
        base = f"{item.flight.identifier}:{options.format}:{digest[:20]}"
        failed = Task.objects.filter(
            manager=manager, key__startswith=base, state=TaskState.FAILED.value
        ).count()
        if failed > redeliveries:
            continue
        yield (
            base + (f"#{failed}" if failed else ""),
            item.flight.identifier,
            {
                "flight": item.flight.pk,
                "level": item.level,
                "fingerprint": digest,
                "versions": item.versions(),
            },
        )


def _outbox(manager: TaskManager) -> Path:
    return Path(settings.HOME) / "exports" / f"manager-{manager.pk}"


def _reusable(task: Task, digest: str, outbox: Path) -> ExportRecord | None:
    """A file this task already wrote for the same content (a retried upload)."""
    for record in ExportRecord.objects.filter(task=task, fingerprint=digest).exclude(
        state=ExportRecord.State.DELIVERED
    ):
        path = outbox / record.file_name
        if path.is_file() and file_checksum(path) == record.sha256:
            return record
    return None


def _superseded(
    manager: TaskManager, task: Task, subject: str, fmt: str, digest: str
) -> dict[str, Any] | None:
    """Skip a task whose content is no longer the flight's, or already delivered; else None.

    A task names the content it was queued for (``fingerprint``). When it runs later (``job
    retry`` of an older failed run, a task re-queued after its worker died) the flight may
    have been released anew and a newer export version delivered since: exporting "the
    flight" now would upload that newer version a second time, and the task's own (older)
    content must never be delivered over it. The current content is collected and
    delivered by its own task; this one is skipped, saying by what.
    """
    assert manager.transfer is not None
    queued = task.details.get("fingerprint")
    newest = (
        ExportRecord.objects.filter(
            subject=subject,
            format=fmt,
            transfer=manager.transfer,
            state=ExportRecord.State.DELIVERED,
        )
        .order_by("-version", "-id")
        .first()
    )
    since = (
        f"export v{newest.version} ({newest.file_name}) was delivered at "
        f"{newest.delivered_at.isoformat() if newest.delivered_at else '?'}"
        if newest is not None
        else "nothing of it delivered yet"
    )
    if queued and queued != digest:
        note = (
            f"superseded: flight {subject} was released with other content after this task "
            f"was queued; {since}; its current content is exported by its own task"
        )
    elif digest in delivered_fingerprints([subject], manager.transfer):
        note = f"superseded: this content of flight {subject} was delivered already; {since}"
    else:
        return None
    logger.info("export task %s skipped: %s", task.key, note)
    return {"state": TaskState.SKIPPED, "note": note, "superseded_by": digest}


def _unconfirmed(manager: TaskManager, subject: str, fmt: str, digest: str) -> ExportRecord | None:
    """The record of this content whose upload an earlier attempt began and never confirmed
    (``uploading``), if there is one.

    That attempt was given up (or its process died) while it uploaded; the file may have
    arrived, so the content is not simply uploaded again (:func:`_settle`).
    """
    assert manager.transfer is not None
    return (
        ExportRecord.objects.filter(
            subject=subject,
            format=fmt,
            fingerprint=digest,
            transfer=manager.transfer,
            state=ExportRecord.State.UPLOADING,
        )
        .select_related("task")
        .first()
    )


def _settle(
    manager: TaskManager,
    task: Task,
    record: ExportRecord,
    handler: TransferHandler,
    outbox: Path,
) -> dict[str, Any] | ExportRecord:
    """Settle ``record``'s unconfirmed upload by what the target shows
    (:mod:`stratoflow.exporters.unconfirmed`).

    Arrived: the record is marked delivered and the task's outcome returned. Not arrived:
    the record is marked failed, and the record to upload now returned (that one, when its
    file is still intact in the outbox, else a new export). Unclear, or a target that cannot
    tell: :class:`~stratoflow.errors.ExportError` naming the file, what was found and what
    to do; the record stays ``uploading``, with what was found as its error.
    """
    from stratoflow.server.workflow.services import task_fence

    assert manager.transfer is not None
    finding = look(record, handler) if manager.options.get("check_target", True) else None
    subject = f"export v{record.version} of flight {record.subject} ({record.file_name})"
    remote = PurePosixPath(record.file_name).name  # as handler.put names it
    if finding is not None and finding.verdict is Verdict.ARRIVED:
        note = f"upload confirmed by looking at the target: {finding.found}"
        with transaction.atomic():
            settled = ExportRecord.objects.filter(
                pk=record.pk, state=ExportRecord.State.UPLOADING
            ).update(state=ExportRecord.State.DELIVERED, remote=remote, error=note)
            task_fence(task)
        if not settled:
            raise ExportError(f"{subject}: settled meanwhile by another attempt or a person")
        logger.info("export task %s: %s: %s", task.key, subject, note)
        (outbox / record.file_name).unlink(missing_ok=True)  # delivered: no longer kept
        return {**_delivered(record, remote), "note": note}
    if finding is not None and finding.verdict is Verdict.NOT_ARRIVED:
        note = f"upload never confirmed; not arrived ({finding.found}): delivered again"
        intact = (outbox / record.file_name).is_file() and file_checksum(
            outbox / record.file_name
        ) == record.sha256
        with transaction.atomic():
            settled = ExportRecord.objects.filter(
                pk=record.pk, state=ExportRecord.State.UPLOADING
            ).update(
                state=ExportRecord.State.FAILED,
                delivered_at=None,
                error=note,
                **({"task": task} if intact else {}),
            )
            task_fence(task, last=False)
        if not settled:
            raise ExportError(f"{subject}: settled meanwhile by another attempt or a person")
        logger.info("export task %s: %s: %s", task.key, subject, note)
        record.refresh_from_db()
        return record
    began = f" at {record.delivered_at.isoformat()}" if record.delivered_at else ""
    by = f" by task {record.task.key!r}" if record.task is not None else ""
    if finding is not None:
        seen = f"; {'at the target ' if finding.looked else ''}{finding.found}"
    elif not manager.options.get("check_target", True):
        seen = "; the target is not looked at (check_target: false)"
    else:
        seen = "; the target cannot be looked at"
    message = (
        f"{subject}: its upload to transfer handler {manager.transfer.name!r} was "
        f"begun{began}{by} and never confirmed (that attempt was given up or died while "
        f"uploading){seen}; it may have arrived, so it is not delivered again: check the "
        "target, then say whether it arrived with an action of the export records' admin page"
    )
    ExportRecord.objects.filter(pk=record.pk, state=ExportRecord.State.UPLOADING).update(
        error=message
    )
    raise ExportError(message)


def _begin_upload(record: ExportRecord, fence: Callable[[], None]) -> None:
    """Mark ``record`` as being uploaded, only while the task holds its claim (``fence``).

    Committed before the upload starts: should this attempt be given up during the upload,
    the next one sees that the file may have arrived (:func:`_unconfirmed`).
    ``delivered_at`` holds the time the upload began until the delivery is confirmed.
    """
    with transaction.atomic():
        begun = (
            ExportRecord.objects.filter(pk=record.pk)
            .exclude(state__in=[ExportRecord.State.DELIVERED, ExportRecord.State.UPLOADING])
            .update(state=ExportRecord.State.UPLOADING, delivered_at=timezone.now(), error="")
        )
        if not begun:
            raise ExportError(
                f"{record.file_name}: another attempt is delivering it or delivered it already"
            )
        fence()
    record.state = ExportRecord.State.UPLOADING


def _upload_failed(record: ExportRecord, error: str, fence: Callable[[], None]) -> None:
    """Mark the upload failed, so that a later attempt delivers the file again; only while
    the task holds its claim (``fence``). An attempt given up meanwhile leaves the record
    ``uploading``: its failure (a time-out waiting for the answer) does not prove that
    nothing arrived."""
    with transaction.atomic():
        record_failed(record, error)
        ExportRecord.objects.filter(pk=record.pk).update(delivered_at=None)
        fence()
    record.delivered_at = None


def execute(manager: TaskManager, task: Task) -> dict[str, Any]:
    """Export one flight and deliver it; the record says ``delivered`` only after the upload."""
    from stratoflow.server.workflow.services import task_fence
    from stratoflow.server.workflow.transfers import build

    _require_transfer(manager)
    assert manager.transfer is not None
    selection, options = options_of(manager)
    flight = Flight.objects.select_related("platform").get(pk=task.details["flight"])
    items = select(selection, flights=[flight])
    if not items:
        raise ExportError(f"flight {flight.identifier} is no longer released to {selection.level}")
    item = items[0]
    digest = fingerprint(item, selection, options)
    stale = _superseded(manager, task, item.flight.identifier, options.format, digest)
    if stale is not None:
        return stale

    def fence() -> None:
        # not the task's last step: what follows (the upload) is still timed
        task_fence(task, last=False)

    outbox = _outbox(manager)
    outbox.mkdir(parents=True, exist_ok=True)
    handler = build(manager.transfer)
    if manager.options.get("retry"):
        handler.retry = RetryPolicy.from_config(manager.options["retry"])
    record: ExportRecord | None = None
    pending = _unconfirmed(manager, item.flight.identifier, options.format, digest)
    if pending is not None:
        settled = _settle(manager, task, pending, handler, outbox)
        if isinstance(settled, dict):
            return settled
        if settled.task_id == task.pk:  # its file is intact in the outbox: sent again
            record = settled
    if record is None:
        record = _reusable(task, digest, outbox)
    if record is None:
        record = export_one(
            item,
            selection,
            options,
            outbox,
            requested_by=f"job {manager.job.name} / {manager.name}",
            task=task,
            transfer=manager.transfer,
            fence=fence,
        )
    path = outbox / record.file_name
    # the lease tells a later attempt that this upload still runs, even once its run has
    # given it up (see stratoflow.exporters.unconfirmed)
    with upload_lease(record):
        _begin_upload(record, fence)
        try:
            remote = handler.put(path)
        except TransientTransferError as exc:
            _upload_failed(record, str(exc), fence)
            raise  # the task runner may retry the task later; the file stays in the outbox
        except TransferError as exc:
            _upload_failed(record, str(exc), fence)
            raise ExportError(f"delivery of {record.file_name} failed: {exc}") from exc
        try:
            with transaction.atomic():
                record_delivered(record, remote)
                task_fence(task)
        except TaskError:
            # given up while it uploaded: the record stays 'uploading'; the next attempt
            # looks at the target, or leaves it to a person, rather than deliver it twice
            logger.warning(
                "export task %s: %s was uploaded to %s after its run gave the task up; "
                "not recorded as delivered",
                task.key,
                record.file_name,
                remote,
            )
            raise
    path.unlink(missing_ok=True)
    return _delivered(record, remote)


def _delivered(record: ExportRecord, remote: str) -> dict[str, Any]:
    """The outcome of an export task whose file ``record`` is delivered as ``remote``."""
    return {
        "state": TaskState.DONE,
        "file": record.file_name,
        "sha256": record.sha256,
        "remote": remote,
        "export": record.pk,
        "version": record.version,
        "points": record.points,
    }
