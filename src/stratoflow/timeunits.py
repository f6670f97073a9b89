"""CF/UDUNITS time units (``<unit> since <date>[T ]<time>[ zone]``) read to a UTC instant.

Every reader and processing step that meets such a string uses :func:`parse_time_units` (a
whole units attribute) or :func:`find_time_units` (one embedded in a NASA Ames/ICARTT
variable name), so a reference time with a zone means the same thing everywhere.

Why not leave it to a library: checked against the versions stratoflow runs on, cftime
*silently ignores* ``UTC+1``, ``+1``, ``-5:30`` and zone names (``CET``); xarray/pandas read
``UTC+1`` POSIX-style (one hour *west* of UTC, the opposite of what a person writing it on
CET means), ignore ``CET`` and do not recognise ``SINCE``, returning the raw numbers; dateutil
reads ``UTC+1`` POSIX-style too. So the zone is read here, by one small grammar:

* ``Z``, ``UTC``, ``GMT``, ``UT`` or nothing: UTC;
* an ISO 8601 offset ``+01:00``, ``+0100``, ``+01``, ``-5`` (hours east of UTC, UDUNITS and
  ISO agree on the sign): converted to UTC;
* ``UTC+1``, ``GMT-05:00``: refused as ambiguous (POSIX ``TZ`` reads the sign the other way),
  unless the offset is zero;
* anything else (``CET``, ``local``): refused, since its offset is unknown.

The date and time are checked by :class:`datetime.datetime` (no 31 April, no year 0); the
keyword ``since`` may be written in any case, with any blanks around it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np

from stratoflow.errors import TimeUnitsError

__all__ = ["TimeUnits", "find_time_units", "is_time_units", "parse_time_units", "zone_offset"]

#: nanoseconds per unit, for the UDUNITS spellings of fixed-length time units (months and
#: years are not fixed: their length depends on the calendar, so they have none)
_NS_PER_UNIT = {
    **dict.fromkeys(("ns", "nsec", "nanosecond", "nanoseconds"), 1),
    **dict.fromkeys(("us", "usec", "microsecond", "microseconds"), 1_000),
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), 1_000_000),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1_000_000_000),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60_000_000_000),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3_600_000_000_000),
    **dict.fromkeys(("d", "day", "days"), 86_400_000_000_000),
}

_WHOLE = re.compile(r"\s*(?P<unit>[^\W\d]+)\s+since\s+(?P<reference>.*?)\s*", re.IGNORECASE)
#: ``since`` followed by something that starts like a date, inside free text
_EMBEDDED = re.compile(
    r"(?:(?P<unit>[^\W\d]+)\s+)?\bsince\s+(?P<reference>[+-]?\d{1,4}-\d[^()\[\],;]*)", re.IGNORECASE
)
_REFERENCE = re.compile(
    r"(?P<y>\d{1,4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:(?:T|\s+)(?P<h>\d{1,2}):(?P<mi>\d{1,2})(?::(?P<s>\d{1,2})(?:\.(?P<frac>\d*))?)?)?"
    r"(?P<zone>.*)",
    re.IGNORECASE | re.DOTALL,
)
#: the range of datetime64[ns], with a day to spare for a zone offset
_FIRST, _LAST = np.datetime64("1677-09-23", "us"), np.datetime64("2262-04-10", "us")
_UTC_NAMES = r"(?:Z|UTC|GMT|UT)"
_OFFSET = r"(?P<sign>[+-]?)(?P<oh>\d{1,2})(?::?(?P<om>\d{2}))?"
_ZONE = re.compile(rf"\s*(?P<name>{_UTC_NAMES})?\s*(?:{_OFFSET})?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class TimeUnits:
    """A parsed ``<unit> since <reference>``: the unit, the reference and its zone offset."""

    #: the unit word as written, lower case (``"seconds"``, ``"days"``, ``"months"``)
    unit: str
    #: the reference as a wall-clock instant of UTC + ``offset`` (proleptic Gregorian), to
    #: the microsecond (``datetime64[us]``: any year), and the nanoseconds below that
    wall: np.datetime64
    wall_ns: int
    #: the reference's wall-clock date and time as written, without the zone
    #: (``"2024-01-01 00:00:00"``), for a library that applies a calendar to it
    reference: str
    #: the zone's offset east of UTC
    offset: np.timedelta64
    #: the string it was read from
    text: str

    @property
    def epoch(self) -> np.datetime64:
        """The reference instant in UTC (``datetime64[ns]``, proleptic Gregorian calendar).

        :class:`TimeUnitsError` when it lies outside the years 1678-2261 ``datetime64[ns]``
        holds (numpy would wrap around silently)."""
        if not _FIRST <= self.wall <= _LAST:
            raise TimeUnitsError(
                f"time units {self.text!r}: reference {self.reference!r} lies outside the years "
                "1678-2261 a time can take"
            )
        wall = self.wall.astype("datetime64[ns]") + np.timedelta64(self.wall_ns, "ns")
        return np.datetime64(wall - self.offset, "ns")

    @property
    def ns(self) -> int | None:
        """Nanoseconds per unit; None for months and years, whose length is the calendar's."""
        return _NS_PER_UNIT.get(self.unit)

    @property
    def utc(self) -> str:
        """The same units with the reference written in UTC without a zone (``seconds since
        2023-12-31 23:00:00``): what any CF/UDUNITS tool reads the same way."""
        return f"{self.unit} since {self.utc_reference}"

    @property
    def utc_reference(self) -> str:
        """The reference instant in UTC, ISO with a blank (``2023-12-31 23:00:00``)."""
        stamp = np.datetime_as_string(self.epoch, unit="ns").replace("T", " ")
        return re.sub(r"[.]?0+$", "", stamp)


def is_time_units(text: object) -> bool:
    """Whether ``text`` has the form ``<unit> since <something>`` (any case of ``since``)."""
    return isinstance(text, str) and _WHOLE.fullmatch(text) is not None


def parse_time_units(text: str) -> TimeUnits:
    """``"seconds SINCE 2024-01-01 00:00:00 +01:00"`` -> unit ``seconds``, epoch
    2023-12-31T23:00 UTC. :class:`TimeUnitsError` names the string and what is wrong."""
    match = _WHOLE.fullmatch(text)
    if match is None:
        raise TimeUnitsError(f"time units {text!r} are not '<unit> since <date>'")
    return _units(match["unit"], match["reference"], text)


def find_time_units(text: str) -> TimeUnits | None:
    """The ``<unit> since <date>`` inside free text (a NASA Ames XNAME such as ``"Time
    (seconds since 2021-06-14T10:00:00Z)"``), or None when ``since`` is not followed by a
    date (``"Time since launch"``). The reference ends at a bracket, comma or semicolon."""
    match = _EMBEDDED.search(text)
    if match is None:
        return None
    unit, reference = match["unit"] or "", match["reference"].strip()
    return _units(unit, reference, f"{unit} since {reference}".strip())


def _units(unit: str, reference: str, text: str) -> TimeUnits:
    """Read ``<date>[T ]<time>[ zone]``."""
    match = _REFERENCE.fullmatch(reference)
    if match is None:
        raise TimeUnitsError(
            f"time units {text!r}: reference {reference!r} is not a date "
            "'YYYY-MM-DD[ hh:mm[:ss]][ zone]'"
        )
    try:
        y, mo, d, h, mi, s = (int(match[k] or 0) for k in ("y", "mo", "d", "h", "mi", "s"))
        moment = dt.datetime(y, mo, d, h, mi, s)
    except ValueError as exc:
        raise TimeUnitsError(f"time units {text!r}: no such date or time ({exc})") from None
    fraction = int((match["frac"] or "").ljust(9, "0")[:9])
    wall = np.datetime64(moment, "us") + np.timedelta64(fraction // 1000, "us")
    written = moment.isoformat(sep=" ") + (f".{match['frac']}" if match["frac"] else "")
    offset = _zone_offset(match["zone"], f"time units {text!r}: ")
    return TimeUnits(unit.lower(), wall, fraction % 1000, written, offset, text)


def zone_offset(zone: str) -> np.timedelta64:
    """The offset east of UTC (``timedelta64[ns]``) of a zone written on its own, by the
    same rules as after a reference time: ``"UTC"`` 0, ``"+01:00"`` one hour, ``"UTC+1"``
    and ``"CET"`` a :class:`TimeUnitsError`."""
    return _zone_offset(zone, "")


def _zone_offset(zone: str, prefix: str) -> np.timedelta64:
    """Offset east of UTC of the zone after a reference time (see the module docstring);
    ``prefix`` starts an error message (what the zone belongs to)."""
    match = _ZONE.fullmatch(zone)
    if match is None:
        raise TimeUnitsError(
            f"{prefix}zone {zone.strip()!r} is not understood; write UTC or an ISO offset "
            "such as '+01:00'"
        )
    if match["oh"] is None:
        return np.timedelta64(0, "ns")  # nothing, or Z/UTC/GMT/UT alone
    hours, minutes = int(match["oh"]), int(match["om"] or 0)
    if hours > 14 or minutes > 59:
        raise TimeUnitsError(f"{prefix}zone offset {zone.strip()!r} is not an offset")
    size = hours * 60 + minutes
    if size and match["name"] is not None:
        raise TimeUnitsError(
            f"{prefix}zone {zone.strip()!r} is ambiguous (POSIX reads 'UTC+1' as "
            "one hour west of UTC, ISO 8601 and most people as one hour east); write the "
            "offset alone, e.g. '+01:00'"
        )
    if size and not match["sign"]:
        raise TimeUnitsError(
            f"{prefix}zone offset {zone.strip()!r} has no sign; write e.g. '+01:00'"
        )
    return np.timedelta64((-size if match["sign"] == "-" else size) * 60_000_000_000, "ns")
