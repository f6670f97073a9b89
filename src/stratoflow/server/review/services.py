"""Review services: what the PI does to a flight's data; every action is recorded.

The PI can re-evaluate stored QC results with another method or thresholds (no test re-run,
no re-import), re-run QC with another configuration on the stored values, flag a time range by
hand (manual flags win over QC and are replayed on every later QC run of the same flight and
variable, see :func:`replay_manual_flags`), and approve (release to L1, then L2) or reject.
Changing the flags of released data withdraws the release (the flight awaits review again and
leaves the exports until approved anew), so exports never differ from what was approved.
When the job's import configuration changed since the flight's data were imported (a corrected
calibration, another clock reference), the PI can re-process the flight with it
(:func:`flight_reprocess`, the service behind ``stratoflow job reprocess --flight``); going
back to a configuration an earlier version was made with restores that version
(:func:`series_restore_record` records it).
Each action writes a :class:`~stratoflow.server.review.models.ReviewEvent`: who, when, what
(``details``) and why (``reason``). QC results are never changed in place: each change stores
a new current :class:`~stratoflow.server.catalog.models.QCRun` and the old ones stay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q

from stratoflow.errors import ConfigError
from stratoflow.flags import FLAG_DTYPE, Flag
from stratoflow.jobs.states import TaskState
from stratoflow.qc import ManualFlag as QCManualFlag
from stratoflow.qc import get_evaluation
from stratoflow.qc.evaluation import apply_overrides
from stratoflow.server.catalog.models import Flight, QCRun, Series
from stratoflow.server.catalog.services import (
    ImportResult,
    TestOutcome,
    flight_lock,
    qc_run_store,
)
from stratoflow.server.review.models import Decision, ManualFlag, ReviewEvent
from stratoflow.server.review.selectors import (
    current_series,
    flight_review_state,
    latest_decision,
)
from stratoflow.server.review.stored import StoredQC, merge_source_flags, stored_qc
from stratoflow.server.workflow.models import Task, TaskManager
from stratoflow.server.workflow.services import task_transition

if TYPE_CHECKING:
    from stratoflow.server.workflow.reprocess import ManagerPlan
    from stratoflow.server.workflow.services import ReprocessReport

__all__ = [
    "MANUAL_FLAG_CHOICES",
    "flight_approve",
    "flight_data_moved",
    "flight_flag_range",
    "flight_reevaluate",
    "flight_reject",
    "flight_reprocess",
    "flight_reprocess_plan",
    "flight_rerun_qc",
    "replay_manual_flags",
    "review_event_record",
    "series_restore_record",
]

#: Flags a PI may set by hand.
MANUAL_FLAG_CHOICES = (Flag.GOOD, Flag.LIMITED, Flag.BAD, Flag.NOT_VALIDATED)


def review_event_record(
    flight: Flight,
    *,
    action: str,
    user: User | None,
    details: Mapping[str, Any] | None = None,
    reason: str = "",
    task: Task | None = None,
) -> ReviewEvent:
    """Record one action in the flight's review history."""
    return ReviewEvent.objects.create(
        flight=flight,
        action=action,
        user=user,
        details=dict(details or {}),
        reason=reason,
        task=task,
    )


def _withdraw_release(flight: Flight, *, user: User | None, cause: str) -> Decision | None:
    """Withdraw the flight's release when the PI changed its flags (call inside the change's
    transaction, after it); None when the flight was not released.

    A release names the exact flags the PI approved, so after a change exports would either
    deliver flags the database no longer holds or flags nobody approved. A demanding PI wants
    neither: the release is withdrawn (a ``withdraw`` decision recording the new state), the
    flight leaves the exports and is back in the review queue until approved again.
    """
    last = latest_decision(flight)
    if last is None or last.action != Decision.Action.APPROVE:
        return None
    reason = f"{cause} after the release to {last.level}"
    decision = Decision.objects.create(
        flight=flight,
        action=Decision.Action.WITHDRAW,
        level="",
        reason=reason,
        user=user,
        reviewed=flight_review_state(flight).to_dict(),
    )
    review_event_record(
        flight,
        action=ReviewEvent.Action.WITHDRAW,
        user=user,
        details={"level": last.level, "decision": decision.pk, "withdrawn": last.pk},
        reason=reason,
    )
    return decision


def flight_data_moved(flight: Flight, *, identity: str, to: Flight) -> Decision | None:
    """Withdraw ``flight``'s release: a corrected ``identity`` took its series to flight ``to``
    (a corrected flight number; call inside the import's transaction, after it).

    The release names the versions the PI approved, and exports deliver them until the PI
    decides again: the old flight would go on delivering data its provider now says are
    another flight's. The flight leaves the exports and is back in the review queue; the
    withdrawal and its cause are in its review history. None when it was not released.
    """
    return _withdraw_release(
        flight,
        user=None,
        cause=f"{identity}: its data now belong to flight {to.identifier} "
        "(the provider corrected the flight in the file)",
    )


def _overrides(flight: Flight, variable: str) -> list[QCManualFlag]:
    rows = ManualFlag.objects.filter(flight=flight, variable=variable).order_by("created_at", "id")
    return [
        QCManualFlag(
            variable=variable,
            start=np.datetime64(r.time_start.astimezone(UTC).replace(tzinfo=None), "ns"),
            end=np.datetime64(r.time_end.astimezone(UTC).replace(tzinfo=None), "ns"),
            flag=Flag(r.flag),
            who=r.user.get_username() if r.user else "",
            why=r.comment,
        )
        for r in rows
    ]


def replay_manual_flags(
    series: Series, flags: npt.NDArray[np.uint8], time: npt.ArrayLike
) -> npt.NDArray[np.uint8]:
    """``flags`` of ``series`` with the PI's manual flags of its flight and variable applied.

    Called by the importer's QC (:func:`stratoflow.server.catalog.qc.qc_series`) for every QC
    run it stores, so a manual flag set on a time range stays on that range in every later
    version of the series (reprocessed or corrected data). Later flags win over earlier ones;
    points without a value stay ``missing`` whatever the PI set.
    """
    overrides = _overrides(series.flight, series.variable)
    if not overrides:
        return flags
    t = np.asarray(time).astype("datetime64[ns]")
    out = np.asarray(apply_overrides(flags, t, overrides), dtype=FLAG_DTYPE)
    out[flags == int(Flag.MISSING)] = int(Flag.MISSING)  # no value stays no value
    return out


def _counts(flight: Flight) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for s in current_series(flight):
        run = s.qc_runs.filter(is_current=True).first()
        out[s.variable] = dict(run.flag_counts) if run else {}
    return out


def _restore(stored: StoredQC, method: str, params: Mapping[str, Any], note: str) -> QCRun:
    """Evaluate stored test results, merge source flags, apply manual flags; store a run."""
    var = stored.variable
    if var.tests:
        _, flags = get_evaluation(method)(
            var.stack(), var.missing, [t.info for t in var.tests], **params
        )
        flags = merge_source_flags(flags, stored.source_flags)
    else:
        flags = stored.source_flags.copy()
    flags = replay_manual_flags(stored.series, flags, stored.time)
    n_manual = ManualFlag.objects.filter(
        flight=stored.series.flight, variable=stored.series.variable
    ).count()
    previous = dict(stored.run.config) if stored.run is not None else {}
    previous.pop("derived_from", None)
    config = {
        **previous,
        "derived_from": stored.run.pk if stored.run is not None else None,
        "review": note,
        "manual_flags": n_manual,
    }
    outcomes = [
        TestOutcome(
            t.label, {"test": t.test, **dict(t.params)}, t.version, t.runtime, t.probability
        )
        for t in var.tests
    ]
    return qc_run_store(
        stored.series,
        flags=np.asarray(flags, dtype=FLAG_DTYPE),
        evaluation=method,
        thresholds=dict(params),
        config=config,
        outcomes=outcomes,
    )


def flight_reevaluate(
    flight: Flight,
    *,
    user: User | None,
    method: str,
    good: float | None = None,
    bad: float | None = None,
    k: int | None = None,
    reason: str = "",
) -> list[QCRun]:
    """Evaluate the stored test results of every QC'd series with ``method``/thresholds.

    No test is re-run and nothing re-imported; manual flags still win. A released flight's
    release is withdrawn (see :func:`_withdraw_release`). Raises
    :class:`~stratoflow.errors.ConfigError` (e.g. ``PluginNotFound``, ``QCConfigError``) for an
    unknown method or invalid thresholds, and when no series has stored test results
    (nothing would change).
    """
    evaluation = get_evaluation(method)
    given = {key: v for key, v in {"good": good, "bad": bad, "k": k}.items() if v is not None}
    params = evaluation.check(given, "evaluation")
    runs = []
    with transaction.atomic():
        flight_lock([flight.pk])  # before reading: see flight_lock
        before = _counts(flight)
        for s in current_series(flight):
            stored = stored_qc(s)
            if stored.run is None or not stored.variable.tests:
                continue
            runs.append(_restore(stored, method, params, "reevaluate"))
        if not runs:  # no flag changed: nothing to record, no release to withdraw
            raise ConfigError(
                f"flight {flight.identifier}: no series with QC test results to re-evaluate "
                "(imported without QC?); re-run QC instead"
            )
        review_event_record(
            flight,
            action=ReviewEvent.Action.REEVALUATE,
            user=user,
            details={"method": method, "thresholds": params, "before": before},
            reason=reason,
        )
        _withdraw_release(flight, user=user, cause="re-evaluation")
    return runs


def flight_rerun_qc(
    flight: Flight,
    *,
    user: User | None,
    config: Mapping[str, Any] | None = None,
    method: str | None = None,
    reason: str = "",
) -> list[QCRun]:
    """Re-run QC on the stored values with ``config`` (None: shipped defaults).

    The tests run again on the stored values and source flags (nothing is re-imported); manual
    flags are replayed; the configuration is kept in each run (``qc_config``) so a later
    re-evaluation knows each test's ``critical``/``weight``. A released flight's release is
    withdrawn (see :func:`_withdraw_release`).
    """
    from stratoflow.server.catalog.qc import qc_series
    from stratoflow.server.catalog.qc_configurations import qc_config_resolve
    from stratoflow.server.catalog.selectors import flight_dataset

    parsed = qc_config_resolve(config).config  # None: the stored default, else the shipped one
    evaluation = method or parsed.evaluation
    get_evaluation(evaluation)
    series = current_series(flight)
    if not series:
        raise ConfigError(f"flight {flight.identifier}: no current series to run QC on")
    try:
        ds = flight_dataset(flight, series=series, use_qc_flags=False)
    except ValueError as exc:  # series of different time bases cannot be QC'd together
        raise ConfigError(f"flight {flight.identifier}: cannot re-run QC: {exc}") from exc
    with transaction.atomic():
        flight_lock([flight.pk])  # before reading: see flight_lock
        if [s.pk for s in current_series(flight)] != [s.pk for s in series]:
            raise ConfigError(
                f"flight {flight.identifier}: a new version of its data arrived while QC was "
                "being prepared; nothing was re-run: re-run QC on the current data"
            )
        runs = qc_series(series, ds, config=config, evaluation=evaluation)
        stored_config = dict(config) if config is not None else None
        for run in runs:  # qc_series recorded the configuration it used (qc_config)
            run.config = {**run.config, "review": "rerun"}
            run.save(update_fields=["config"])
        review_event_record(
            flight,
            action=ReviewEvent.Action.RERUN,
            user=user,
            details={"method": evaluation, "config": stored_config, "runs": [r.pk for r in runs]},
            reason=reason,
        )
        _withdraw_release(flight, user=user, cause="QC re-run")
    return runs


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def flight_flag_range(
    flight: Flight,
    *,
    user: User | None,
    variables: Sequence[str],
    start: datetime,
    end: datetime,
    flag: int,
    comment: str,
) -> list[ManualFlag]:
    """Set ``flag`` on [start, end] of ``variables``; a comment (why) is mandatory.

    The flags are stored as :class:`~stratoflow.server.review.models.ManualFlag` rows and applied
    at once (a new QC run per affected series, same method and thresholds), and again on every
    later QC run of the same flight and variable. A released flight's release is withdrawn: it
    awaits review again (see :func:`_withdraw_release`).
    """
    if not comment.strip():
        raise ConfigError("a manual flag needs a comment saying why")
    start, end = _aware(start), _aware(end)
    if end < start:
        raise ConfigError(f"manual flag range ends ({end}) before it starts ({start})")
    if flag not in {int(f) for f in MANUAL_FLAG_CHOICES}:
        raise ConfigError(f"flag {flag} cannot be set by hand; use one of {MANUAL_FLAG_CHOICES}")
    with transaction.atomic():
        flight_lock([flight.pk])  # before reading: see flight_lock
        by_name = {s.variable: s for s in current_series(flight)}
        unknown = [v for v in variables if v not in by_name]
        if unknown or not variables:
            raise ConfigError(
                f"flight {flight.identifier} has no variable(s) {unknown or '(none given)'}; "
                f"known: {sorted(by_name)}"
            )
        # the chosen variables' own data, not the flight's times: those are the first
        # imported file's, and another instrument's data of the flight may go beyond them
        spans = [
            (_aware(s.time_start), _aware(s.time_end))
            for s in (by_name[v] for v in variables)
            if s.time_start is not None and s.time_end is not None
        ]
        if spans and all(end < first or start > last for first, last in spans):
            first, last = min(a for a, _ in spans), max(b for _, b in spans)
            raise ConfigError(
                f"manual flag range {start.isoformat()} .. {end.isoformat()} lies outside "
                f"flight {flight.identifier}'s data of {', '.join(variables)} "
                f"({first.isoformat()} .. {last.isoformat()}): no point would change"
            )
        rows = [
            ManualFlag.objects.create(
                flight=flight,
                variable=v,
                time_start=start,
                time_end=end,
                flag=flag,
                comment=comment,
                user=user,
            )
            for v in variables
        ]
        for v in variables:
            stored = stored_qc(by_name[v])
            run = stored.run
            method = run.evaluation if run is not None else "worst"
            params = dict(run.thresholds) if run is not None else {}
            _restore(stored, method, get_evaluation(method).check(params), "manual_flag")
        review_event_record(
            flight,
            action=ReviewEvent.Action.MANUAL_FLAG,
            user=user,
            details={
                "variables": list(variables),
                "start": start.isoformat(),
                "end": end.isoformat(),
                "flag": Flag(flag).label,
                "manual_flags": [r.pk for r in rows],
            },
            reason=comment,
        )
        _withdraw_release(flight, user=user, cause="manual flag")
    return rows


def _close_review_tasks(flight: Flight) -> list[Task]:
    tasks = list(
        Task.objects.filter(
            state=TaskState.AWAITING_REVIEW.value, details__flight=flight.identifier
        )
    )
    for task in tasks:
        task_transition(task, TaskState.DONE)
    return tasks


def _check_release(flight: Flight, level: str, last: Decision | None, token: str) -> None:
    """Refuse (:class:`ConfigError`) a release that repeats or lowers the flight's latest one
    for the same state, or goes to L2 without an L1 release of that state.

    Levels only go up for a given state of the data (L1 validated, then L2 final): a second
    click must not add a decision (exports would count it as a new release), and an L1
    approval must not silently take back an L2 release (a rejection does that, with a
    reason). New data (another version, changed flags) start again at L1. A decision made
    before decisions recorded their state (no token) is taken as of another state.
    """
    if last is None or last.action != Decision.Action.APPROVE:
        if level == "L2":
            raise ConfigError(f"flight {flight.identifier}: release to L1 before L2")
        return
    recorded = last.reviewed.get("token") if isinstance(last.reviewed, dict) else None
    if recorded == token and last.level == level:
        raise ConfigError(
            f"flight {flight.identifier}: these data are already released to {level}; "
            "nothing changed"
        )
    if recorded == token and last.level == "L2":
        raise ConfigError(
            f"flight {flight.identifier}: these data are released to L2 (final); a release is "
            "not lowered to L1: reject them, with a reason, to withdraw it"
        )
    if level == "L2" and recorded is None:
        raise ConfigError(
            f"flight {flight.identifier}: its release to {last.level} does not record which "
            "data it released (made before decisions recorded it); release the current data "
            "to L1 before L2"
        )
    if level == "L2" and recorded != token:
        raise ConfigError(
            f"flight {flight.identifier}: the data changed since their release to "
            f"{last.level}; release the current data to L1 before L2"
        )


def flight_approve(
    flight: Flight,
    *,
    user: User | None,
    level: str = "L1",
    reason: str = "",
    reviewed: str | None = None,
) -> Decision:
    """Release the flight's current data to ``level`` and close its review tasks.

    Data go to L1 first; L2 (final) needs the flight's latest decision to be an L1 release of
    the same data; repeating or lowering a release is refused (see :func:`_check_release`).
    ``reviewed`` is the :class:`~stratoflow.server.review.selectors.ReviewState` token of the
    page the PI approved from: when the flight's data or flags changed since (a new version
    imported, re-processed, QC re-run...), the approval is refused and nothing changes, so a
    PI never releases data they have not seen. None (scripts, the demo) approves what is
    current now. The decision records that state; exports deliver exactly it.
    """
    if level not in ("L1", "L2"):
        raise ConfigError(f"data can be released to L1 or L2, not {level!r}")
    with transaction.atomic():
        # the state is checked and the decision recorded under the lock every writer of
        # versions, QC runs and manual flags takes first: nothing lands in between
        flight_lock([flight.pk])
        state = flight_review_state(flight)
        if reviewed is not None and reviewed != state.token:
            raise ConfigError(
                f"flight {flight.identifier}: its data or flags changed since you opened the "
                "page (a new version, a QC re-run or re-evaluation, or a manual flag); nothing "
                "was released: review the current state, then approve again"
            )
        _check_release(flight, level, latest_decision(flight), state.token)
        decision = Decision.objects.create(
            flight=flight,
            action=Decision.Action.APPROVE,
            level=level,
            reason=reason,
            user=user,
            reviewed=state.to_dict(),
        )
        tasks = _close_review_tasks(flight)
        review_event_record(
            flight,
            action=ReviewEvent.Action.APPROVE,
            user=user,
            details={
                "level": level,
                "decision": decision.pk,
                "tasks": [t.pk for t in tasks],
                "reviewed": state.token,
            },
            reason=reason,
        )
    return decision


def flight_reject(flight: Flight, *, user: User | None, reason: str) -> Decision:
    """Reject the flight's current data; a reason is mandatory."""
    if not reason.strip():
        raise ConfigError("a rejection needs a reason")
    with transaction.atomic():
        flight_lock([flight.pk])  # the recorded state is the one rejected: see flight_lock
        decision = Decision.objects.create(
            flight=flight,
            action=Decision.Action.REJECT,
            reason=reason,
            user=user,
            reviewed=flight_review_state(flight).to_dict(),
        )
        tasks = _close_review_tasks(flight)
        review_event_record(
            flight,
            action=ReviewEvent.Action.REJECT,
            user=user,
            details={"decision": decision.pk, "tasks": [t.pk for t in tasks]},
            reason=reason,
        )
    return decision


def series_restore_record(result: ImportResult) -> ReviewEvent:
    """Record that the catalog made an earlier version current again, and bring its flags up
    to date; called by :func:`stratoflow.server.catalog.services.series_import` inside the
    restoring transaction.

    The restored version keeps its QC runs (QC is not part of the processing configuration,
    so they are still what QC said of those values); only the PI's manual flags set since its
    last QC run are replayed onto it, as a new run derived from that one, so the review page
    shows what the PI decided meanwhile. The event names the restored and the replaced
    versions and, when a re-processing task did it, that task (and so its run); its user is
    None: the system did it on the job's behalf, the PI's own request is a ``reprocess``
    event of its own (:func:`flight_reprocess`).

    The restored version does not inherit any approval: the flight's task awaits review again
    and the exports keep delivering what the latest decision released (for a flight approved
    while the replaced version was current, that version) until the PI decides again, after
    which they deliver the restored one.
    """
    from stratoflow.jobs.states import TaskState

    restored = result.series
    flight = restored[0].flight
    key = str(restored[0].provenance.get("config_key", ""))
    runs: list[int] = []
    for series in restored:
        run = series.qc_runs.filter(is_current=True).order_by("-created_at", "-id").first()
        if run is None:
            continue
        newer = ManualFlag.objects.filter(
            flight=flight, variable=series.variable, created_at__gt=run.created_at
        )
        if newer.exists():
            params = get_evaluation(run.evaluation).check(dict(run.thresholds))
            runs.append(_restore(stored_qc(series, run), run.evaluation, params, "restore").pk)
    identity = result.source.identity  # or the name a renamed copy was fetched under
    task = (
        Task.objects.filter(
            Q(details__identity=identity) | Q(details__catalog_identity=identity),
            state=TaskState.RUNNING.value,
            details__reprocess__to=key,
        )
        .order_by("-id")
        .first()
    )
    return review_event_record(
        flight,
        action=ReviewEvent.Action.RESTORE,
        user=None,
        task=task,
        details={
            "identity": result.source.identity,
            "config_key": key,
            "restored": [
                {"id": s.pk, "variable": s.variable, "version": s.version} for s in restored
            ],
            "replaced": [
                {"id": s.pk, "variable": s.variable, "version": s.version}
                for s in result.superseded
            ],
            "qc_runs": runs,
            "run": task.run_id if task is not None else None,
        },
        reason=f"re-processing run {task.run_id}" if task is not None else "",
    )


def _import_managers(flight: Flight) -> list[TaskManager]:
    """The import managers that imported the flight's data (their settled tasks name it)."""
    from stratoflow.server.workflow import managers as kinds

    settled = [TaskState.DONE.value, TaskState.AWAITING_REVIEW.value]
    ids = (
        Task.objects.filter(details__flight=flight.identifier, state__in=settled)
        .values_list("manager_id", flat=True)
        .distinct()
    )
    rows = TaskManager.objects.filter(pk__in=list(ids)).select_related("job", "transfer__provider")
    return [
        m
        for m in rows.order_by("job__name", "order", "id")
        if hasattr(kinds.get(m.kind), "reprocess")
    ]


def flight_reprocess_plan(flight: Flight) -> list[tuple[TaskManager, ManagerPlan]]:
    """What :func:`flight_reprocess` would do now: per import manager of the flight, the plan.

    The same dry run as ``stratoflow job reprocess JOB --flight ID --dry-run``: each file is
    read and its reference files resolved (no step runs, nothing is stored), so it costs a
    file read per imported file of the flight. Raises
    :class:`~stratoflow.errors.StratoflowError` when a manager cannot be planned (e.g. a
    reference file cannot be fetched).
    """
    from stratoflow.server.workflow.reprocess import Selection
    from stratoflow.server.workflow.services import job_reprocess

    selection = Selection(flights=(flight.identifier,))
    out: list[tuple[TaskManager, ManagerPlan]] = []
    for manager in _import_managers(flight):
        report = job_reprocess(manager.job, manager=manager.name, selection=selection, dry_run=True)
        out.extend((manager, plan) for plan in report.plans)
    return out


def _executes_here() -> bool:
    """Whether a request should run the re-processing itself (the embedded default) or leave
    the run to the scheduler (``STRATOFLOW_EXECUTOR=celery``: workers do the tasks)."""
    import os

    from django.conf import settings

    name = getattr(settings, "STRATOFLOW_EXECUTOR", None) or os.environ.get(
        "STRATOFLOW_EXECUTOR", "inprocess"
    )
    return name != "celery"


def flight_reprocess(
    flight: Flight,
    *,
    user: User | None,
    reason: str = "",
    execute: bool | None = None,
) -> list[ReprocessReport]:
    """Re-process the flight's files with its import managers' current configuration.

    The service behind ``stratoflow job reprocess JOB --flight ID``
    (:func:`~stratoflow.server.workflow.services.job_reprocess`), once per import manager that
    imported the flight and whose configuration would change its data: each such file makes
    a new version of its series (or restores the earlier version made the same way), QC runs
    with the manual flags replayed, and the flight awaits review again. ``execute`` None runs
    the re-processing now with the embedded executor, or, with ``STRATOFLOW_EXECUTOR=celery``,
    queues a run the scheduler hands to the workers. The PI's request is recorded in the
    flight's history with what was planned and the runs made. Raises
    :class:`~stratoflow.errors.ConfigError` when nothing would change.
    """
    from stratoflow.server.workflow.reprocess import Selection
    from stratoflow.server.workflow.services import job_reprocess

    execute = _executes_here() if execute is None else execute
    plans = flight_reprocess_plan(flight)
    todo = [manager for manager, plan in plans if plan.items]
    if not todo:
        blocked = [f"{b.identity}: {b.reason}" for _, plan in plans for b in plan.blocked]
        raise ConfigError(
            f"flight {flight.identifier}: nothing to re-process, its data were made with the "
            "import managers' current configuration"
            + (f"; cannot re-process {'; '.join(blocked)}" if blocked else "")
        )
    selection = Selection(flights=(flight.identifier,))
    reports = [
        job_reprocess(manager.job, manager=manager.name, selection=selection, execute=execute)
        for manager in todo
    ]
    items = [
        {
            "manager": plan.manager,
            "identity": item.identity,
            "from": item.old_keys,
            "to": item.new_key,
            "restore": item.restore,
            "changes": item.changes,
        }
        for report in reports
        for plan in report.plans
        for item in plan.items
    ]
    review_event_record(
        flight,
        action=ReviewEvent.Action.REPROCESS,
        user=user,
        details={
            "items": items,
            "blocked": [b.__dict__ for report in reports for b in report.blocked],
            "runs": [
                {"job": r.job, "run": r.run.run_id, "state": r.run.state}
                for r in reports
                if r.run is not None
            ],
            "queued": not execute,
        },
        reason=reason,
    )
    return reports
