"""Build the transfer library's :class:`~stratoflow.transfer.handler.TransferHandler` from a
:class:`~stratoflow.server.workflow.models.TransferHandler` row, and use it.

The row holds plugin names and plain option dicts (secrets only as references such as
``env:NAME``); the library does the protocol work, retries transient failures and names the
provider and location in every error. Staging lives under ``settings.STAGING_DIR/<row name>``.

Reference files (the aircraft's own data a clock synchronisation step correlates against) come
through a transfer handler too, so a job names them the way it names its data: by a pattern at
a provider (:func:`fetch_matching`). They are staged apart, under
``settings.STAGING_DIR/.references/<row name>``, so that fetching them never turns them into
new data files of the row's own import manager.

A task manager that imports files collects through :func:`collect_files`: every staged file of
its transfer handler that no task has taken yet (new ones, and those a crash left staged but
not queued), plus one unit per item whose download failed, so that the failure is that file's
task's and the other files are imported.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from django.conf import settings

from stratoflow.errors import (
    ConfigError,
    ExportError,
    GoneError,
    StagingError,
    StratoflowError,
    TransferError,
)
from stratoflow.server.workflow.leases import seconds_setting
from stratoflow.server.workflow.models import Task, TaskManager, fit_task_key
from stratoflow.server.workflow.models import TransferHandler as TransferHandlerRow
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.base import (
    Connection,
    Observation,
    RemoteItem,
    Settle,
    TransferType,
    UploadTrace,
)
from stratoflow.transfer.handler import TransferHandler
from stratoflow.transfer.secrets import redact
from stratoflow.transfer.staging import (
    ResumedSink,
    Sink,
    StagedFile,
    StagingArea,
    read_manifest,
)

__all__ = [
    "FETCH_ERROR",
    "GONE",
    "as_fetched",
    "build",
    "collect_files",
    "deliver",
    "execute_file",
    "fetch_failure",
    "fetch_matching",
    "fetch_new",
]

log = logging.getLogger("stratoflow.workflow")

#: The task detail that marks a unit whose file could not be fetched (the error message).
FETCH_ERROR = "fetch_error"
#: The outcome of a unit whose file the provider deleted after listing it.
GONE = "gone at provider"


def build(
    row: TransferHandlerRow, *, overrides: Mapping[str, Any] | None = None
) -> TransferHandler:
    """The configured transfer handler of ``row`` (checked: auth must fit the protocol).

    ``overrides`` replace some of the row's transfer options for this use only (e.g. another
    ``pattern`` to list reference files instead of data files).
    """
    provider = row.provider
    return TransferHandler.from_config(
        {
            "provider": {
                "name": provider.name,
                "description": provider.description,
                "contact": provider.contact,
                "url": provider.url,
                "licence": provider.licence,
            },
            "transfer": {
                "type": row.transfer_type,
                **row.transfer_options,
                **dict(overrides or {}),
            },
            "auth": {"method": row.auth, **row.auth_options},
        }
    )


def _staging_root(row: TransferHandlerRow) -> Path:
    root = Path(settings.STAGING_DIR)
    folder = root / row.name
    if folder.resolve().parent != root.resolve():  # a row saved without clean(): no escape
        raise ConfigError(f"transfer name {row.name!r} cannot be a staging folder name")
    return folder


def fetch_new(
    row: TransferHandlerRow,
    *,
    on_failure: Callable[[RemoteItem, TransferError], None] | None = None,
) -> list[StagedFile]:
    """Fetch every remote item not fetched before into the row's staging area.

    Under the staging area's exclusive lock (:func:`_exclusive`): two runs of one job at once
    (the scheduler and ``stratoflow job run``, or two schedulers' drivers) would otherwise
    clear each other's unfinished downloads and overwrite each other's manifest. The second
    waits, then finds the first one's files staged and fetches nothing again.
    """
    handler = build(row)
    root = _staging_root(row)
    with _exclusive(root, what=f"transfer {row.name!r}"):
        return handler.fetch_new(StagingArea(root), on_failure=on_failure)


def collect_files(
    manager: TaskManager, details: Callable[[StagedFile], dict[str, Any]]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The units (key, subject, details) of a file-importing task manager.

    Fetches what is new, then yields every staged file of the manager's transfer handler that
    no task of a manager on that handler has taken yet, keyed ``identity@sha256`` (so a file
    staged by a run that died before queueing it is imported by the next run, and nothing is
    imported twice), then one unit per item whose download failed, with :data:`FETCH_ERROR`
    in its details. Such a unit's key carries the time, so every run that fails to fetch a
    file says so; :func:`fetch_failure` is what its task does.
    """
    row = manager.transfer
    assert row is not None
    failures: list[tuple[RemoteItem, TransferError]] = []
    fetch_new(row, on_failure=lambda item, exc: failures.append((item, exc)))
    taken = set(Task.objects.filter(manager__transfer=row).values_list("key", flat=True))
    for staged in read_manifest(_staging_root(row)):
        key = f"{staged.identity}@{staged.sha256}"
        if fit_task_key(key) in taken or not staged.path.is_file():
            continue
        taken.add(fit_task_key(key))
        yield key, staged.identity, details(staged)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    for item, exc in failures:
        yield (
            f"{item.identity}@fetch-failed@{stamp}",
            item.identity,
            {
                "identity": item.identity,
                FETCH_ERROR: redact(str(exc)),
                "gone": isinstance(exc, GoneError),
                "not_found": _answered_not_found(exc),
                "version": item.version,
                "sha256": item.sha256,
            },
        )


def _answered_not_found(exc: BaseException) -> bool:
    """Whether the provider answered "not found" (404/410, 550, no such file) for the file,
    even if it still listed it then (see ``TransferType.fetch_new``)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, GoneError):
            return True
        seen = seen.__cause__
    return False


@contextmanager
def as_fetched(identity: str, staged_path: str | Path) -> Iterator[None]:
    """Errors inside name the file as the provider calls it, not by its staging path.

    A reader names the file it opened, ``<staging>/<digest>/flight.nc``; the operator knows
    ``incoming/2024/flight.nc``. The staged copy is still given, once, for inspection. The
    error keeps its class (a transient failure stays retryable).
    """
    try:
        yield
    except StratoflowError as exc:
        staged = str(staged_path)
        text = str(exc)
        if staged not in text or staged == identity:
            raise
        try:
            renamed = type(exc)(f"{text.replace(staged, identity)} (staged copy: {staged})")
        except TypeError:  # a subclass with another constructor: keep the error as it is
            renamed = None
        if renamed is None:
            raise
        raise renamed.with_traceback(exc.__traceback__) from exc


def execute_file(
    manager: TaskManager, task: Task, work: Callable[[Path], dict[str, Any]]
) -> dict[str, Any]:
    """Execute the task of a unit from :func:`collect_files`: ``work(staged_path)``.

    Errors name the file as the provider does (:func:`as_fetched`); a unit whose download
    failed does :func:`fetch_failure` instead.
    """
    from stratoflow.jobs.states import TaskState

    if FETCH_ERROR in task.details:
        return {"state": TaskState.DONE, **fetch_failure(manager, task)}
    newer = _newer_version(manager, task) if task.error else None
    if newer is not None:
        return {
            "state": TaskState.SKIPPED,
            "superseded_by": newer.sha256,
            "note": f"failed before; the provider has since offered a new version of the file "
            f"(fetched {newer.fetched_at}), imported by its own task",
        }
    staged = task.details["staged_path"]
    with as_fetched(task.details["identity"], staged):
        return work(Path(staged))


def _newer_version(manager: TaskManager, task: Task) -> StagedFile | None:
    """The newest version of the task's file staged after the task's own, if any.

    A task retried after failing (``job retry``) would read its staged copy again: if the
    provider has since fixed the file, the retry's collect fetched the fixed version (its
    version marker changed) as a new task, and the old copy is of no more use; reading it
    would only fail the retried run again.
    """
    row = manager.transfer
    identity, sha256 = task.details.get("identity"), task.details.get("sha256")
    if row is None or not identity or not sha256:
        return None
    versions = [s for s in read_manifest(_staging_root(row)) if s.identity == identity]
    mine = next((i for i, s in enumerate(versions) if s.sha256 == sha256), None)
    if mine is None or mine == len(versions) - 1:
        return None
    return versions[-1]


def fetch_failure(manager: TaskManager, task: Task) -> dict[str, Any]:
    """Execute a unit whose file could not be fetched: fail with the fetch error.

    Unless the file has been staged since (a later run or ``job retry`` fetched it, and its
    own task imports it): then this task is done, so a retried run can succeed. "The file" is
    the version that failed when the provider announces a version marker or checksum, else
    any version staged after the failure.

    A file the provider answered "not found" for (:class:`~stratoflow.errors.GoneError`:
    HTTP 404/410, FTP 550, SFTP no such file) is looked for in a fresh listing: not listed
    (deleted after it was listed, or since), the task is skipped with the outcome
    :data:`GONE` instead of failing on every retry (no download can help); still listed, it
    fails as before. A listing that fails transiently leaves the task to be retried.
    """
    from stratoflow.jobs.states import TaskState

    row = manager.transfer
    info = task.details
    version, sha256 = info.get("version"), info.get("sha256")
    failed_at = task.created_at.replace(microsecond=0)
    if row is not None:
        for staged in read_manifest(_staging_root(row)):
            if staged.identity != info.get("identity"):
                continue
            if version is None and sha256 is None:
                same = datetime.fromisoformat(staged.fetched_at) >= failed_at
            else:
                same = (version is not None and staged.version == version) or (
                    sha256 is not None and staged.sha256 == sha256
                )
            if same:
                return {"fetched_later": staged.fetched_at}
    if row is not None and (info.get("gone") or info.get("not_found")):
        identity = info.get("identity")
        if all(item.identity != identity for item in build(row).list()):
            return {
                "state": TaskState.SKIPPED,
                "outcome": GONE,
                "note": f"{identity}: the provider answered that it does not have the file, "
                f"and no longer lists it ({info[FETCH_ERROR]})",
            }
    raise TransferError(str(info[FETCH_ERROR]))


#: seconds a run waits for a staging area another run holds (``STRATOFLOW_STAGING_LOCK_SECONDS``)
DEFAULT_STAGING_LOCK_SECONDS = 1800.0


def staging_lock_seconds() -> float:
    """How long a fetch waits for the staging area's lock (``STRATOFLOW_STAGING_LOCK_SECONDS``,
    setting or environment, default 1800; checked by
    :func:`~stratoflow.server.workflow.leases.seconds_setting`)."""
    return seconds_setting("STRATOFLOW_STAGING_LOCK_SECONDS", DEFAULT_STAGING_LOCK_SECONDS)


def _who() -> str:
    """This process, and the run its thread drives if any: what a waiter is told."""
    from stratoflow.server.workflow.services import driving_run

    me = f"process {os.getpid()} on {socket.gethostname()}"
    run = driving_run()
    return f"{me} (run {run.pk} of job {run.job.name!r})" if run is not None else me


@contextmanager
def _exclusive(root: Path, *, what: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``root`` across processes (workers share the staging area).

    A :class:`StagingArea` clears its ``.partial`` folder when opened and writes its manifest
    when a file arrives; two processes fetching into the same area at once must take turns.
    A process that finds the area busy says so (naming the holder) and waits: the holder's
    files are then staged, and the waiter fetches only what is still new. The lock is an
    ``flock`` on ``<root>/.lock``: the kernel releases it when its holder dies, so a killed
    process never leaves the area locked. A holder that hangs (a stalled download) would keep
    every later run waiting forever: the wait is bounded by :func:`staging_lock_seconds`, then
    :class:`~stratoflow.errors.StagingError` names the waiting run and the holder (process,
    host, run and job as it wrote them into the lock file).
    """
    root.mkdir(parents=True, exist_ok=True)
    limit = staging_lock_seconds()
    area = f"staging area {root}{f' of {what}' if what else ''}"
    with (root / ".lock").open("a+") as fh:

        def holder() -> str:
            fh.seek(0)
            return fh.read(300).strip() or "another process"

        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning(
                "%s is in use by %s (another run fetching); waiting for it (at most %g s)",
                area,
                holder(),
                limit,
            )
            deadline, pause = time.monotonic() + limit, 0.05
            while True:
                time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
                pause = min(pause * 2, 1.0)
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StagingError(
                            f"{_who()}: {area} is still held by {holder()} after {limit:g} s "
                            "(STRATOFLOW_STAGING_LOCK_SECONDS); its fetch may be hung: stop "
                            "that process (its lock goes with it) or raise the limit"
                        ) from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{_who()}\n")
            fh.flush()
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class _Matching(TransferType):
    """Another transfer type's items, restricted to the file names matching a glob.

    Only the listing changes; so the base class's ``fetch_new`` (skip what is staged, stage
    the rest atomically, retry transient failures) applies to the matching items alone.
    """

    def __init__(self, inner: TransferType, pattern: str) -> None:
        self.inner, self.pattern = inner, pattern

    def options(self) -> dict[str, Any]:
        return self.inner.options()

    @property
    def where(self) -> str:
        return self.inner.where

    def pace(self) -> tuple[float, float] | None:
        return self.inner.pace()  # a trickling server must not hold the references either

    def settle(self) -> Settle | None:
        return self.inner.settle()  # nor may a reference be taken while it is written

    def connect(self, auth: ConnectionHandler) -> Connection:
        return _MatchingConnection(self.inner.connect(auth), self.pattern)


class _MatchingConnection(Connection):
    def __init__(self, inner: Connection, pattern: str) -> None:
        self.inner, self.pattern, self.where = inner, pattern, inner.where

    def list(self) -> Iterator[RemoteItem]:
        return (item for item in self.inner.list() if fnmatchcase(item.name, self.pattern))

    def get(self, item: RemoteItem, sink: Sink) -> None:
        self.inner.get(item, sink)

    def get_from(self, item: RemoteItem, sink: ResumedSink, offset: int) -> None:
        self.inner.get_from(item, sink, offset)

    def version_of(self, item: RemoteItem) -> str | None:
        return self.inner.version_of(item)

    def stat(self, identity: str) -> RemoteItem:
        return self.inner.stat(identity)

    def observe(self, item: RemoteItem) -> Observation:
        return self.inner.observe(item)  # HTTP: its HEAD and the portal's clock

    def observe_again(self, item: RemoteItem) -> Observation:
        return self.inner.observe_again(item)

    def observe_listed(self, item: RemoteItem) -> Observation | None:
        return self.inner.observe_listed(item)

    def observe_many(self, items: Sequence[RemoteItem]) -> dict[str, Observation]:
        return self.inner.observe_many(items)  # HTTP: its HEADs in parallel

    def changes(self, item: RemoteItem, before: Observation, now: Observation) -> str | None:
        return self.inner.changes(item, before, now)  # HTTP: an ETag made for every answer

    def put(self, source: Path, name: str) -> str:
        return self.inner.put(source, name)

    def find_upload(self, name: str) -> UploadTrace | None:
        return self.inner.find_upload(name)

    def close(self) -> None:
        self.inner.close()


def fetch_matching(row: TransferHandlerRow, pattern: str) -> list[StagedFile]:
    """The newest staged version of every item of ``row`` whose file name matches ``pattern``.

    Items not staged yet are fetched first (into the reference staging area, see the module
    docstring). ``pattern`` is a glob on the file name; a transfer type that filters its
    listing by a ``pattern`` option (local, SFTP, FTP) lists with this one instead of its
    own. An item fetched earlier and since removed at the provider stays a candidate:
    references are kept, as data files are.
    """
    handler = build(row)
    if "pattern" in handler.transfer.options():
        handler = build(row, overrides={"pattern": pattern})
    matching = _Matching(handler.transfer, pattern)
    root = Path(settings.STAGING_DIR) / ".references" / row.name
    try:
        with _exclusive(root):
            staging = StagingArea(root)
            matching.fetch_new(
                handler.auth, staging, retry=handler.retry, provider=handler.provider.name
            )
            files = staging.files()
    except TransferError as exc:
        prefix = f"provider {handler.provider.name!r} ({handler.transfer.where})"
        raise type(exc)(f"{prefix}: {exc}") from exc
    newest: dict[str, StagedFile] = {}
    for staged in files:  # oldest first: a later version of an identity replaces the earlier
        if fnmatchcase(staged.name, pattern):
            newest[staged.identity] = staged
    return sorted(newest.values(), key=lambda f: f.identity)


def deliver(row: TransferHandlerRow, path: Path) -> str:
    """Upload ``path`` to the external system; return the remote identity."""
    try:
        return build(row).put(path)
    except TransferError as exc:
        raise ExportError(f"delivery of {path.name} failed: {exc}") from exc
