"""Every PI action through the Django test client, checked against the database and the QC
framework: re-evaluation equals a fresh QC run with that method, manual flags win and are
replayed on a new version of the data, approve/reject close the review task, all recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from django.test import Client

from stratoflow import open_dataset, write_dataset
from stratoflow.flags import Flag

from .conftest import Review, import_corrected, page_token

pytestmark = pytest.mark.django_db


def _post(client: Client, review: Review, action: str, data: dict[str, Any]) -> list[str]:
    """POST an action, follow the 303 to the flight page; the messages it shows."""
    flight = review.flight.identifier  # type: ignore[attr-defined]
    r = client.post(f"/review/flight/{flight}/{action}", data, follow=True)
    assert r.redirect_chain == [(f"/review/flight/{flight}/", 303)]  # type: ignore[attr-defined]
    assert r.status_code == 200
    return [str(m) for m in r.context["messages"]]  # type: ignore[index]


def _flags(review: Review, variable: str) -> npt.NDArray[np.uint8]:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.selectors import series_qc_flags

    s = Series.objects.get(flight=review.flight, variable=variable, is_current=True)
    flags = series_qc_flags(s)
    assert flags is not None
    return flags


def _expected(review: Review, method: str, **params: Any) -> dict[str, npt.NDArray[np.uint8]]:
    """What a fresh QC run evaluated with ``method`` gives (source flags merged)."""
    from stratoflow.qc import run_qc
    from stratoflow.server.catalog.selectors import flight_dataset
    from stratoflow.server.review.stored import merge_source_flags

    ds = flight_dataset(review.flight, use_qc_flags=False)  # type: ignore[arg-type]
    result = run_qc(ds).evaluate(method, **params)
    return {
        name: merge_source_flags(flags, np.asarray(ds[f"{name}_flag"].values, np.uint8))
        for name, flags in result.flags.items()
        if result.variables[name].tests
    }


def _events(review: Review) -> list[tuple[str, str, str]]:
    from stratoflow.server.review.models import ReviewEvent

    rows = ReviewEvent.objects.filter(flight=review.flight).order_by("created_at", "id")
    return [(e.action, e.user.username if e.user else "", e.reason) for e in rows]


@pytest.mark.parametrize(
    ("method", "form", "params"),
    [
        ("critical", {}, {}),
        ("vote", {"good": "0.9", "bad": "0.3", "k": "1"}, {"good": 0.9, "bad": 0.3, "k": 1}),
        ("mean", {"bad": "0.7"}, {"bad": 0.7}),
    ],
)
def test_reevaluation_equals_a_fresh_qc_run_with_that_method(
    review: Review, client: Client, method: str, form: dict[str, str], params: dict[str, Any]
) -> None:
    from stratoflow.server.catalog.models import QCRun

    client.force_login(review.pi)
    runs_before = QCRun.objects.count()
    assert _post(client, review, "evaluate", {"method": method, "reason": "try", **form}) == [
        f"re-evaluated 8 series with '{method}'"
    ]
    assert QCRun.objects.count() == runs_before + 8  # a new run per QC'd series; old ones kept
    expected = _expected(review, method, **params)
    assert len(expected) == 8 and {"O3_P1", "lat", "baro_alt_AC"} <= set(expected)
    for name, flags in expected.items():
        assert np.array_equal(_flags(review, name), flags), name
    current = QCRun.objects.filter(series__variable="O3_P1", is_current=True).get()
    assert current.evaluation == method
    assert current.test_results.count() > 3  # the new run is itself re-evaluable
    assert _events(review) == [("reevaluate", "pi", "try")]


def test_switching_back_to_worst_restores_the_import_flags(review: Review, client: Client) -> None:
    from stratoflow.server.catalog.models import QCRun
    from stratoflow.store.segments import decode_columns

    first = {
        r.series.variable: decode_columns(r.flags)["flag"]
        for r in QCRun.objects.filter(is_current=True).select_related("series")
    }
    client.force_login(review.pi)
    _post(client, review, "evaluate", {"method": "critical"})
    assert not np.array_equal(_flags(review, "O3_P1"), first["O3_P1"])  # the method matters
    _post(client, review, "evaluate", {"method": "worst", "good": "1", "bad": "0.5"})
    for name, flags in first.items():
        assert np.array_equal(_flags(review, name), flags), name


def test_leaving_vote_does_not_send_its_k_to_the_next_method(
    review: Review, client: Client
) -> None:
    import json
    import re

    from stratoflow.server.catalog.models import QCRun

    client.force_login(review.pi)
    _post(client, review, "evaluate", {"method": "vote", "k": "1"})
    flight = review.flight.identifier  # type: ignore[attr-defined]
    page = client.get(f"/review/flight/{flight}/").content.decode()
    form = page[page.index('id="evaluate-form"') :]
    assert re.search(r'name="k" value="1"', form)  # the page offers vote's k
    # what the form sends when the PI picks another method and leaves the fields as they are
    sent = {"method": "worst", "good": "1.0", "bad": "0.5", "k": "1"}
    assert _post(client, review, "evaluate", sent) == ["re-evaluated 8 series with 'worst'"]
    run = QCRun.objects.get(series__variable="O3_P1", is_current=True)
    assert (run.evaluation, run.thresholds) == ("worst", {"good": 1.0, "bad": 0.5})
    # the page tells its script which method takes which parameter (k: vote only)
    declared = re.search(r'data-parameters="([^"]+)"', form)
    assert declared is not None
    parameters = json.loads(declared.group(1).replace("&quot;", '"'))
    assert "k" in parameters["vote"] and "k" not in parameters["worst"]


def test_invalid_thresholds_change_nothing(review: Review, client: Client) -> None:
    from stratoflow.server.catalog.models import QCRun

    client.force_login(review.pi)
    before = QCRun.objects.count()
    messages = _post(client, review, "evaluate", {"method": "worst", "good": "0.2", "bad": "0.6"})
    assert len(messages) == 1 and "good" in messages[0] and "bad" in messages[0]
    assert _post(client, review, "evaluate", {"method": "nonsense"})[0].startswith("method:")
    assert _post(client, review, "evaluate", {"method": "worst", "good": "7"})[0].startswith(
        "good:"
    )
    assert QCRun.objects.count() == before
    assert _events(review) == []


RERUN_CONFIG = """
O3:
  match:
    name: ["O3_*"]
  tests:
    - test: gross_range
      id: tight
      critical: false
      doubtful_max: 40
      bad_max: 50
"""


def test_rerun_with_a_changed_configuration(review: Review, client: Client) -> None:
    from stratoflow.server.catalog.models import QCRun

    client.force_login(review.pi)
    values = np.asarray(open_dataset(review.path)["O3_P1"].values, dtype=float)
    messages = _post(
        client, review, "rerun", {"config": RERUN_CONFIG, "method": "", "reason": "tighter"}
    )
    assert messages == ["QC re-run on 8 series"]
    o3 = _flags(review, "O3_P1")
    finite = np.isfinite(values)
    assert (o3[finite & (values > 50)] == int(Flag.BAD)).all()
    assert (o3[finite & (values < 40)] != int(Flag.BAD)).all()
    run = QCRun.objects.get(series__variable="O3_P1", is_current=True)
    assert [t.test for t in run.test_results.all()] == ["tight"]
    assert run.config["qc_config"]["O3"]["tests"][0]["bad_max"] == 50
    # CO has no profile in this configuration: its flags are the source's (not validated)
    assert set(np.unique(_flags(review, "CO_P1")).tolist()) <= {4, 7}

    # the stored configuration says the test is not critical: "critical" gives limited
    _post(client, review, "evaluate", {"method": "critical"})
    o3 = _flags(review, "O3_P1")
    assert (o3[finite & (values > 50)] == int(Flag.LIMITED)).all()
    assert [e[0] for e in _events(review)] == ["rerun", "reevaluate"]
    # the page offers the configuration in use for the next re-run
    flight = review.flight.identifier  # type: ignore[attr-defined]
    page = client.get(f"/review/flight/{flight}/").content.decode()
    assert "id: tight" in page and "bad_max: 50" in page


def test_rerun_refuses_a_broken_configuration(review: Review, client: Client) -> None:
    from stratoflow.server.catalog.models import QCRun

    client.force_login(review.pi)
    before = QCRun.objects.count()
    bad_yaml = _post(client, review, "rerun", {"config": "O3: [unclosed"})
    assert bad_yaml[0].startswith("config: QC configuration: line 2, column 1: not valid YAML")
    unknown = _post(client, review, "rerun", {"config": "O3:\n  tests:\n    - test: nope\n"})
    assert unknown[0].startswith("config: QC configuration: line 3, column 7: O3.tests[0].test")
    assert "nope" in unknown[0]
    assert QCRun.objects.count() == before and _events(review) == []


def _range(review: Review, first: float, last: float) -> tuple[str, str, Any]:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.selectors import series_arrays

    s = Series.objects.get(flight=review.flight, variable="O3_P1", is_current=True)
    t = series_arrays(s)["time"]
    a, b = t[int(first * t.size)], t[int(last * t.size)]
    fmt = "%Y-%m-%d %H:%M:%S"
    return (
        a.astype("datetime64[s]").item().strftime(fmt),
        b.astype("datetime64[s]").item().strftime(fmt),
        (t >= a.astype("datetime64[s]")) & (t <= b.astype("datetime64[s]")),
    )


def test_manual_flag_wins_and_stays_through_reevaluation_and_rerun(
    review: Review, client: Client
) -> None:
    from stratoflow.server.review.models import ManualFlag

    client.force_login(review.pi)
    start, end, inside = _range(review, 0.3, 0.5)
    before_co = _flags(review, "CO_P1")
    messages = _post(
        client,
        review,
        "flag",
        {
            "variables": ["O3_P1"],
            "start": start,
            "end": end,
            "flag": str(int(Flag.BAD)),
            "comment": "pump failure",
        },
    )
    assert messages == ["manual flag set on 1 variable(s)"]
    row = ManualFlag.objects.get()
    assert (row.variable, row.flag, row.comment, row.user) == (
        "O3_P1",
        3,
        "pump failure",
        review.pi,
    )

    def check() -> None:
        o3 = _flags(review, "O3_P1")
        assert set(np.unique(o3[inside]).tolist()) <= {int(Flag.BAD), int(Flag.MISSING)}
        assert (o3[inside] == int(Flag.BAD)).sum() > 0.8 * inside.sum()

    check()
    assert np.array_equal(_flags(review, "CO_P1"), before_co)  # other variables untouched
    _post(client, review, "evaluate", {"method": "mean"})
    check()
    _post(client, review, "rerun", {"config": ""})
    check()
    good = _post(
        client,
        review,
        "flag",
        {"variables": ["O3_P1"], "start": start, "end": start, "flag": "0", "comment": "ok"},
    )
    assert good == ["manual flag set on 1 variable(s)"]
    first = int(np.flatnonzero(inside)[0])
    assert _flags(review, "O3_P1")[first] in (int(Flag.GOOD), int(Flag.MISSING))  # later wins
    actions = [e[0] for e in _events(review)]
    assert actions == ["manual_flag", "reevaluate", "rerun", "manual_flag"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"comment": "  "}, "comment"),
        ({"start": "2024-01-02 00:00:00", "end": "2024-01-01 00:00:00"}, "ends before"),
        ({"variables": ["nope"]}, "variables"),
        ({"flag": "7"}, "flag"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2023-01-01 00:00:00", "end": "2023-01-02 00:00:00"}, "outside flight"),
    ],
)
def test_manual_flag_needs_a_comment_and_a_valid_range(
    review: Review, client: Client, change: dict[str, Any], error: str
) -> None:
    from stratoflow.server.review.models import ManualFlag

    client.force_login(review.pi)
    data = {
        "variables": ["O3_P1"],
        "start": "2024-01-01 00:00:00",
        "end": "2024-01-02 00:00:00",
        "flag": "3",
        "comment": "why",
        **change,
    }
    messages = _post(client, review, "flag", data)
    assert len(messages) >= 1 and error in messages[0]
    assert ManualFlag.objects.count() == 0 and _events(review) == []


def test_manual_flags_are_replayed_on_a_new_version_of_the_data(
    review: Review, client: Client, tmp_path: Path
) -> None:
    from stratoflow.server.catalog.models import Series

    client.force_login(review.pi)
    start, end, inside = _range(review, 0.6, 0.7)
    _post(
        client,
        review,
        "flag",
        {"variables": ["O3_P1"], "start": start, "end": end, "flag": "2", "comment": "drift"},
    )
    # the provider sends a corrected file: same identity, other bytes -> version 2
    import_corrected(review, tmp_path)
    o3 = Series.objects.get(flight=review.flight, variable="O3_P1", is_current=True)
    assert o3.version == 2
    flags = _flags(review, "O3_P1")
    assert set(np.unique(flags[inside]).tolist()) <= {int(Flag.LIMITED), int(Flag.MISSING)}
    assert (flags[inside] == int(Flag.LIMITED)).any()
    # outside the range, the new version's own QC stands
    assert (flags[~inside] == int(Flag.GOOD)).sum() > 0.5 * (~inside).sum()


def test_replay_service_applies_only_its_flight_and_variable(review: Review) -> None:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.selectors import series_arrays
    from stratoflow.server.review.services import flight_flag_range, replay_manual_flags

    o3 = Series.objects.get(flight=review.flight, variable="O3_P1", is_current=True)
    co = Series.objects.get(flight=review.flight, variable="CO_P1", is_current=True)
    time = series_arrays(o3)["time"]
    assert o3.time_start is not None and o3.time_end is not None
    flight_flag_range(
        review.flight,  # type: ignore[arg-type]
        user=review.pi,
        variables=["O3_P1"],
        start=o3.time_start,
        end=o3.time_end,
        flag=int(Flag.BAD),
        comment="all bad",
    )
    zeros = np.zeros(time.size, np.uint8)
    zeros[3] = int(Flag.MISSING)
    replayed = replay_manual_flags(o3, zeros, time)
    assert (np.delete(replayed, 3) == int(Flag.BAD)).all() and replayed[3] == int(Flag.MISSING)
    assert (replay_manual_flags(co, zeros, time) == zeros).all()


def test_approve_releases_to_l1_then_l2_and_closes_the_task(review: Review, client: Client) -> None:
    from stratoflow.server.review.models import Decision
    from stratoflow.server.review.selectors import approved_flights

    client.force_login(review.pi)
    flight = review.flight.identifier  # type: ignore[attr-defined]
    early = _post(
        client, review, "approve", {"level": "L2", "reviewed": page_token(client, flight)}
    )
    assert early == [f"flight {review.flight.identifier}: release to L1 before L2"]  # type: ignore[attr-defined]
    assert Decision.objects.count() == 0
    approve = {"level": "L1", "reason": "fine", "reviewed": page_token(client, flight)}
    assert _post(client, review, "approve", approve) == ["released to L1"]
    review.task.refresh_from_db()  # type: ignore[attr-defined]
    assert review.task.state == "done"  # type: ignore[attr-defined]
    assert [f.identifier for f, _ in approved_flights("L1")] == [review.flight.identifier]  # type: ignore[attr-defined]
    assert list(approved_flights("L2")) == []
    approve = {"level": "L2", "reviewed": page_token(client, flight)}
    assert _post(client, review, "approve", approve) == ["released to L2"]
    assert [f.identifier for f, _ in approved_flights("L2")] == [review.flight.identifier]  # type: ignore[attr-defined]
    decisions = list(Decision.objects.order_by("id").values_list("action", "level", "user"))
    assert decisions == [("approve", "L1", review.pi.pk), ("approve", "L2", review.pi.pk)]
    assert _events(review) == [("approve", "pi", "fine"), ("approve", "pi", "")]


def test_reject_needs_a_reason_and_closes_the_task(review: Review, client: Client) -> None:
    from stratoflow.server.review.models import Decision

    client.force_login(review.admin)
    assert _post(client, review, "reject", {"reason": "   "})[0].startswith("reason:")
    assert Decision.objects.count() == 0
    assert _post(client, review, "reject", {"reason": "instrument not calibrated"}) == ["rejected"]
    decision = Decision.objects.get()
    assert (decision.action, decision.reason, decision.user) == (
        "reject",
        "instrument not calibrated",
        review.admin,
    )
    review.task.refresh_from_db()  # type: ignore[attr-defined]
    assert review.task.state == "done"  # type: ignore[attr-defined]
    assert _events(review) == [("reject", "admin", "instrument not calibrated")]


def test_history_on_the_page_shows_who_when_what_why(review: Review, client: Client) -> None:
    client.force_login(review.pi)
    _post(client, review, "evaluate", {"method": "critical", "reason": "IAGOS rule"})
    _post(client, review, "reject", {"reason": "zero drift"})
    flight = review.flight.identifier  # type: ignore[attr-defined]
    page = client.get(f"/review/flight/{flight}/").content.decode()
    history = page[page.index('id="history"') :]
    assert history.index("zero drift") < history.index("IAGOS rule")  # newest first
    assert "evaluation critical (bad=0.5 good=1.0)" in history
    assert history.count("<td>pi</td>") == 2


def test_queue_filters_and_flag_counts(review: Review, client: Client) -> None:
    from stratoflow.server.review.selectors import flight_flag_counts

    client.force_login(review.admin)
    flight = review.flight  # type: ignore[attr-defined]
    link = f"/review/flight/{flight.identifier}/"
    day = flight.time_start.date().isoformat()

    def listed(**query: str) -> bool:
        r = client.get("/review/", query)
        assert r.status_code == 200
        return link in r.content.decode()

    assert listed()
    assert listed(platform=flight.platform.name) and not listed(platform="D-OTHER")
    assert listed(platform=flight.platform.name.lower().replace("-", " "))  # however spelt
    assert listed(project="IAGOS-CORE") and not listed(project="CARIBIC")
    assert listed(variable="O3_P1") and not listed(variable="NO2")
    assert listed(date_from=day, date_to=day) and not listed(date_from="2099-01-01")
    counts = flight_flag_counts(flight)
    assert counts["bad"] > 0 and sum(counts.values()) == 8 * flight.series.first().n_points
    page = client.get("/review/").content.decode()
    assert f'<td class="num">{counts["bad"]}</td>' in page
    # once approved, the flight leaves the queue
    _post(
        client,
        review,
        "approve",
        {"level": "L1", "reviewed": page_token(client, flight.identifier)},
    )
    assert not listed()


def test_queue_marks_overdue_reviews(review: Review, client: Client) -> None:
    from datetime import timedelta

    from stratoflow.server.review.models import ReviewDeadline

    client.force_login(review.pi)
    assert "overdue</strong>" not in client.get("/review/").content.decode()
    task = review.task
    task.finished_at = task.finished_at - timedelta(days=4)  # type: ignore[attr-defined]
    task.save()  # type: ignore[attr-defined]
    assert "overdue</strong>" in client.get("/review/").content.decode()
    ReviewDeadline.objects.create(job=review.job, days=7)
    assert "overdue</strong>" not in client.get("/review/").content.decode()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a: &x [*x]", "contains itself"),
        ("variables: &v {O3: *v}", "contains itself"),
        (
            "\n".join(
                ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
                + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 7)]
            ),
            "billion laughs",
        ),
    ],
)
def test_rerun_refuses_yaml_that_contains_itself_or_explodes(
    review: Review, client: Client, text: str, says: str
) -> None:
    """A clear form error, never a server error (circular data reached json.dumps) or an
    expansion to millions of values."""
    from stratoflow.server.catalog.models import QCRun

    client.force_login(review.pi)
    before = QCRun.objects.count()
    shown = _post(client, review, "rerun", {"config": text, "method": ""})
    assert shown[0].startswith("config: QC configuration: line ") and says in shown[0], shown
    assert "not valid YAML" in shown[0] and "\n" not in shown[0], shown
    assert QCRun.objects.count() == before and _events(review) == []


def test_a_manual_flag_on_data_after_the_first_file_of_the_flight_is_accepted(
    review: Review, tmp_path: Path
) -> None:
    """The range was checked against the flight's times, which are those of the flight's
    first imported file and never extended: a second instrument's data recorded after them
    (same flight) could not be flagged ("no point would change")."""
    from datetime import timedelta

    from stratoflow.dataset import make_dataset
    from stratoflow.errors import ConfigError
    from stratoflow.importers import import_file
    from stratoflow.server.review.services import flight_flag_range

    flight = review.flight
    end = np.datetime64(flight.time_end.replace(tzinfo=None), "ns")  # type: ignore[attr-defined]
    times = end + np.timedelta64(10, "m") + np.arange(600) * np.timedelta64(1, "s")
    later = make_dataset(
        times,
        {"H2O_extra": (np.linspace(10.0, 20.0, times.size), {"units": "1e-6"})},
        attrs={"flight_id": flight.identifier},  # type: ignore[attr-defined]
    )
    path = write_dataset(later, tmp_path / "hygrometer.nc", writer="netcdf")
    import_file(path, identity="portal/hygrometer.nc", qc=False)
    start = flight.time_end + timedelta(minutes=12)  # type: ignore[attr-defined]
    rows = flight_flag_range(
        flight,  # type: ignore[arg-type]
        user=review.pi,
        variables=["H2O_extra"],
        start=start,
        end=start + timedelta(minutes=2),
        flag=int(Flag.BAD),
        comment="hygrometer icing",
    )
    assert len(rows) == 1
    # a range outside every chosen variable's data still changes nothing, and is refused
    with pytest.raises(ConfigError, match=r"outside flight \S+'s data of H2O_extra"):
        flight_flag_range(
            flight,  # type: ignore[arg-type]
            user=review.pi,
            variables=["H2O_extra"],
            start=start - timedelta(hours=6),
            end=start - timedelta(hours=5),
            flag=int(Flag.BAD),
            comment="before the hygrometer ran",
        )
