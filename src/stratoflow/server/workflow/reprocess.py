"""Re-processing: which files an import manager imported would its current configuration change.

A job's import manager only collects *new* files; when the PI corrects a calibration, picks
another clock-sync reference or changes a reader option, the files it imported before stay as
they were. :func:`reprocess_plan` finds them: every file the manager imported (its settled
tasks) whose current series carry another configuration key (see
:func:`stratoflow.server.catalog.services.config_key`) than the one its configuration gives the
file now (:func:`stratoflow.importers.series.import_plan`: the file is read, calibrations and
reference files are resolved, no step runs). Each one becomes a task of a re-processing run
(:func:`stratoflow.server.workflow.services.job_reprocess`), keyed by the file *and* the new key:
the catalog never imports the same bytes twice under one configuration, so this key is the
identity of the version the task makes, and asking again queues nothing.

A configuration that an *earlier* version of the file's series already had (the PI went back
from B to A) is planned as a *restore* of that version (``PlanItem.restore``, "restore v1" in
the listed changes): the task's import finds the version and makes it current again instead of
making a new one (see :func:`stratoflow.server.catalog.services.series_import`). Its task key
counts the restores of that version already done, so going back and forth between two
configurations queues a task each time.

QC is not in the key: its runs are stored apart from the values and re-run without a new
version. A file whose key is unchanged but whose series' last import QC was made with other QC
settings than the manager's ``qc`` option stands for now (another configuration text, e.g. a
new version of a stored configuration, or another evaluation method) is planned as a QC-only
item (``PlanItem.qc``): its task QCs the current version again and the flight awaits review.

A file the manager fetched under another name than the catalog knows its bytes by (a renamed
copy, which the import recognised by its content digest and stored nothing for) is found the
same way, by its digest (:func:`_catalog_source`), and re-processed as the catalog's file: a
new version of that file's series, from its source row (``PlanItem.catalog_identity``).

A staged copy cleaned away from the staging area is fetched again from the provider through
the manager's transfer handler, if the provider still serves the same bytes. What cannot be
re-processed is said, never skipped in silence: a staged copy gone and not to be had again (or
changed), and a file that cannot be read any more.

Example::

    plan = reprocess_plan(manager, Selection(flights=("F123",)), references)
    for item in plan.items:
        print(item.identity, item.old_keys, "->", item.new_key, item.changes)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratoflow.errors import ConfigError, StratoflowError, TransferError
from stratoflow.jobs.states import TaskState
from stratoflow.server.workflow.models import Task, TaskManager
from stratoflow.transfer.secrets import redact

if TYPE_CHECKING:
    from stratoflow.server.catalog.models import SourceFile
    from stratoflow.server.catalog.qc import QCSettings

__all__ = ["Blocked", "ManagerPlan", "PlanItem", "Selection", "reprocess_plan"]

#: Most changed settings listed per file (the rest is counted).
MAX_CHANGES = 8

Unit = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Selection:
    """Which imported files to consider: data starting in ``[since, until]``, these flights."""

    since: datetime | None = None
    until: datetime | None = None
    flights: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the run's record."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "flights": list(self.flights),
        }


@dataclass
class PlanItem:
    """One file whose series the manager's current configuration would change."""

    identity: str
    sha256: str
    staged_path: str
    size: int
    flight: str
    old_keys: list[str]
    new_key: str
    changes: list[str]
    task_key: str
    #: versions made current again instead of a new one (empty: a new version is made)
    restore: list[int] = field(default_factory=list)
    #: only the QC settings changed: the current version gets a new QC run, no new version
    qc: bool = False
    #: the identity the catalog knows the bytes by, when the manager fetched them under
    #: another name (a renamed copy): the task re-processes that file's series
    catalog_identity: str = ""

    def unit(self) -> Unit:
        """The task to queue: (idempotency key, subject, details)."""
        return (
            self.task_key,
            self.identity,
            {
                "identity": self.identity,
                "staged_path": self.staged_path,
                "sha256": self.sha256,
                "size": self.size,
                "flight": self.flight,
                **({"catalog_identity": self.catalog_identity} if self.catalog_identity else {}),
                "reprocess": {
                    "from": self.old_keys,
                    "to": self.new_key,
                    "changes": self.changes,
                    "restore": self.restore,
                    "qc": self.qc,
                },
            },
        )


@dataclass
class Blocked:
    """A file that should be re-processed but cannot be, and why.

    The reason often quotes a transfer's or reader's error, which may quote a credential
    (a portal's answer, a library's message); it goes into the run's summary, the flight's
    review history, admin messages and the command's output, so it is masked here, once.
    """

    identity: str
    flight: str
    reason: str

    def __post_init__(self) -> None:
        self.reason = redact(self.reason)


@dataclass
class ManagerPlan:
    """What re-processing would do for one import manager."""

    manager: str
    items: list[PlanItem] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    #: files whose current series already have the current configuration
    unchanged: list[str] = field(default_factory=list)
    #: files whose series are no longer current (a corrected file replaced them)
    superseded: list[str] = field(default_factory=list)
    #: files outside the selection
    outside: int = 0


def task_key(identity: str, sha256: str, new_key: str, failed: int, restores: int = 0) -> str:
    """Idempotency key of a re-processing task (short enough for the column).

    The configuration comes first so that cutting an over-long identity never merges two
    configurations; ``rN`` marks the N-th restore of the version made under it (A -> B -> A
    -> B -> A restores twice, each a task of its own); ``#n`` after ``n`` failed attempts lets
    a later request try again.
    """
    generation = f"r{restores}" if restores else ""
    base = f"reprocess@{new_key[:24]}{generation}@{sha256}@{identity}"[:290]
    return base + (f"#{failed}" if failed else "")


@dataclass
class _Imported:
    identity: str
    sha256: str
    staged_path: str
    size: int


def _imported(manager: TaskManager) -> list[_Imported]:
    """The files ``manager`` imported (settled tasks), newest staged copy of each, in order."""
    settled = [TaskState.DONE.value, TaskState.AWAITING_REVIEW.value]
    found: dict[tuple[str, str], _Imported] = {}
    rows = (
        Task.objects.filter(manager=manager, state__in=settled)
        .order_by("id")
        .values_list("details", flat=True)
    )
    for details in rows:
        if not isinstance(details, dict) or not details.get("identity"):
            continue
        if not details.get("sha256") or not details.get("staged_path"):
            continue
        key = (str(details["identity"]), str(details["sha256"]))
        found[key] = _Imported(*key, str(details["staged_path"]), int(details.get("size") or 0))
    return list(found.values())


def _stored_key(provenance: Mapping[str, Any], level: str) -> str:
    """A stored series' configuration key (recomputed for series stored before keys were)."""
    from stratoflow.server.catalog.services import config_key

    key = provenance.get("config_key")
    if key:
        return str(key)
    return config_key(
        str(provenance.get("reader", "")),
        provenance.get("reader_options") or {},
        level,
        provenance.get("processing") or [],
    )


def _canonical(
    reader: str, options: Mapping[str, Any], level: str, processing: Sequence[Any]
) -> dict[str, Any]:
    """What a configuration key covers, as a readable tree (for listing the differences)."""
    steps = []
    for record in processing:
        if not isinstance(record, Mapping) or record.get("step") == "basic_flags":
            continue
        refs = record.get("references") or {}
        entry: dict[str, Any] = {"step": record.get("step"), "params": record.get("params") or {}}
        if refs:
            entry["references"] = {
                name: f"{ref.get('identity')} ({str(ref.get('checksum', ''))[:12]})"
                for name, ref in refs.items()
            }
        steps.append(entry)
    return {"reader": reader, "reader_options": dict(options), "level": level, "processing": steps}


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, Mapping) and value:
        for k in sorted(value, key=str):
            _flatten(value[k], f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list | tuple) and value:
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = json.dumps(value, sort_keys=True, default=str)


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The settings that differ, as ``path: old -> new`` lines (at most :data:`MAX_CHANGES`).

    >>> changes({"level": "L0", "p": {"a": 1}}, {"level": "L0", "p": {"a": 3}})
    ['p.a: 1 -> 3']
    """
    a: dict[str, str] = {}
    b: dict[str, str] = {}
    _flatten(old, "", a)
    _flatten(new, "", b)
    lines = [
        f"{path}: {a.get(path, '(none)')} -> {b.get(path, '(none)')}"
        for path in sorted(set(a) | set(b))
        if a.get(path) != b.get(path)
    ]
    if len(lines) > MAX_CHANGES:
        lines = [*lines[:MAX_CHANGES], f"... and {len(lines) - MAX_CHANGES} more"]
    return lines


def _fetch_again(manager: TaskManager, file: _Imported, path: Path) -> str | None:
    """Put a cleaned-away staged copy back from the provider; None if done, else why not.

    Only the exact bytes that were imported are accepted (same SHA-256): a provider serving
    other content under the same name has a corrected file, which a normal run imports as
    new. A dry run fetches too: planning must read the file.
    """
    from stratoflow.server.workflow.transfers import build

    if manager.transfer is None:
        return "the manager has no transfer handler"
    try:
        build(manager.transfer).refetch(file.identity, file.sha256, path)
    except (TransferError, ConfigError) as exc:
        return str(exc)
    return None


def _requalify(
    manager: TaskManager,
    file: _Imported,
    path: Path,
    flight: str,
    key: str,
    wanted: QCSettings | None,
    source: SourceFile,
) -> PlanItem | None:
    """The item that QCs the file's current series again, if the QC settings changed since.

    QC is not in the configuration key (its runs are stored apart from the values), so an
    unchanged key says nothing about QC: the settings of each series' last import QC run are
    compared with what the manager's ``qc`` option stands for now. The task key names the
    new settings and counts the import QC runs done, so a change back and forth queues a
    task each time and asking twice queues one.
    """
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.qc import qc_import_runs, qc_outdated

    current = list(Series.objects.filter(source=source, is_current=True).order_by("id"))
    outdated, old = qc_outdated(current, wanted)
    if not outdated or wanted is None:
        return None
    fingerprint = hashlib.sha256(f"{wanted.checksum}:{wanted.evaluation}".encode()).hexdigest()
    qc_key = f"{key[:12]}.qc{fingerprint[:8]}"
    generation = qc_import_runs(current) + 1
    failed = Task.objects.filter(
        manager=manager,
        key__startswith=task_key(file.identity, file.sha256, qc_key, 0, generation),
        state=TaskState.FAILED.value,
    ).count()
    return PlanItem(
        identity=file.identity,
        sha256=file.sha256,
        staged_path=str(path),
        size=file.size,
        flight=flight,
        old_keys=[key],
        new_key=key,
        changes=[
            f"QC again, same version ({len(outdated)} series)",
            *wanted.changes(old),
        ],
        task_key=task_key(file.identity, file.sha256, qc_key, failed, generation),
        qc=True,
        catalog_identity=_renamed(file, source),
    )


def _catalog_source(file: _Imported) -> SourceFile | None:
    """The catalog's source row of a file the manager imported, found as the import found it.

    The file's own row (identity and checksum), else the row of the same bytes under another
    name: an import that recognises a renamed copy by its content digest stores nothing new,
    and the copy's series are those of the file first imported with those bytes. Of several
    such rows, the first with current series (else the first with any) stands for the bytes.
    """
    from stratoflow.server.catalog.models import SourceFile

    own = SourceFile.objects.filter(identity=file.identity, checksum=file.sha256).first()
    if own is not None:
        return own
    twins = SourceFile.objects.filter(checksum=file.sha256, series__isnull=False).distinct()
    current = twins.filter(series__is_current=True).order_by("id").first()
    return current or twins.order_by("id").first()


def _renamed(file: _Imported, source: SourceFile) -> str:
    """The catalog's name of ``file``'s bytes when the manager fetched them under another."""
    return source.identity if source.identity != file.identity else ""


def reprocess_plan(
    manager: TaskManager,
    selection: Selection,
    references: Mapping[str, Any] | None,
) -> ManagerPlan:
    """Which files of import manager ``manager`` its current configuration would change.

    ``references`` are the manager's reference specs already resolved to files (done once per
    manager by the caller, as a task would: see ``ImportManager._references``).
    """
    from stratoflow.importers.series import import_plan
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.qc import qc_settings

    options = dict(manager.options)
    level = str(options.get("level", "L0"))
    plan = ManagerPlan(manager=manager.name)
    wanted = qc_settings(options.get("qc", {}))
    seen: set[int] = set()
    for file in _imported(manager):
        source = _catalog_source(file)
        if source is None:
            plan.blocked.append(
                Blocked(file.identity, "", "imported by this manager but not in the catalog now")
            )
            continue
        if source.pk in seen:  # a renamed copy of a file planned already
            continue
        seen.add(source.pk)
        rows = list(
            Series.objects.filter(source=source)
            .order_by("id")
            .values_list(
                "is_current", "level", "provenance", "flight__identifier", "time_start", "version"
            )
        )
        current = [r for r in rows if r[0]]
        if not current:
            plan.superseded.append(file.identity)
            continue
        flight = str(current[0][3])
        start = min((r[4] for r in current if r[4] is not None), default=None)
        if (
            (selection.flights and flight not in selection.flights)
            or (selection.since and (start is None or start < selection.since))
            or (selection.until and (start is None or start > selection.until))
        ):
            plan.outside += 1
            continue
        path = Path(file.staged_path)
        if not path.is_file() and (problem := _fetch_again(manager, file, path)):
            plan.blocked.append(
                Blocked(
                    file.identity,
                    flight,
                    f"its staged copy {path} is no longer in the staging area and could not be "
                    f"fetched again ({problem}); put the file back there "
                    f"(SHA-256 {file.sha256[:16]}...) to re-process it",
                )
            )
            continue
        try:
            planned = import_plan(
                path,
                identity=file.identity,
                reader=options.get("reader"),
                reader_options=options.get("reader_options") or {},
                level=level,
                processing=options.get("processing") or (),
                references=references,
                instrument=options.get("instrument"),
            )
        except StratoflowError as exc:
            plan.blocked.append(Blocked(file.identity, flight, f"cannot be planned: {exc}"))
            continue
        if planned.checksum != file.sha256:
            plan.blocked.append(
                Blocked(
                    file.identity,
                    flight,
                    f"its staged copy {path} changed (SHA-256 {planned.checksum[:12]}, "
                    f"imported {file.sha256[:12]}); import the file it now holds as a new file",
                )
            )
            continue
        keys = {_stored_key(r[2], r[1]): r for r in current}
        if planned.config_key in keys:
            item = _requalify(manager, file, path, flight, planned.config_key, wanted, source)
            if item is None:
                plan.unchanged.append(file.identity)
            else:
                item.old_keys = sorted(keys)
                plan.items.append(item)
            continue
        earlier = [r for r in rows if not r[0] and _stored_key(r[2], r[1]) == planned.config_key]
        restore = sorted({int(r[5]) for r in earlier})
        restores = max((len(r[2].get("restorations") or []) for r in earlier), default=0)
        old = current[0][2]
        old_tree = _canonical(
            str(old.get("reader", "")),
            old.get("reader_options") or {},
            str(current[0][1]),
            old.get("processing") or [],
        )
        new_tree = _canonical(
            planned.reader, planned.reader_options, planned.level, planned.processing
        )
        generation = restores + 1 if restore else 0
        failed = Task.objects.filter(
            manager=manager,
            key__startswith=task_key(file.identity, file.sha256, planned.config_key, 0, generation),
            state=TaskState.FAILED.value,
        ).count()
        listed = changes(old_tree, new_tree) or ["configuration fingerprint differs"]
        if source.identity != file.identity:
            listed = [f"the same bytes as {source.identity}, re-processed as that file", *listed]
        if restore:
            versions = "/".join(f"v{v}" for v in restore)
            listed = [f"restore {versions} (made with this configuration before)", *listed]
        plan.items.append(
            PlanItem(
                identity=file.identity,
                sha256=file.sha256,
                staged_path=str(path),
                size=file.size,
                flight=flight,
                old_keys=sorted(keys),
                new_key=planned.config_key,
                changes=listed,
                task_key=task_key(
                    file.identity, file.sha256, planned.config_key, failed, generation
                ),
                restore=restore,
                catalog_identity=_renamed(file, source),
            )
        )
    return plan
