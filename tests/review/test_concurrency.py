"""An approval and a change of the flags racing on PostgreSQL: whichever wins, a release
never stands on flags its page did not show.

Two real threads (two database connections) with the interleaving forced (``tests/_race.py``):
one of them is held inside its transaction, after its check of the state, at a hook; the
other is started and the held one is let go only once the other has either finished or is
waiting for a lock. Without a lock shared by both, the other finishes first, and the release
then names a state that is no longer the flight's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from _race import HOLD_S, race, require_postgres

from .conftest import Review

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _approve(review: Review, token: str) -> Callable[[], Any]:
    """The PI's approval of the page they saw (state ``token``)."""
    from stratoflow.server.review import services

    return lambda: services.flight_approve(review.flight, user=review.pi, reviewed=token)  # type: ignore[arg-type]


def _flag(review: Review, variable: str = "O3_P1") -> Callable[[], Any]:
    from stratoflow.flags import Flag
    from stratoflow.server.review.services import flight_flag_range

    flight = review.flight
    start = flight.time_start + timedelta(minutes=5)  # type: ignore[attr-defined]

    def run() -> Any:
        return flight_flag_range(
            flight,  # type: ignore[arg-type]
            user=review.pi,
            variables=[variable],
            start=start,
            end=start + timedelta(minutes=5),
            flag=int(Flag.BAD),
            comment="spike seen by a colleague",
        )

    return run


def _release_matches_the_flags(review: Review) -> None:
    """The invariant: a flight whose latest decision is a release has exactly the released
    state (else the flag change must have withdrawn it)."""
    from stratoflow.server.review.models import Decision
    from stratoflow.server.review.selectors import flight_review_state, latest_decision

    last = latest_decision(review.flight)  # type: ignore[arg-type]
    assert last is not None
    if last.action == Decision.Action.APPROVE:
        assert last.reviewed["token"] == flight_review_state(review.flight).token, (  # type: ignore[arg-type]
            "the flight stays released with flags its approval never saw"
        )


def test_a_flag_set_while_an_approval_is_being_decided_withdraws_it(
    review: Review, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The approval has checked the state and is closing the tasks when a flag arrives."""
    from stratoflow.server.review import services
    from stratoflow.server.review.models import Decision, ManualFlag
    from stratoflow.server.review.selectors import flight_review_state

    require_postgres()
    token = flight_review_state(review.flight).token  # type: ignore[arg-type]
    checked, go = threading.Event(), threading.Event()
    original = services._close_review_tasks

    def held(flight: Any) -> Any:
        checked.set()
        assert go.wait(HOLD_S)
        return original(flight)

    monkeypatch.setattr(services, "_close_review_tasks", held)
    errors = race(_approve(review, token), _flag(review), checked, go)
    assert not errors, errors
    assert ManualFlag.objects.count() == 1
    decisions = Decision.objects.filter(flight=review.flight).order_by("id")
    actions = list(decisions.values_list("action", flat=True))
    assert actions == [Decision.Action.APPROVE, Decision.Action.WITHDRAW]
    _release_matches_the_flags(review)


def test_an_approval_while_a_flag_is_being_set_is_refused(
    review: Review, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flag is stored (not yet committed) when the PI approves the page they saw."""
    from stratoflow.errors import ConfigError
    from stratoflow.server.review import services
    from stratoflow.server.review.models import Decision, ManualFlag
    from stratoflow.server.review.selectors import flight_review_state

    require_postgres()
    token = flight_review_state(review.flight).token  # type: ignore[arg-type]
    stored, go = threading.Event(), threading.Event()
    original = services._withdraw_release

    def held(flight: Any, **kwargs: Any) -> Any:
        out = original(flight, **kwargs)  # nothing released yet: nothing withdrawn
        stored.set()
        assert go.wait(HOLD_S)
        return out

    monkeypatch.setattr(services, "_withdraw_release", held)
    errors = race(_flag(review), _approve(review, token), stored, go)
    assert len(errors) == 1 and isinstance(errors[0], ConfigError), errors
    assert "changed since you opened the page" in str(errors[0])
    assert ManualFlag.objects.count() == 1
    assert not Decision.objects.filter(flight=review.flight).exists()
    review.task.refresh_from_db()  # type: ignore[attr-defined]
    assert review.task.state == "awaiting_review"  # type: ignore[attr-defined]


def test_two_approvals_at_once_release_once(
    review: Review, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double click (or two PIs) on PostgreSQL: the second approval checked the latest
    decision before the first committed, and both released the same data."""
    from stratoflow.errors import ConfigError
    from stratoflow.server.review import services
    from stratoflow.server.review.models import Decision
    from stratoflow.server.review.selectors import flight_review_state

    require_postgres()
    token = flight_review_state(review.flight).token  # type: ignore[arg-type]
    checked, go = threading.Event(), threading.Event()
    original = services._close_review_tasks

    def held(flight: Any) -> Any:
        if not checked.is_set():  # only the first approval is held
            checked.set()
            assert go.wait(HOLD_S)
        return original(flight)

    monkeypatch.setattr(services, "_close_review_tasks", held)
    errors = race(_approve(review, token), _approve(review, token), checked, go)
    assert len(errors) == 1 and isinstance(errors[0], ConfigError), errors
    assert "already released to L1" in str(errors[0])
    assert Decision.objects.filter(flight=review.flight).count() == 1


def test_a_flag_set_while_qc_stores_its_run_is_applied_to_that_run(
    review: Review, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QC outside an import's transaction (re-qualifying stored series) read the manual
    flags, then stored its run: a flag set in between was stored under the QC's run, which
    became the current one without it."""
    from stratoflow.flags import Flag
    from stratoflow.server.catalog import qc
    from stratoflow.server.catalog.selectors import flight_dataset
    from stratoflow.server.review.selectors import current_series
    from stratoflow.server.review.stored import stored_qc

    require_postgres()
    series = current_series(review.flight)  # type: ignore[arg-type]
    ds = flight_dataset(review.flight, series=series, use_qc_flags=False)  # type: ignore[arg-type]
    first = series[0]
    read, go = threading.Event(), threading.Event()
    original = qc.qc_run_store

    def held(s: Any, **kwargs: Any) -> Any:
        if not read.is_set():  # the first series: its manual flags have been read
            read.set()
            assert go.wait(HOLD_S)
        return original(s, **kwargs)

    monkeypatch.setattr(qc, "qc_run_store", held)
    errors = race(lambda: qc.qc_series(series, ds), _flag(review, first.variable), read, go)
    assert not errors, errors
    stored = stored_qc(current_series(review.flight)[0])  # type: ignore[arg-type]
    start = review.flight.time_start + timedelta(minutes=5)  # type: ignore[attr-defined]
    t = stored.time.astype("datetime64[ns]")
    inside = (t >= np.datetime64(start.replace(tzinfo=None), "ns")) & (
        t <= np.datetime64((start + timedelta(minutes=5)).replace(tzinfo=None), "ns")
    )
    assert inside.any()
    assert stored.run is not None and stored.run.pk == max(
        r.pk for r in first.qc_runs.all()
    )  # the flag's own run, derived from the QC's, is the current one
    flagged = stored.flags[inside]
    assert ((flagged == int(Flag.BAD)) | (flagged == int(Flag.MISSING))).all()
