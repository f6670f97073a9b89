"""When a job runs: :class:`Schedule`, an immutable value that validates itself.

A schedule is *frequency × interval* anchored at a timezone-aware ``start`` in an IANA
``timezone``. The arithmetic comes from APScheduler's triggers (only the triggers: its job
stores duplicate runs when several processes share them); the daylight-saving policy is ours:

- ``hourly`` keeps **elapsed time**: "every 2 hours" is always 7200 s apart, so across a DST
  change the wall-clock hour shifts (and a repeated hour can run twice, once per real hour).
  Arithmetic: :class:`apscheduler.triggers.interval.IntervalTrigger`.
- ``daily`` and ``weekly`` keep the **wall-clock time** of ``start`` (e.g. 02:30 every day).
  Arithmetic: :class:`apscheduler.triggers.calendarinterval.CalendarIntervalTrigger`.

  - A wall-clock time that does not exist (spring forward) runs at the first existing instant
    after the gap: 02:30 Europe/Berlin on 2026-03-29 runs at 03:00+02:00. APScheduler 3.11
    silently skips such a day, so :meth:`Schedule._calendar` puts it back explicitly.
  - A wall-clock time that exists twice (fall back) runs once, at its first occurrence
    (02:30+02:00 on 2026-10-25 in Berlin, not 02:30+01:00).
- ``once`` runs exactly at ``start``.

Occurrences are returned **in UTC** (``datetime.timezone.utc``). Python compares two datetimes
that share a ``ZoneInfo`` by their wall clock and ignores ``fold``, so 01:30 EDT and 01:30 EST
would compare (and deduplicate) as equal; UTC values never do. Show them to people with
``occ.astimezone(schedule.zone)``.

Example::

    >>> s = Schedule("daily", 1, datetime(2026, 3, 28, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    ...              "Europe/Berlin")
    >>> [o.astimezone(s.zone).isoformat() for o in s.occurrences(s.start, 2)]
    ['2026-03-29T03:00:00+02:00', '2026-03-30T02:30:00+02:00']
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.interval import IntervalTrigger

from stratoflow.errors import ScheduleError

__all__ = ["Frequency", "Schedule", "load_zone", "parse_instant"]

Frequency = Literal["hourly", "daily", "weekly", "once"]
FREQUENCIES: tuple[str, ...] = get_args(Frequency)

_DAYS_PER_STEP = {"daily": 1, "weekly": 7}

#: The longest period a schedule may have. Longer intervals are typing mistakes, and far
#: longer ones cannot be computed at all (dates end in the year 9999): refused when the
#: schedule is made, not found by the scheduler at run time.
MAX_PERIOD = timedelta(days=36525)  # 100 years
_HOURS_PER_STEP = {"hourly": 1, "daily": 24, "weekly": 168}


def load_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; :class:`ScheduleError` when it is unknown."""
    if not isinstance(name, str) or not name:
        raise ScheduleError(f"timezone must be an IANA name such as 'Europe/Berlin', not {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"unknown timezone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from exc


def parse_instant(text: str, timezone: str, what: str) -> datetime:
    """An ISO 8601 instant; without an offset it is a wall-clock time in ``timezone``.

    ``parse_instant("2026-03-26T02:30", "Europe/Berlin", "start")`` is 02:30+01:00. A repeated
    wall-clock time means its first reading.
    """
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        # "2019-02-30" has the right shape but no such day: say which it was
        reason = f" ({exc})" if "range" in str(exc) else ""
        raise ScheduleError(
            f"{what} {text!r} is not an ISO 8601 date-time such as 2026-03-26T02:30{reason}"
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=load_zone(timezone))
    return value


def _require_aware(value: object, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ScheduleError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ScheduleError(
            f"{what} {value.isoformat()} has no timezone: give an offset or a tzinfo"
        )
    return value


def _exists(naive: datetime, zone: tzinfo) -> bool:
    """Whether the wall-clock reading ``naive`` exists in ``zone`` (is not in a DST gap)."""
    local = naive.replace(tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def resolve_wall_clock(day: date, at: time, zone: tzinfo) -> datetime:
    """The instant (UTC) at which wall-clock ``at`` on ``day`` in ``zone`` runs.

    Existing times map to themselves; a repeated time (fall back) to its first occurrence
    (``fold=0``); a nonexistent time (spring forward) to the first instant after the gap,
    found by bisection between its two possible readings, so any gap length works.
    """
    naive = datetime.combine(day, at)
    if _exists(naive, zone):
        return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    # Inside a gap the two folds use the offsets before and after the transition; the
    # transition instant lies between the two readings.
    readings = sorted(naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    lo, hi = int(readings[0].timestamp()), int(readings[1].timestamp())
    after_offset = datetime.fromtimestamp(hi, zone).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


@dataclass(frozen=True)
class Schedule:
    """Frequency × interval from ``start`` in ``timezone``, optionally until ``end``.

    ``start`` is the anchor: hourly runs are whole multiples of ``interval`` hours after it;
    daily and weekly runs happen at its wall-clock time in ``timezone``, every ``interval``
    days or weeks from its date (a weekly schedule runs on ``start``'s weekday). ``end``
    (inclusive) stops the schedule. ``start`` must be a whole second and must exist in
    ``timezone``. ``once`` requires ``interval == 1``. ``start`` and ``end`` are stored in
    UTC after validation (see :attr:`local_start` for the wall-clock anchor).
    """

    frequency: Frequency
    interval: int
    start: datetime
    timezone: str
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.frequency not in FREQUENCIES:
            raise ScheduleError(
                f"unknown frequency {self.frequency!r}: use one of {', '.join(FREQUENCIES)}"
            )
        if isinstance(self.interval, bool) or not isinstance(self.interval, int):
            raise ScheduleError(f"interval must be an integer >= 1, not {self.interval!r}")
        if self.interval < 1:
            raise ScheduleError(f"interval must be >= 1, not {self.interval}")
        per_step = _HOURS_PER_STEP.get(self.frequency)
        longest = int(MAX_PERIOD / timedelta(hours=1)) // per_step if per_step else 1
        if per_step and self.interval > longest:
            unit = {"hourly": "hours", "daily": "days", "weekly": "weeks"}[self.frequency]
            raise ScheduleError(
                f"interval {self.interval} is too large: a {self.frequency} schedule repeats "
                f"at most every {longest} {unit} (100 years)"
            )
        if self.frequency == "once" and self.interval != 1:
            raise ScheduleError("a 'once' schedule runs a single time: interval must be 1")
        zone = load_zone(self.timezone)
        start = _require_aware(self.start, "start")
        if start.microsecond:
            raise ScheduleError(f"start {start.isoformat()} must be a whole second")
        if start.tzinfo == zone and not _exists(start.replace(tzinfo=None), zone):
            raise ScheduleError(
                f"start {start.replace(tzinfo=None).isoformat()} does not exist in "
                f"{self.timezone} (skipped by a daylight-saving change): anchor the schedule "
                "at an existing time, e.g. the day before"
            )
        if self.end is not None:
            end = _require_aware(self.end, "end")
            if end < start:
                raise ScheduleError(f"end {end.isoformat()} is before start {start.isoformat()}")
            object.__setattr__(self, "end", end.astimezone(UTC))
        # Stored in UTC: Python compares datetimes sharing a ZoneInfo by wall clock (ignoring
        # ``fold``) and never finds an ambiguous local time equal to a UTC one, so only UTC
        # values give exact equality and hashing of schedules.
        object.__setattr__(self, "start", start.astimezone(UTC))

    def to_dict(self) -> dict[str, str | int | None]:
        """A JSON/YAML-able form; instants as ISO 8601 with the zone's offset."""
        zone = self.zone
        return {
            "frequency": self.frequency,
            "interval": self.interval,
            "start": self.start.astimezone(zone).isoformat(),
            "timezone": self.timezone,
            "end": None if self.end is None else self.end.astimezone(zone).isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Schedule:
        """The inverse of :meth:`to_dict`; also reads hand-written YAML.

        ``interval`` defaults to 1 and ``timezone`` to UTC; ``start``/``end`` may be ISO
        strings (without an offset: wall-clock time in ``timezone``) or aware datetimes.
        Unknown or missing keys raise :class:`ScheduleError` naming them.
        """
        known = {"frequency", "interval", "start", "timezone", "end"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ScheduleError(
                f"unknown schedule key(s) {', '.join(map(repr, unknown))}: "
                f"use {', '.join(sorted(known))}"
            )
        if data.get("frequency") is None:
            raise ScheduleError("schedule key 'frequency' is required")
        timezone = data.get("timezone", "UTC")
        if not isinstance(timezone, str):
            raise ScheduleError(f"timezone must be an IANA name, not {timezone!r}")

        def instant(key: str) -> datetime | None:
            value = data.get(key)
            if value is None or isinstance(value, datetime):
                return value
            if isinstance(value, str):
                return parse_instant(value, timezone, key)
            raise ScheduleError(f"{key} must be an ISO 8601 date-time, not {value!r}")

        start = instant("start")
        if start is None:
            raise ScheduleError("schedule key 'start' is required")
        return cls(
            frequency=data["frequency"],  # type: ignore[arg-type]  # validated on construction
            interval=data.get("interval", 1),  # type: ignore[arg-type]
            start=start,
            timezone=timezone,
            end=instant("end"),
        )

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def local_start(self) -> datetime:
        """``start`` as a wall-clock reading in the schedule's zone."""
        return self.start.astimezone(self.zone)

    def occurrences(self, after: datetime, n: int) -> list[datetime]:
        """The next ``n`` run instants strictly after ``after`` (UTC, ascending).

        Fewer than ``n`` when ``end`` (or a ``once`` schedule) comes first.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ScheduleError(f"n must be an integer >= 0, not {n!r}")
        return list(itertools.islice(self.iter_after(after), n))

    def next_after(self, after: datetime) -> datetime | None:
        """The first run instant strictly after ``after``, or ``None`` when there is none."""
        return next(self.iter_after(after), None)

    def between(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """Run instants in ``(after, until]``, ascending."""
        until = _require_aware(until, "until").astimezone(UTC)
        return itertools.takewhile(lambda occ: occ <= until, self.iter_after(after))

    def iter_after(self, after: datetime) -> Iterator[datetime]:
        """All run instants strictly after ``after`` (UTC, ascending, possibly endless)."""
        after = _require_aware(after, "after").astimezone(UTC)
        if self.frequency == "once":
            found: Iterator[datetime] = iter([self.start])
        elif self.frequency == "hourly":
            found = self._hourly(after)
        else:
            found = self._calendar(after)
        while True:
            try:
                occ = next(found)
            except StopIteration:
                return
            except (OverflowError, ValueError):  # past the year 9999: no later instant exists
                return
            if self.end is not None and occ > self.end:
                return
            if occ > after:
                yield occ

    @property
    def period(self) -> timedelta:
        """The nominal time between two runs (a DST change moves a daily run by up to 1 h)."""
        if self.frequency == "hourly":
            return timedelta(hours=self.interval)
        if self.frequency in _DAYS_PER_STEP:
            return timedelta(days=_DAYS_PER_STEP[self.frequency] * self.interval)
        return timedelta(0)

    def _hourly(self, after: datetime) -> Iterator[datetime]:
        trigger = IntervalTrigger(hours=self.interval, start_date=self.start, timezone=UTC)
        # Without a previous fire time the trigger returns the first run at or after ``now``.
        previous: datetime | None = trigger.get_next_fire_time(None, after)
        while previous is not None:
            yield previous.astimezone(UTC)
            previous = trigger.get_next_fire_time(previous, previous)

    def _calendar(self, after: datetime) -> Iterator[datetime]:
        zone = self.zone
        local = self.local_start
        step = _DAYS_PER_STEP[self.frequency] * self.interval
        at = local.time().replace(tzinfo=None)
        # Start one nominal date before ``after``'s local date, so a long-running schedule
        # does not replay its history; earlier candidates are filtered by ``iter_after``.
        days_since = (after.astimezone(zone).date() - local.date()).days
        index = max(0, days_since // step - 1)
        nominal = local.date() + timedelta(days=index * step)
        trigger = CalendarIntervalTrigger(
            days=step, hour=at.hour, minute=at.minute, second=at.second,
            start_date=nominal, timezone=zone,
        )  # fmt: skip
        fired: datetime | None = trigger.get_next_fire_time(None, after)
        while fired is not None:
            # APScheduler drops a date whose wall-clock time falls into a DST gap; every
            # nominal date it jumped over gets the first instant after its gap instead.
            while nominal < fired.date():
                yield resolve_wall_clock(nominal, at, zone)
                nominal += timedelta(days=step)
            yield fired.astimezone(UTC)
            nominal = fired.date() + timedelta(days=step)
            fired = trigger.get_next_fire_time(fired, fired)
