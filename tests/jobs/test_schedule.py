"""Schedule arithmetic against hand-computed lists, validation, catch-up policies and the CLI.

2026 transitions used below (hand-checked against the IANA rules):
- Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST -> 02:00 CET
  (01:00Z).
- America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT -> 01:00
  EST (06:00Z).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from stratoflow.cli import main
from stratoflow.errors import ConfigError, ScheduleError
from stratoflow.jobs import Schedule, due
from stratoflow.jobs.schedule import resolve_wall_clock

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def at(text: str) -> datetime:
    """An aware datetime from an ISO string with offset."""
    value = datetime.fromisoformat(text)
    assert value.utcoffset() is not None
    return value


def listed(schedule: Schedule, n: int, after: datetime | None = None) -> list[str]:
    """The first ``n`` occurrences (from start on, or after ``after``) as local ISO strings."""
    if after is None:
        after = schedule.start - timedelta(seconds=1)
    occurrences = schedule.occurrences(after, n)
    assert all(occ.tzinfo is UTC for occ in occurrences)
    assert occurrences == sorted(set(occurrences)), "occurrences must be unique and ascending"
    return [occ.astimezone(schedule.zone).isoformat() for occ in occurrences]


# --- hourly: elapsed time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "start", "expected"),
    [
        (
            BERLIN,
            "2026-03-28T22:00:00+01:00",
            [
                "2026-03-28T22:00:00+01:00",
                "2026-03-29T00:00:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-29T05:00:00+02:00",
                "2026-03-29T07:00:00+02:00",
            ],
        ),
        (
            BERLIN,
            "2026-10-24T22:00:00+02:00",
            [
                "2026-10-24T22:00:00+02:00",
                "2026-10-25T00:00:00+02:00",
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T03:00:00+01:00",
                "2026-10-25T05:00:00+01:00",
            ],
        ),
        (
            NEW_YORK,
            "2026-03-07T23:00:00-05:00",
            [
                "2026-03-07T23:00:00-05:00",
                "2026-03-08T01:00:00-05:00",
                "2026-03-08T04:00:00-04:00",
                "2026-03-08T06:00:00-04:00",
                "2026-03-08T08:00:00-04:00",
            ],
        ),
        (
            NEW_YORK,
            "2026-10-31T23:00:00-04:00",
            [
                "2026-10-31T23:00:00-04:00",
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T02:00:00-05:00",
                "2026-11-01T04:00:00-05:00",
                "2026-11-01T06:00:00-05:00",
            ],
        ),
    ],
)
def test_hourly_x2_keeps_elapsed_time_across_dst(
    timezone: str, start: str, expected: list[str]
) -> None:
    schedule = Schedule("hourly", 2, at(start), timezone)
    assert listed(schedule, 5) == expected
    utc = schedule.occurrences(schedule.start - timedelta(seconds=1), 5)
    assert {b - a for a, b in itertools.pairwise(utc)} == {timedelta(hours=2)}


def test_hourly_x1_runs_a_repeated_wall_clock_hour_twice() -> None:
    schedule = Schedule("hourly", 1, at("2026-11-01T00:00:00-04:00"), NEW_YORK)
    assert listed(schedule, 4) == [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]


# --- daily: wall-clock time ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "start", "expected"),
    [
        (  # the example: spring-forward day runs at the end of the gap
            BERLIN,
            "2026-03-26T02:30:00+01:00",
            [
                "2026-03-26T02:30:00+01:00",
                "2026-03-27T02:30:00+01:00",
                "2026-03-28T02:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00",
                "2026-03-31T02:30:00+02:00",
                "2026-04-01T02:30:00+02:00",
                "2026-04-02T02:30:00+02:00",
            ],
        ),
        (  # fall back: 02:30 exists twice on 10-25, runs once, at the first (CEST) one
            BERLIN,
            "2026-10-23T02:30:00+02:00",
            [
                "2026-10-23T02:30:00+02:00",
                "2026-10-24T02:30:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00",
                "2026-10-27T02:30:00+01:00",
            ],
        ),
        (
            NEW_YORK,
            "2026-03-06T02:30:00-05:00",
            [
                "2026-03-06T02:30:00-05:00",
                "2026-03-07T02:30:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-09T02:30:00-04:00",
                "2026-03-10T02:30:00-04:00",
            ],
        ),
        (  # in New York the repeated hour is 01:00-02:00, so 02:30 is unambiguous
            NEW_YORK,
            "2026-10-30T02:30:00-04:00",
            [
                "2026-10-30T02:30:00-04:00",
                "2026-10-31T02:30:00-04:00",
                "2026-11-01T02:30:00-05:00",
                "2026-11-02T02:30:00-05:00",
            ],
        ),
        (  # ... and 01:30 is ambiguous: first occurrence (EDT), once
            NEW_YORK,
            "2026-10-31T01:30:00-04:00",
            [
                "2026-10-31T01:30:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-02T01:30:00-05:00",
            ],
        ),
    ],
)
def test_daily_at_0230_keeps_wall_clock_across_dst(
    timezone: str, start: str, expected: list[str]
) -> None:
    schedule = Schedule("daily", 1, at(start), timezone)
    assert listed(schedule, len(expected)) == expected


@pytest.mark.parametrize(
    ("timezone", "day", "wall"),
    [(BERLIN, "2026-10-25", "02:30"), (NEW_YORK, "2026-11-01", "01:30")],
)
def test_fall_back_day_runs_once(timezone: str, day: str, wall: str) -> None:
    zone = ZoneInfo(timezone)
    start = datetime.fromisoformat(f"2026-10-01T{wall}").replace(tzinfo=zone)
    schedule = Schedule("daily", 1, start, timezone)
    occurrences = schedule.occurrences(start, 60)
    on_day = [o for o in occurrences if o.astimezone(zone).date().isoformat() == day]
    assert len(on_day) == 1
    assert on_day[0].astimezone(zone).fold == 0  # the first of the two readings


def test_daily_x3_counts_days_from_the_anchor_across_the_gap() -> None:
    schedule = Schedule("daily", 3, at("2026-03-23T02:30:00+01:00"), BERLIN)
    assert listed(schedule, 4) == [
        "2026-03-23T02:30:00+01:00",
        "2026-03-26T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-04-01T02:30:00+02:00",
    ]


# --- weekly --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "start", "expected"),
    [
        (  # every second Sunday 02:30 lands on the Berlin spring-forward Sunday
            BERLIN,
            "2026-03-15T02:30:00+01:00",
            [
                "2026-03-15T02:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-04-12T02:30:00+02:00",
                "2026-04-26T02:30:00+02:00",
            ],
        ),
        (
            BERLIN,
            "2026-10-11T02:30:00+02:00",
            [
                "2026-10-11T02:30:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-11-08T02:30:00+01:00",
                "2026-11-22T02:30:00+01:00",
            ],
        ),
        (  # Mondays 09:00 in New York
            NEW_YORK,
            "2026-03-02T09:00:00-05:00",
            [
                "2026-03-02T09:00:00-05:00",
                "2026-03-16T09:00:00-04:00",
                "2026-03-30T09:00:00-04:00",
            ],
        ),
        (
            NEW_YORK,
            "2026-10-26T09:00:00-04:00",
            [
                "2026-10-26T09:00:00-04:00",
                "2026-11-09T09:00:00-05:00",
                "2026-11-23T09:00:00-05:00",
            ],
        ),
        (  # every second Sunday 02:30 in New York hits its spring-forward Sunday
            NEW_YORK,
            "2026-02-22T02:30:00-05:00",
            [
                "2026-02-22T02:30:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-22T02:30:00-04:00",
            ],
        ),
    ],
)
def test_weekly_x2_across_dst(timezone: str, start: str, expected: list[str]) -> None:
    schedule = Schedule("weekly", 2, at(start), timezone)
    assert listed(schedule, len(expected)) == expected


# --- queries, end, once --------------------------------------------------------------------


def test_occurrences_are_strictly_after_and_jump_far_ahead() -> None:
    schedule = Schedule("daily", 1, at("2020-01-01T02:30:00+01:00"), BERLIN)
    after = at("2026-03-28T02:30:00+01:00")  # exactly an occurrence: excluded
    assert listed(schedule, 3, after=after) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    assert schedule.next_after(after) == at("2026-03-29T01:00:00+00:00")
    hourly = Schedule("hourly", 2, at("2020-01-01T00:00:00+00:00"), "UTC")
    assert hourly.occurrences(at("2026-03-29T01:00:00+00:00"), 2) == [
        at("2026-03-29T02:00:00+00:00"),
        at("2026-03-29T04:00:00+00:00"),
    ]
    assert hourly.occurrences(at("2026-03-29T02:00:00+00:00"), 0) == []


def test_after_in_another_zone_is_compared_as_an_instant() -> None:
    schedule = Schedule("daily", 1, at("2026-03-26T02:30:00+01:00"), BERLIN)
    # 2026-03-27T20:29:59-05:00 is 01:29:59Z on 03-28, one second before the 03-28 run.
    assert listed(schedule, 1, after=at("2026-03-27T20:29:59-05:00")) == [
        "2026-03-28T02:30:00+01:00"
    ]


def test_end_is_inclusive_and_ends_the_schedule() -> None:
    schedule = Schedule(
        "daily", 1, at("2026-03-26T02:30:00+01:00"), BERLIN, end=at("2026-03-29T03:00:00+02:00")
    )
    assert listed(schedule, 10) == [
        "2026-03-26T02:30:00+01:00",
        "2026-03-27T02:30:00+01:00",
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
    ]
    assert schedule.next_after(at("2026-03-29T03:00:00+02:00")) is None


def test_once_runs_at_start_only() -> None:
    schedule = Schedule("once", 1, at("2026-03-29T03:15:00+02:00"), BERLIN)
    assert listed(schedule, 5) == ["2026-03-29T03:15:00+02:00"]
    assert schedule.next_after(schedule.start) is None


def test_schedule_is_an_immutable_value() -> None:
    a = Schedule("daily", 1, at("2026-03-26T02:30:00+01:00"), BERLIN)
    b = Schedule("daily", 1, at("2026-03-26T01:30:00+00:00"), BERLIN)
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.interval = 2  # type: ignore[misc]


def test_resolve_wall_clock_handles_a_half_hour_gap() -> None:
    # Lord Howe Island moves 30 minutes: 2026-10-04 02:00 -> 02:30 local.
    zone = ZoneInfo("Australia/Lord_Howe")
    resolved = resolve_wall_clock(
        datetime(2026, 10, 4).date(), datetime(2026, 1, 1, 2, 15).time(), zone
    )
    assert resolved.astimezone(zone).isoformat() == "2026-10-04T02:30:00+11:00"


# --- validation ----------------------------------------------------------------------------

VALID = {"frequency": "daily", "interval": 1, "start": at("2026-03-26T02:30:00+01:00")}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"frequency": "monthly"}, "unknown frequency 'monthly'"),
        ({"interval": 0}, "interval must be >= 1"),
        ({"interval": 1.5}, "interval must be an integer"),
        ({"interval": True}, "interval must be an integer"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
        ({"timezone": ""}, "timezone must be an IANA name"),
        ({"start": datetime(2026, 3, 26, 2, 30)}, "has no timezone"),
        ({"start": "2026-03-26T02:30"}, "start must be a datetime"),
        ({"start": at("2026-03-26T02:30:00.5+01:00")}, "must be a whole second"),
        (
            {"start": datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo(BERLIN))},
            "does not exist in Europe/Berlin",
        ),
        ({"end": at("2026-03-25T00:00:00+00:00")}, "is before start"),
        ({"end": datetime(2026, 4, 1)}, "end 2026-04-01T00:00:00 has no timezone"),
        ({"frequency": "once", "interval": 2}, "interval must be 1"),
    ],
)
def test_invalid_schedules_raise_schedule_error(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {**VALID, "timezone": BERLIN, **changes}
    with pytest.raises(ScheduleError, match=message) as info:
        Schedule(**values)  # type: ignore[arg-type]
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)


def test_naive_after_is_rejected() -> None:
    schedule = Schedule("daily", 1, VALID["start"], BERLIN)  # type: ignore[arg-type]
    with pytest.raises(ScheduleError, match="after 2026-03-27T00:00:00 has no timezone"):
        schedule.occurrences(datetime(2026, 3, 27), 1)
    with pytest.raises(ScheduleError, match="n must be an integer >= 0"):
        schedule.occurrences(schedule.start, -1)


# --- catch-up: a scheduler down for 10 hours over an hourly job ------------------------------

HOURLY = Schedule("hourly", 1, at("2026-01-01T00:00:00+00:00"), "UTC")
LAST_RUN = at("2026-01-10T00:00:00+00:00")  # ran at midnight, then the scheduler died


def hours(*values: int) -> list[datetime]:
    return [LAST_RUN + timedelta(hours=h) for h in values]


@pytest.mark.parametrize(
    ("now", "policy", "cap", "expected"),
    [
        # back at 10:20: 01:00 .. 10:00 are all missed
        ("2026-01-10T10:20:00+00:00", "skip", 5, []),
        ("2026-01-10T10:20:00+00:00", "latest", 5, hours(10)),
        ("2026-01-10T10:20:00+00:00", "all", 3, hours(8, 9, 10)),
        ("2026-01-10T10:20:00+00:00", "all", 100, hours(*range(1, 11))),
        ("2026-01-10T10:20:00+00:00", "all", 10, hours(*range(1, 11))),
        # back at 10:00:30: 10:00 is on time (within the 60 s grace), 01:00 .. 09:00 missed
        ("2026-01-10T10:00:30+00:00", "skip", 5, hours(10)),
        ("2026-01-10T10:00:30+00:00", "latest", 5, hours(10)),
        ("2026-01-10T10:00:30+00:00", "all", 4, hours(7, 8, 9, 10)),
        # an ordinary tick exactly on time after an ordinary run
        ("2026-01-10T01:00:00+00:00", "skip", 5, hours(1)),
        ("2026-01-10T00:59:59+00:00", "all", 5, []),
    ],
)
def test_catch_up_after_ten_hours_down(
    now: str, policy: str, cap: int, expected: list[datetime]
) -> None:
    assert due(HOURLY, LAST_RUN, at(now), policy, cap) == expected  # type: ignore[arg-type]


def test_catch_up_never_run_and_custom_grace() -> None:
    now = at("2026-01-01T03:30:00+00:00")
    # never ran: every occurrence since start (00:00 included) is pending
    assert due(HOURLY, None, now, "all", 10) == [
        at("2026-01-01T00:00:00+00:00"),
        at("2026-01-01T01:00:00+00:00"),
        at("2026-01-01T02:00:00+00:00"),
        at("2026-01-01T03:00:00+00:00"),
    ]
    assert due(HOURLY, None, now, "skip", 1) == []
    assert due(HOURLY, None, now, "skip", 1, grace=timedelta(minutes=45)) == [
        at("2026-01-01T03:00:00+00:00")
    ]


def test_catch_up_all_after_years_down_is_capped_without_walking_history() -> None:
    now = at("2031-01-01T00:30:00+00:00")
    assert due(HOURLY, LAST_RUN, now, "all", 2) == [
        at("2030-12-31T23:00:00+00:00"),
        at("2031-01-01T00:00:00+00:00"),
    ]
    daily = Schedule("daily", 1, at("2026-03-26T02:30:00+01:00"), BERLIN)
    assert due(daily, None, at("2026-03-30T12:00:00+02:00"), "all", 2) == [
        at("2026-03-29T01:00:00+00:00"),
        at("2026-03-30T00:30:00+00:00"),
    ]


@pytest.mark.parametrize(
    ("policy", "cap", "now", "message"),
    [
        ("sometimes", 1, "2026-01-10T10:00:00+00:00", "unknown catch-up policy 'sometimes'"),
        ("all", 0, "2026-01-10T10:00:00+00:00", "cap must be an integer >= 1"),
        ("all", 1, "2026-01-10T10:00:00", "now 2026-01-10T10:00:00 has no timezone"),
    ],
)
def test_catch_up_rejects_bad_arguments(policy: str, cap: int, now: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        due(HOURLY, LAST_RUN, datetime.fromisoformat(now), policy, cap)  # type: ignore[arg-type]


# --- CLI -----------------------------------------------------------------------------------

PREVIEW = [
    "schedule",
    "preview",
    "--start",
    "2026-03-26T02:30",
    "--frequency",
    "daily",
    "--interval",
    "1",
    "--timezone",
    BERLIN,
    "-n",
    "8",
]
PREVIEW_EXPECTED = [
    "2026-03-26T02:30:00+01:00",
    "2026-03-27T02:30:00+01:00",
    "2026-03-28T02:30:00+01:00",
    "2026-03-29T03:00:00+02:00",
    "2026-03-30T02:30:00+02:00",
    "2026-03-31T02:30:00+02:00",
    "2026-04-01T02:30:00+02:00",
    "2026-04-02T02:30:00+02:00",
]


def test_cli_preview_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(PREVIEW) == 0
    assert capsys.readouterr().out.splitlines() == PREVIEW_EXPECTED


def test_cli_preview_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*PREVIEW, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == PREVIEW_EXPECTED


def test_cli_preview_after_and_offset_start(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["schedule", "preview", "--start", "2026-03-26T01:30Z", "--frequency", "daily"]
    argv += ["--timezone", BERLIN, "-n", "2", "--after", "2026-03-28T02:30"]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == PREVIEW_EXPECTED[3:5]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (["--timezone", "Nowhere/Land"], "unknown timezone 'Nowhere/Land'"),
        (["--frequency", "monthly"], "unknown frequency 'monthly'"),
        (["--start", "next tuesday"], "--start 'next tuesday' is not an ISO 8601 date-time"),
        (["--interval", "0"], "interval must be >= 1"),
        (["-n", "-1"], "-n must be >= 0"),
    ],
)
def test_cli_preview_bad_input_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], changes: list[str], message: str
) -> None:
    assert main([*PREVIEW, *changes]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("stratoflow schedule: error: ")
    assert message in captured.err
    assert captured.err.count("\n") == 1


# --- stored form -----------------------------------------------------------------------------


def test_start_is_stored_in_utc_so_ambiguous_readings_stay_distinct() -> None:
    zone = ZoneInfo(NEW_YORK)
    first = Schedule("daily", 1, datetime(2026, 11, 1, 1, 30, tzinfo=zone, fold=0), NEW_YORK)
    second = Schedule("daily", 1, datetime(2026, 11, 1, 1, 30, tzinfo=zone, fold=1), NEW_YORK)
    assert first.start == at("2026-11-01T05:30:00+00:00") and first.start.tzinfo is UTC
    assert second.start == at("2026-11-01T06:30:00+00:00")
    assert first != second
    assert first.local_start.isoformat() == "2026-11-01T01:30:00-04:00"


def test_to_dict_and_from_dict_round_trip() -> None:
    schedule = Schedule(
        "weekly", 2, at("2026-03-15T02:30:00+01:00"), BERLIN, end=at("2026-06-01T00:00:00Z")
    )
    data = schedule.to_dict()
    assert data == {
        "frequency": "weekly",
        "interval": 2,
        "start": "2026-03-15T02:30:00+01:00",
        "timezone": BERLIN,
        "end": "2026-06-01T02:00:00+02:00",
    }
    assert Schedule.from_dict(json.loads(json.dumps(data))) == schedule
    # hand-written: wall-clock start, defaults for interval
    written = Schedule.from_dict(
        {"frequency": "daily", "start": "2026-03-26T02:30", "timezone": BERLIN}
    )
    assert written == Schedule("daily", 1, at("2026-03-26T02:30:00+01:00"), BERLIN)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"frequency": "daily", "start": "2026-03-26T02:30", "every": 2}, "unknown schedule key"),
        ({"start": "2026-03-26T02:30"}, "'frequency' is required"),
        ({"frequency": "daily"}, "'start' is required"),
        ({"frequency": "daily", "start": "soon"}, "start 'soon' is not an ISO 8601"),
        ({"frequency": "daily", "start": 20260326}, "start must be an ISO 8601 date-time"),
        ({"frequency": "daily", "start": "2026-03-26T02:30", "timezone": 1}, "IANA name"),
    ],
)
def test_from_dict_errors_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule.from_dict(data)


def test_catch_up_of_a_one_off_job() -> None:
    once = Schedule("once", 1, at("2026-01-10T03:00:00+00:00"), "UTC")
    now = at("2026-01-10T10:00:00+00:00")
    assert due(once, None, now, "skip", 1) == []
    assert due(once, None, now, "latest", 1) == [once.start]
    assert due(once, None, now, "all", 5) == [once.start]
    assert due(once, once.start, now, "all", 5) == []  # already ran
    assert due(once, None, at("2026-01-10T02:59:59+00:00"), "all", 5) == []  # not yet


def test_exported_surface() -> None:
    import stratoflow.jobs

    assert {"Schedule", "due", "CatchUpPolicy", "Frequency", "DEFAULT_GRACE"} <= set(
        stratoflow.jobs.__all__
    )
    assert all(hasattr(stratoflow.jobs, name) for name in stratoflow.jobs.__all__)
