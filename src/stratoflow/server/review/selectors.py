"""Review selectors: who may review what, what awaits review, and what has been released.

Access: staff and superusers see every flight; a PI sees the flights of the platforms
(aircraft/instruments) and projects assigned to them (:class:`ReviewAssignment`); anybody else
sees nothing (the views answer 403).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import OuterRef, Q, QuerySet, Subquery

from stratoflow.jobs.states import TaskState
from stratoflow.server.catalog.models import Flight, Platform, QCRun, Series
from stratoflow.server.catalog.services import platforms_named
from stratoflow.server.review.models import (
    DEFAULT_DEADLINE_DAYS,
    Decision,
    ManualFlag,
    ReviewAssignment,
    ReviewDeadline,
)
from stratoflow.server.workflow.models import Task

__all__ = [
    "QueueRow",
    "ReviewState",
    "approved_flights",
    "can_review",
    "current_series",
    "deadline_days",
    "flight_flag_counts",
    "flight_review_state",
    "flights_visible_to",
    "is_admin",
    "is_reviewer",
    "latest_decision",
    "review_history",
    "review_queue",
    "review_tasks",
    "reviewers_of",
]

AnyUser = AbstractBaseUser | AnonymousUser


def latest_decision(flight: Flight) -> Decision | None:
    """The PI's most recent decision on ``flight``."""
    return flight.decisions.order_by("-created_at", "-id").first()


def approved_flights(level: str = "L1") -> Iterator[tuple[Flight, list[Series]]]:
    """Flights whose latest decision releases them to ``level``, with the series versions it
    released: what the exports deliver (:func:`stratoflow.exporters.selection.select`), not
    the current series, which may be a newer version nobody approved yet."""
    from stratoflow.exporters.selection import Selection, select  # exports build on review

    if level not in ("L1", "L2"):
        raise ValueError(f"data are released to L1 or L2, not {level!r}")
    for item in select(Selection(level="L2" if level == "L2" else "L1")):
        yield item.flight, [v.series for v in item.series]


def current_series(flight: Flight) -> list[Series]:
    """The flight's current series (one per variable and level), in import order."""
    return list(flight.series.filter(is_current=True).order_by("id"))


@dataclass(frozen=True)
class ReviewState:
    """Exactly what the review page of a flight shows: per current series, its version, the
    QC run that supplies its flags and the PI's manual flags on its variable.

    ``token`` is a short digest of it. The approve form carries the token of the page the PI
    looked at, so an approval is refused when anything changed since (a new version
    imported, data re-processed, QC re-run or re-evaluated, a flag set by someone else), and
    the decision records ``series`` so that exports deliver that state and no other.
    """

    series: tuple[dict[str, Any], ...]
    token: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form a :class:`Decision` keeps (``reviewed``)."""
        return {"token": self.token, "series": [dict(s) for s in self.series]}


def flight_review_state(flight: Flight) -> ReviewState:
    """The flight's :class:`ReviewState` now (three queries, whatever the flight's size)."""
    series = current_series(flight)
    runs: dict[int, int] = {}
    for series_id, run_id in (
        QCRun.objects.filter(series__in=series, is_current=True)
        .order_by("created_at", "id")
        .values_list("series_id", "id")
    ):
        runs[series_id] = run_id  # the newest current run, as the selectors read flags
    manual: dict[str, list[int]] = {}
    for variable, pk in (
        ManualFlag.objects.filter(flight=flight).order_by("id").values_list("variable", "id")
    ):
        manual.setdefault(variable, []).append(pk)
    rows = tuple(
        {
            "id": s.pk,
            "variable": s.variable,
            "level": s.level,
            "version": s.version,
            "qc_run": runs.get(s.pk),
            "manual_flags": manual.get(s.variable, []),
        }
        for s in series
    )
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:20]
    return ReviewState(series=rows, token=digest)


def is_admin(user: AnyUser) -> bool:
    """Staff and superusers review everything."""
    staff = getattr(user, "is_staff", False) or getattr(user, "is_superuser", False)
    return bool(user.is_authenticated and staff)


def _assignment_filter(user: AnyUser) -> Q:
    assignments = ReviewAssignment.objects.filter(user_id=user.pk or 0)
    platforms = assignments.exclude(platform=None).values("platform_id")
    projects = assignments.exclude(project=None).values("project_id")
    return Q(platform_id__in=platforms) | Q(platform__project_id__in=projects)


def is_reviewer(user: AnyUser) -> bool:
    """Whether ``user`` may use the review pages at all (admin or any assignment)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return is_admin(user) or ReviewAssignment.objects.filter(user_id=user.pk or 0).exists()


def flights_visible_to(user: AnyUser) -> QuerySet[Flight]:
    """Flights ``user`` may see and act on."""
    if not user.is_authenticated or not user.is_active:
        return Flight.objects.none()
    if is_admin(user):
        return Flight.objects.all()
    return Flight.objects.filter(_assignment_filter(user))


def can_review(user: AnyUser, flight: Flight) -> bool:
    """Whether ``user`` may see and act on ``flight``."""
    return flights_visible_to(user).filter(pk=flight.pk).exists()


def reviewers_of(flight: Flight) -> list[AbstractBaseUser]:
    """The PIs assigned to the flight's platform or its project (active, with an e-mail)."""
    if flight.platform_id is None:
        return []
    platform: Platform = flight.platform  # type: ignore[assignment]
    q = Q(platform_id=platform.pk)
    if platform.project_id is not None:
        q |= Q(project_id=platform.project_id)
    users: dict[int, AbstractBaseUser] = {}
    for a in ReviewAssignment.objects.filter(q).select_related("user").order_by("id"):
        if a.user.is_active:
            users[a.user.pk] = a.user
    return list(users.values())


def review_tasks(flight: Flight | None = None) -> QuerySet[Task]:
    """Tasks awaiting the PI's review (of one flight, or all)."""
    qs = Task.objects.filter(state=TaskState.AWAITING_REVIEW.value).select_related(
        "manager__job__responsible"
    )
    if flight is not None:
        qs = qs.filter(details__flight=flight.identifier)
    return qs.order_by("finished_at", "id")


def deadline_days(task: Task) -> int:
    """Days the PI has to review the data of ``task``.

    The job's :class:`ReviewDeadline` if it has one, else the setting
    ``STRATOFLOW_REVIEW_DEADLINE_DAYS``, else 3.
    """
    from django.conf import settings

    row = ReviewDeadline.objects.filter(job_id=task.manager.job_id).first()
    if row is not None:
        return row.days
    return int(getattr(settings, "STRATOFLOW_REVIEW_DEADLINE_DAYS", DEFAULT_DEADLINE_DAYS))


def flight_flag_counts(flight: Flight) -> dict[str, int]:
    """Points per flag class over the current QC runs of the flight's current series."""
    totals: dict[str, int] = {}
    for s in flight.series.filter(is_current=True).prefetch_related("qc_runs"):
        for run in s.qc_runs.all():
            if run.is_current:
                for name, n in run.flag_counts.items():
                    totals[name] = totals.get(name, 0) + int(n)
    return totals


@dataclass
class QueueRow:
    """One line of the review queue."""

    flight: Flight
    tasks: list[Task] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    due: datetime | None = None
    overdue: bool = False


def review_queue(
    user: AnyUser,
    *,
    platform: str = "",
    project: str = "",
    variable: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    now: datetime | None = None,
) -> list[QueueRow]:
    """Flights visible to ``user`` with tasks awaiting review or whose release was withdrawn
    (the PI changed their flags after approving), filtered, oldest first."""
    from django.utils import timezone

    now = now or timezone.now()
    tasks: dict[str, list[Task]] = {}
    for task in review_tasks():
        ident = str(task.details.get("flight", "")) if isinstance(task.details, dict) else ""
        if ident:
            tasks.setdefault(ident, []).append(task)
    latest = Decision.objects.filter(flight=OuterRef("pk")).order_by("-created_at", "-id")
    flights = (
        flights_visible_to(user)
        .annotate(latest_action=Subquery(latest.values("action")[:1]))
        .filter(Q(identifier__in=list(tasks)) | Q(latest_action=Decision.Action.WITHDRAW))
        .select_related("platform")
    )
    if platform:
        flights = flights.filter(platform__in=platforms_named(platform))
    if project:
        flights = flights.filter(platform__project__name=project)
    if variable:
        flights = flights.filter(series__variable=variable, series__is_current=True)
    if date_from:
        flights = flights.filter(time_start__date__gte=date_from)
    if date_to:
        flights = flights.filter(time_start__date__lte=date_to)
    rows = []
    for flight in flights.distinct().order_by("time_start", "identifier"):
        mine = tasks.get(flight.identifier, [])
        dues = [t.finished_at + timedelta(days=deadline_days(t)) for t in mine if t.finished_at]
        due = min(dues) if dues else None
        rows.append(
            QueueRow(
                flight=flight,
                tasks=mine,
                counts=flight_flag_counts(flight),
                due=due,
                overdue=bool(due and due < now),
            )
        )
    return rows


def filter_choices(user: AnyUser) -> dict[str, Any]:
    """Values offered by the queue's filters (only what ``user`` can see)."""
    flights = flights_visible_to(user)
    platforms = (
        Platform.objects.filter(flight__in=flights)
        .distinct()
        .order_by("name")
        .values_list("name", flat=True)
    )
    projects = (
        Platform.objects.filter(flight__in=flights, project__isnull=False)
        .distinct()
        .order_by("project__name")
        .values_list("project__name", flat=True)
    )
    variables = (
        Series.objects.filter(flight__in=flights, is_current=True)
        .order_by("variable")
        .values_list("variable", flat=True)
        .distinct()
    )
    return {
        "platforms": list(platforms),
        "projects": sorted(set(projects)),
        "variables": list(variables),
    }


def _summary(action: str, d: dict[str, Any]) -> str:
    def kv(m: Any) -> str:
        return " ".join(f"{k}={v}" for k, v in sorted((m or {}).items()))

    if action == "reevaluate":
        return f"evaluation {d.get('method')} ({kv(d.get('thresholds'))})"
    if action == "rerun":
        config = "own configuration" if d.get("config") else "default configuration"
        return f"QC re-run with {config}, evaluation {d.get('method')}"
    if action == "manual_flag":
        return (
            f"{d.get('flag')} on {', '.join(d.get('variables') or [])} "
            f"{str(d.get('start', ''))[:19]} – {str(d.get('end', ''))[:19]}"
        )
    if action == "approve":
        return f"released to {d.get('level')}"
    if action == "reject":
        return "rejected"
    if action == "withdraw":
        return f"release to {d.get('level')} withdrawn: flags changed, to review again"
    if action == "reprocess":
        runs = ", ".join(f"run {r.get('run')} {r.get('state')}" for r in d.get("runs") or [])
        return f"re-processed {len(d.get('items') or [])} file(s) with the job's current " + (
            f"configuration ({runs})" if runs else "configuration"
        )
    if action == "restore":

        def versions(rows: Any) -> str:
            return ", ".join(f"{r.get('variable')} v{r.get('version')}" for r in rows or [])

        return f"restored {versions(d.get('restored'))} in place of {versions(d.get('replaced'))}"
    if action in ("notify", "remind"):
        return f"e-mail to {', '.join(d.get('recipients') or [])}"
    return kv(d)


def review_history(flight: Flight, limit: int = 200) -> list[dict[str, Any]]:
    """The flight's recorded actions, newest first: when, who, action, what, why."""
    from stratoflow.server.review.models import ReviewEvent

    rows = ReviewEvent.objects.filter(flight=flight).select_related("user")[:limit]
    return [
        {
            "created_at": e.created_at,
            "user": e.user.get_username() if e.user else "system",
            "action": e.action,
            "summary": _summary(e.action, e.details if isinstance(e.details, dict) else {}),
            "reason": e.reason,
        }
        for e in rows
    ]
