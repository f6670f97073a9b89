"""Where the scheduler gets "now" from: an injectable clock.

Everything that decides *which slot is due* asks a :class:`Clock` instead of calling
``datetime.now`` so tests can drive a simulated day in seconds: :class:`ManualClock` moves
only when told, :class:`ScaledClock` runs ``speed`` times faster than real time from an
agreed origin (several processes given the same origin agree on "now"). Leases and
heartbeats stay on real time: they are about whether a process is alive.

Example::

    >>> clock = ManualClock(datetime(2026, 3, 29, tzinfo=UTC))
    >>> clock.advance(timedelta(hours=1)); clock.now().hour
    1
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from stratoflow.errors import ScheduleError

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock"]


class Clock(Protocol):
    """A source of the current instant (timezone-aware, UTC)."""

    def now(self) -> datetime:
        """The current instant."""
        ...


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """Time that moves only by :meth:`advance` or :meth:`set` (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ScheduleError(f"clock start {start.isoformat()} has no timezone")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta``."""
        with self._lock:
            self._now += delta

    def set(self, instant: datetime) -> None:
        """Jump to ``instant``."""
        with self._lock:
            self._now = instant.astimezone(UTC)


class ScaledClock:
    """Simulated time: ``origin`` at real time ``epoch`` (Unix seconds), ``speed`` x faster."""

    def __init__(self, origin: datetime, epoch: float, speed: float) -> None:
        if origin.tzinfo is None:
            raise ScheduleError(f"clock origin {origin.isoformat()} has no timezone")
        if speed <= 0:
            raise ScheduleError(f"clock speed must be > 0, not {speed}")
        self.origin, self.epoch, self.speed = origin.astimezone(UTC), epoch, speed

    def now(self) -> datetime:
        return self.origin + timedelta(seconds=(time.time() - self.epoch) * self.speed)
