"""Properties of Schedule over many zones, anchors and query points (hypothesis).

The hand-computed lists in test_schedule.py pin the policy; these check that it holds
everywhere: jumping ahead gives the same runs as walking from the start, runs are ascending
and unique, daily/weekly runs keep their wall-clock time or sit exactly at the end of a gap,
and a repeated wall-clock time runs at its first reading.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stratoflow.jobs import Schedule
from stratoflow.jobs.schedule import resolve_wall_clock

# Zones with 1 h gaps at 02:00 (Berlin, New York), at midnight (Santiago, Havana), a 30 min
# gap (Lord Howe), southern-hemisphere DST (Sydney) and none at all (Kolkata, UTC).
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Australia/Sydney",
    "Asia/Kolkata",
    "UTC",
]


@st.composite
def schedules(draw: st.DrawFn, frequencies: tuple[str, ...]) -> Schedule:
    timezone = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(timezone)
    day = draw(
        st.dates(min_value=datetime(2025, 1, 1).date(), max_value=datetime(2027, 12, 31).date())
    )
    # Favour the small hours, where the transitions are.
    hour = draw(st.one_of(st.integers(0, 3), st.integers(0, 23)))
    minute = draw(st.sampled_from([0, 15, 30, 45, 59]))
    naive = datetime.combine(day, time(hour, minute))
    if naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        assume(False)  # a nonexistent anchor is rejected (tested elsewhere)
    frequency = draw(st.sampled_from(frequencies))
    interval = draw(st.integers(1, 4))
    return Schedule(frequency, interval, naive.replace(tzinfo=zone), timezone)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(schedules(("daily", "weekly")), st.integers(0, 400), st.integers(0, 86399))
def test_calendar_jump_equals_walk_and_keeps_wall_clock(
    schedule: Schedule, days: int, seconds: int
) -> None:
    zone = schedule.zone
    step = (1 if schedule.frequency == "daily" else 7) * schedule.interval
    walk = schedule.occurrences(schedule.start - timedelta(seconds=1), days // step + 10)
    after = schedule.start + timedelta(days=days, seconds=seconds)
    expected = [occ for occ in walk if occ > after][:6]
    assert schedule.occurrences(after, 6) == expected
    assert walk == sorted(set(walk))
    assert walk[0] == schedule.start
    anchor = schedule.local_start
    wall = anchor.time()
    for k, occ in enumerate(walk):
        day = anchor.date() + timedelta(days=k * step)
        assert occ == resolve_wall_clock(day, wall, zone)
        local = occ.astimezone(zone)
        assert local.date() == day
        if local.time() == wall:
            assert local.fold == 0  # a repeated wall-clock time runs at its first reading
        else:
            # not kept only when the time does not exist: the run is the gap's end
            before = (occ - timedelta(seconds=1)).astimezone(zone)
            assert before.utcoffset() != local.utcoffset()
            wanted = datetime.combine(day, wall)
            assert before.replace(tzinfo=None) < wanted < local.replace(tzinfo=None)


@settings(max_examples=80, deadline=None)
@given(schedules(("hourly",)), st.integers(0, 20 * 86400))
def test_hourly_jump_equals_walk_and_keeps_elapsed_time(schedule: Schedule, seconds: int) -> None:
    walk = schedule.occurrences(schedule.start - timedelta(seconds=1), 600)
    after = schedule.start + timedelta(seconds=seconds)
    expected = [occ for occ in walk if occ > after][:4]
    assert len(expected) == 4
    assert schedule.occurrences(after, 4) == expected
    assert schedule.next_after(after) == expected[0]
    assert {b - a for a, b in itertools.pairwise(walk)} == {timedelta(hours=schedule.interval)}
