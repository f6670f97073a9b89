"""Uploads that were begun and never confirmed, settled by looking at the target.

An export record is marked ``uploading`` before its upload starts, and ``delivered`` only by
the attempt that heard the target's answer (:mod:`stratoflow.exporters.delivery`). When that
attempt was given up (timed out, lease lost) or its process died during the upload, the
record stays ``uploading``: the file may have arrived. A target whose folder can be listed
(a local or mounted directory, SFTP, FTP: :attr:`TransferType.finds_uploads
<stratoflow.transfer.base.TransferType.finds_uploads>`) can say so itself, because every
upload is written under a temporary name and renamed into place once complete
(:func:`~stratoflow.transfer.base.upload_name`): a file under the final name is a whole
upload, never a cut one. :func:`judge` reads what the folder shows:

- the final file with the export's size (and SHA-256 where the protocol gives one without a
  download: a local directory): it **arrived**, and the record is marked delivered;
- neither the final file nor an unfinished upload of it (a temporary ``.part`` file, a file
  moved aside): it did **not arrive**, and it is uploaded again;
- anything else (only a temporary file: cut off, or an upload still at work elsewhere; a file
  of another size or checksum; a size the server does not tell) is **unclear**: the record
  stays ``uploading``, with what was found, for a person to settle in the admin
  (:mod:`stratoflow.server.exports.admin`), as for a target that cannot be looked at (a REST
  endpoint).

Looking is only sound once the attempt that began the upload has stopped: an attempt given up
by its run may still be uploading (a thread cannot be stopped), and, still connecting, have
left nothing at the target yet. So an upload holds a lease (:func:`upload_lease`, a
:class:`~stratoflow.server.workflow.models.SchedulerLease` named ``export-upload:<id>``)
renewed by its process's heartbeat; while it is alive the upload counts as running, and the
target is not looked at. A process that died stops renewing it, and after one lease time
(``STRATOFLOW_LEASE_SECONDS``) its upload is settled by the next export task of the content.

A target that takes delivered files away (a partner who moves each file out on arrival) shows
an upload that arrived as absent: for such a target set the export manager's option
``check_target: false``, and every unconfirmed upload is left to a person.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.db import DatabaseError
from django.utils import timezone

from stratoflow.errors import ExportError
from stratoflow.server.exports.models import ExportRecord
from stratoflow.server.workflow.leases import heartbeat, identity, lease_acquire, lease_seconds
from stratoflow.server.workflow.models import SchedulerLease
from stratoflow.transfer.base import UploadTrace
from stratoflow.transfer.handler import TransferHandler

__all__ = ["Finding", "Verdict", "judge", "look", "upload_lease", "upload_running"]

logger = logging.getLogger("stratoflow.workflow")


class Verdict(enum.Enum):
    """What the target says of an unconfirmed upload."""

    ARRIVED = "arrived"
    NOT_ARRIVED = "not arrived"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class Finding:
    """A :class:`Verdict` and what was found, in words for the record and the task's error;
    ``looked``: whether that was found at the target (False: it was not looked at)."""

    verdict: Verdict
    found: str
    looked: bool = True


def _lease_name(record: ExportRecord) -> str:
    return f"export-upload:{record.pk}"


@contextlib.contextmanager
def upload_lease(record: ExportRecord) -> Iterator[None]:
    """Hold ``record``'s upload lease while the block runs (the upload), renewed by this
    process's heartbeat, and give it up after it, however the block ends.

    Taken before the record is marked ``uploading``: a record seen ``uploading`` without a
    live lease is one whose upload has stopped. Raises :class:`~stratoflow.errors.ExportError`
    when another process holds it (an upload of the record runs there).
    """
    name, holder = _lease_name(record), identity()
    if not lease_acquire(name, holder, lease_seconds()):
        raise ExportError(f"{record.file_name}: another attempt is uploading it now")
    beat = heartbeat()
    beat.hold_lease(name, holder)
    try:
        yield
    finally:
        beat.drop_lease(name)
        try:
            SchedulerLease.objects.filter(name=name, holder=holder).delete()
        except DatabaseError as exc:  # it runs out by itself one lease time later
            logger.warning("export upload lease %s not given up: %s", name, exc)


def upload_running(record: ExportRecord) -> str | None:
    """The process whose upload of ``record`` still runs (its lease is alive), or None."""
    return (
        SchedulerLease.objects.filter(name=_lease_name(record), expires_at__gt=timezone.now())
        .values_list("holder", flat=True)
        .first()
    )


def judge(trace: UploadTrace, size: int, sha256: str) -> Finding:
    """The verdict on an upload of a file of ``size`` bytes and ``sha256`` from what the
    target's folder shows (``trace``); see the module for the rules."""
    name = trace.name
    if trace.leftovers:
        left = f"an unfinished upload of it left {', '.join(trace.leftovers)}"
    else:
        left = ""
    if trace.exists:
        if trace.size is None:
            return Finding(Verdict.UNCLEAR, f"{name} is there, but the server tells no size")
        if trace.size != size:
            return Finding(
                Verdict.UNCLEAR, f"{name} is there with {trace.size} bytes, the export has {size}"
            )
        if trace.sha256 is not None and trace.sha256.lower() != sha256.lower():
            return Finding(
                Verdict.UNCLEAR,
                f"{name} is there with the export's size ({size} bytes) but SHA-256 "
                f"{trace.sha256}, the export's is {sha256}",
            )
        checked = "size and SHA-256" if trace.sha256 is not None else f"size ({size} bytes)"
        return Finding(
            Verdict.ARRIVED,
            f"{name} is there with the export's {checked}" + (f" ({left})" if left else ""),
        )
    if left:
        return Finding(
            Verdict.UNCLEAR,
            f"no {name}, but {left} (cut off, or an upload of it still at work elsewhere)",
        )
    return Finding(Verdict.NOT_ARRIVED, f"neither {name} nor an unfinished upload of it is there")


def look(record: ExportRecord, handler: TransferHandler) -> Finding | None:
    """What the target says of ``record``'s unconfirmed upload; ``None`` when it cannot tell
    (:meth:`TransferHandler.find_upload
    <stratoflow.transfer.handler.TransferHandler.find_upload>` gives nothing).

    While the upload's lease is alive (:func:`upload_running`) the target is not looked at:
    the upload still runs. A target that cannot be reached raises the transfer error.
    """
    running = upload_running(record)
    if running is not None:
        return Finding(
            Verdict.UNCLEAR,
            f"its upload still runs (process {running}, given up by its run but not "
            "stopped); the next run looks at the target once it has ended",
            looked=False,
        )
    trace = handler.find_upload(PurePosixPath(record.file_name).name)
    if trace is None:
        return None
    return judge(trace, record.size, record.sha256)
