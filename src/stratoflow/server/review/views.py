"""Review pages: the queue, the review page of a flight, its data and the PI's actions.

Thin callers of :mod:`~stratoflow.server.review.services` (writes) and
:mod:`~stratoflow.server.review.selectors` (reads). Every page needs a login; a user who is
neither staff nor assigned to any platform/project, or who asks for a flight outside their
assignments, gets 403. Actions are POST only (CSRF-checked by Django's middleware) and answer
with a redirect to the flight's page (303), where the result shows in the history.
"""

from __future__ import annotations

import gzip
import math
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_GET, require_POST

from stratoflow.errors import StratoflowError
from stratoflow.server.catalog.models import Flight
from stratoflow.server.review import forms, plots, selectors, services
from stratoflow.server.review.models import Decision, ManualFlag

__all__ = [
    "action_approve",
    "action_evaluate",
    "action_flag",
    "action_reject",
    "action_reprocess",
    "action_rerun",
    "flight_data",
    "flight_page",
    "plotly_js",
    "queue",
]

LOGIN_URL = reverse_lazy("review:login")
View = Callable[..., HttpResponse]


def reviewer_required(view: View) -> View:
    """Login required; then 403 unless the user reviews something."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not selectors.is_reviewer(request.user):
            raise PermissionDenied("you are not assigned to review any data")
        return view(request, *args, **kwargs)

    return login_required(wrapped, login_url=LOGIN_URL)


def _flight(request: HttpRequest, identifier: str) -> Flight:
    flight = get_object_or_404(Flight, identifier=identifier)
    if not selectors.can_review(request.user, flight):
        raise PermissionDenied(f"flight {identifier} is not assigned to you")
    return flight


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _back(flight: Flight) -> HttpResponseRedirect:
    response = HttpResponseRedirect(reverse("review:flight", args=[flight.identifier]))
    response.status_code = 303  # see other: the page, by GET
    return response


@require_GET
@reviewer_required
def queue(request: HttpRequest) -> HttpResponse:
    """Flights awaiting review that the user may review, filtered."""
    form = forms.QueueFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v}
    rows = selectors.review_queue(request.user, **filters)
    totals: dict[str, int] = {}
    for row in rows:
        for name, n in row.counts.items():
            totals[name] = totals.get(name, 0) + n
    context = {
        "form": form,
        "rows": rows,
        "totals": totals,
        "choices": selectors.filter_choices(request.user),
    }
    return render(request, "review/queue.html", context)


@require_GET
@reviewer_required
def flight_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """The review page: plots, per-test panel, actions and history of one flight."""
    started = time.perf_counter()
    flight = _flight(request, identifier)
    # read first: a change while the page is built makes the token stale (approval refused)
    # rather than the page older than its token (approval of unseen data)
    reviewed = selectors.flight_review_state(flight).token
    series = selectors.current_series(flight)
    variables = [s.variable for s in series]
    panel = plots.qc_test_panel(flight)
    current = panel[0] if panel else None
    for entry in panel:
        if entry["tests"]:
            current = entry
            break
    thresholds = current["thresholds"] if current else {}
    context = {
        "flight": flight,
        "series": series,
        "panel": panel,
        "current_method": current["evaluation"] if current else "worst",
        "tasks": list(selectors.review_tasks(flight)),
        "decision": selectors.latest_decision(flight),
        "manual_flags": ManualFlag.objects.filter(flight=flight).select_related("user"),
        "history": selectors.review_history(flight),
        "evaluate_form": forms.EvaluateForm(
            initial={
                "method": current["evaluation"] if current else "worst",
                "good": thresholds.get("good"),
                "bad": thresholds.get("bad"),
                "k": thresholds.get("k"),
            },
            auto_id="ev_%s",
        ),
        "rerun_form": forms.RerunForm(
            initial={"config": _current_config_yaml(series)}, auto_id="rr_%s"
        ),
        "flag_form": forms.ManualFlagForm(variables=variables, auto_id="mf_%s"),
        "approve_form": forms.ApproveForm(initial={"reviewed": reviewed}, auto_id="ap_%s"),
        "reject_form": forms.RejectForm(auto_id="rj_%s"),
        "data_url": reverse("review:flight_data", args=[flight.identifier]),
        **(
            _reprocess_context(flight)
            if request.GET.get("reprocess") == "check"
            else {"reprocess_checked": False}
        ),
    }
    response = render(request, "review/flight.html", context)
    response["Server-Timing"] = f"build;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def _reprocess_context(flight: Flight) -> dict[str, Any]:
    """The dry run of re-processing the flight with its import managers' current
    configuration: what would change (the button shows only then) and what cannot be done.

    Only on request (``?reprocess=check``): the dry run reads the flight's files and may
    fetch reference files from a provider, which no ordinary page view should wait for.
    """
    try:
        plans = services.flight_reprocess_plan(flight)
    except StratoflowError as exc:
        return {
            "reprocess": [],
            "reprocess_todo": False,
            "reprocess_error": str(exc),
            "reprocess_checked": True,
        }
    rows = [
        {"job": manager.job.name, "manager": manager.name, "plan": plan}
        for manager, plan in plans
        if plan.items or plan.blocked
    ]
    return {
        "reprocess": rows,
        "reprocess_todo": any(plan.items for _, plan in plans),
        "reprocess_error": "",
        "reprocess_checked": True,
    }


def _current_config_yaml(series: list[Any]) -> str:
    """The QC configuration the PI last re-ran with (empty: the shipped defaults were used)."""
    import yaml

    for s in series:
        run = s.qc_runs.filter(is_current=True).first()
        config = run.config.get("qc_config") if run is not None else None
        if isinstance(config, dict):
            return str(yaml.safe_dump(config, sort_keys=False))
    return ""


class _BadParameter(ValueError):
    """A query parameter that is not a finite number (answered with 400, its message)."""


def _finite(request: HttpRequest, name: str) -> float | None:
    """Query parameter ``name`` as a finite float, None when absent or empty.

    ``float()`` accepts ``nan`` and ``inf``, which no time window or budget means; they used
    to reach the arrays and the JSON encoder (HTTP 500), so they are refused like any text
    that is not a number.
    """
    value = request.GET.get(name)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise _BadParameter(f"{name} must be a finite number, not {value!r}")
    return number


@require_GET
@reviewer_required
def flight_data(request: HttpRequest, identifier: str) -> HttpResponse:
    """The plot arrays (see :func:`~stratoflow.server.review.plots.plot_payload`), gzipped.

    Query: ``start``/``end`` (ms since the Unix epoch) and ``budget`` (points per variable,
    clamped to 200..50 000); anything but a finite number is answered with 400.
    """
    started = time.perf_counter()
    flight = _flight(request, identifier)
    try:
        start_ms, end_ms = _finite(request, "start"), _finite(request, "end")
        budget_given = _finite(request, "budget")
    except _BadParameter as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    budget = int(min(max(budget_given or 4000, 200), 50_000))
    payload = plots.plot_payload(flight, start_ms=start_ms, end_ms=end_ms, budget=budget)
    body = plots.payload_json(payload)
    response = HttpResponse(content_type="application/json")
    if "gzip" in request.headers.get("Accept-Encoding", "") and len(body) > 1024:
        response["Content-Encoding"] = "gzip"
        body = gzip.compress(body, compresslevel=5)
    response.content = body
    response["Vary"] = "Accept-Encoding"
    response["Cache-Control"] = "private, no-cache"
    response["Server-Timing"] = f"build;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def plotly_js(request: HttpRequest) -> FileResponse:
    """plotly.js as shipped inside the ``plotly`` Python package (no CDN)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    response = FileResponse(path.open("rb"), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def _action(
    request: HttpRequest, flight: Flight, form: Any, do: Callable[[dict[str, Any]], str]
) -> HttpResponseRedirect:
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{field}: {error}" if field != "__all__" else error)
        return _back(flight)
    before = selectors.latest_decision(flight)
    try:
        messages.success(request, do(form.cleaned_data))
    except StratoflowError as exc:
        messages.error(request, str(exc))
        return _back(flight)
    after = selectors.latest_decision(flight)
    if after is not None and after != before and after.action == Decision.Action.WITHDRAW:
        messages.warning(
            request,
            f"the release to {before.level if before else '?'} is withdrawn: the flags changed, "
            "so the flight leaves the exports and awaits your review again",
        )
    return _back(flight)


@require_POST
@reviewer_required
def action_evaluate(request: HttpRequest, identifier: str) -> HttpResponse:
    """Switch the evaluation method/thresholds (stored test results, no re-run)."""
    flight = _flight(request, identifier)

    def do(data: dict[str, Any]) -> str:
        runs = services.flight_reevaluate(
            flight,
            user=_user(request),
            method=data["method"],
            good=data.get("good"),
            bad=data.get("bad"),
            k=data.get("k"),
            reason=data.get("reason", ""),
        )
        return f"re-evaluated {len(runs)} series with '{data['method']}'"

    return _action(request, flight, forms.EvaluateForm(request.POST), do)


@require_POST
@reviewer_required
def action_rerun(request: HttpRequest, identifier: str) -> HttpResponse:
    """Re-run QC with a changed configuration on the stored values."""
    flight = _flight(request, identifier)

    def do(data: dict[str, Any]) -> str:
        runs = services.flight_rerun_qc(
            flight,
            user=_user(request),
            config=data.get("config"),
            method=data.get("method") or None,
            reason=data.get("reason", ""),
        )
        return f"QC re-run on {len(runs)} series"

    return _action(request, flight, forms.RerunForm(request.POST), do)


@require_POST
@reviewer_required
def action_flag(request: HttpRequest, identifier: str) -> HttpResponse:
    """Set a manual flag on a time range (comment mandatory)."""
    flight = _flight(request, identifier)
    variables = [s.variable for s in selectors.current_series(flight)]

    def do(data: dict[str, Any]) -> str:
        rows = services.flight_flag_range(
            flight,
            user=_user(request),
            variables=data["variables"],
            start=data["start"],
            end=data["end"],
            flag=data["flag"],
            comment=data["comment"],
        )
        return f"manual flag set on {len(rows)} variable(s)"

    return _action(request, flight, forms.ManualFlagForm(request.POST, variables=variables), do)


@require_POST
@reviewer_required
def action_approve(request: HttpRequest, identifier: str) -> HttpResponse:
    """Release the flight's data to L1 (then L2)."""
    flight = _flight(request, identifier)

    def do(data: dict[str, Any]) -> str:
        services.flight_approve(
            flight,
            user=_user(request),
            level=data["level"],
            reason=data.get("reason", ""),
            reviewed=data["reviewed"],
        )
        return f"released to {data['level']}"

    return _action(request, flight, forms.ApproveForm(request.POST), do)


@require_POST
@reviewer_required
def action_reject(request: HttpRequest, identifier: str) -> HttpResponse:
    """Reject the flight's data with a reason."""
    flight = _flight(request, identifier)

    def do(data: dict[str, Any]) -> str:
        services.flight_reject(flight, user=_user(request), reason=data["reason"])
        return "rejected"

    return _action(request, flight, forms.RejectForm(request.POST), do)


@require_POST
@reviewer_required
def action_reprocess(request: HttpRequest, identifier: str) -> HttpResponse:
    """Re-process the flight's files with the job's current processing configuration.

    Runs now with the embedded executor; with ``STRATOFLOW_EXECUTOR=celery`` the run is
    queued for the scheduler and its workers (the message says which).
    """
    flight = _flight(request, identifier)
    try:
        reports = services.flight_reprocess(
            flight, user=_user(request), reason=request.POST.get("reason", "").strip()
        )
    except StratoflowError as exc:
        messages.error(request, str(exc))
        return _back(flight)
    files = sum(len(plan.items) for r in reports for plan in r.plans)
    runs = [r.run for r in reports if r.run is not None]
    done = ", ".join(f"run {run.run_id} {run.state}" for run in runs)
    queued = any(run.state == "pending" for run in runs)
    messages.success(
        request,
        f"{files} file(s) {'queued for re-processing' if queued else 're-processed'} ({done})",
    )
    return _back(flight)
