"""Which occurrences to run after the scheduler was away: the catch-up policies.

When the scheduler wakes at ``now`` and the job last ran (or was last considered) at
``last_run``, the *pending* occurrences are those in ``(last_run, now]``. One of them is
*on time* when it is at most ``grace`` old (``now - occurrence <= grace``); the others were
*missed*. The policies:

``skip``
    Missed occurrences are dropped; the latest pending occurrence runs only if it is on time.
``latest``
    Only the most recent pending occurrence runs, on time or missed (a flood of missed runs
    collapses into one).
``all``
    Every pending occurrence runs, oldest first, but at most ``cap`` of them: when more are
    pending, the **most recent** ``cap`` run and the older ones are dropped (``stratoflow
    backfill`` creates them deliberately if they are wanted).

``last_run=None`` means the job never ran: everything since ``start`` is pending. The caller
records ``now`` as the new ``last_run`` afterwards, so dropped occurrences are not offered
again. Occurrences are UTC datetimes, like :meth:`Schedule.occurrences`.

Example: an hourly job, scheduler down from 00:00 to 10:20 — ``skip`` runs nothing,
``latest`` runs 10:00, ``all`` with ``cap=3`` runs 08:00, 09:00, 10:00.
"""

from __future__ import annotations

import collections
from datetime import datetime, timedelta
from typing import Literal, get_args

from stratoflow.errors import ScheduleError
from stratoflow.jobs.schedule import Schedule

__all__ = ["DEFAULT_GRACE", "CatchUpPolicy", "due"]

CatchUpPolicy = Literal["skip", "latest", "all"]
POLICIES: tuple[str, ...] = get_args(CatchUpPolicy)

#: How late a scheduler tick may be for an occurrence to still count as on time.
DEFAULT_GRACE = timedelta(seconds=60)


def due(
    schedule: Schedule,
    last_run: datetime | None,
    now: datetime,
    policy: CatchUpPolicy,
    cap: int,
    *,
    grace: timedelta = DEFAULT_GRACE,
) -> list[datetime]:
    """The occurrences of ``schedule`` to run now, oldest first (see the module docstring)."""
    if policy not in POLICIES:
        raise ScheduleError(f"unknown catch-up policy {policy!r}: use one of {', '.join(POLICIES)}")
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ScheduleError(f"catch-up cap must be an integer >= 1, not {cap!r}")
    if grace < timedelta(0):
        raise ScheduleError(f"grace must not be negative, not {grace}")
    for name, value in (("now", now), ("last_run", last_run)):
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ScheduleError(f"{name} {value.isoformat()} has no timezone")
    # Only the last few pending occurrences can matter, so never walk a long history: look
    # back at most ``keep`` periods (plus 2 h of daylight-saving slack) before ``now``.
    keep = cap if policy == "all" else 1
    horizon = now - schedule.period * (keep + 1) - timedelta(hours=2)
    after = schedule.start - timedelta(seconds=1) if last_run is None else last_run
    if schedule.frequency != "once" and after < horizon:
        after = horizon
    recent = collections.deque(schedule.between(after, now), maxlen=keep)
    if policy == "skip":
        return [occ for occ in recent if now - occ <= grace]
    return list(recent)
