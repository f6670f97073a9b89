"""The shared CF/UDUNITS time units parser (stratoflow.timeunits) on its own.

The readers' and the clock step's tests check it in place; these pin what only the parser
decides: sub-microsecond references, the datetime64 range, offsets that are no offsets.
"""

from __future__ import annotations

import numpy as np
import pytest

from stratoflow.errors import TimeUnitsError
from stratoflow.timeunits import find_time_units, is_time_units, parse_time_units


def test_a_reference_keeps_its_nanoseconds_through_the_zone() -> None:
    units = parse_time_units("seconds since 2024-01-01 00:00:00.123456789 +01:00")
    assert units.epoch == np.datetime64("2023-12-31T23:00:00.123456789", "ns")
    assert units.utc == "seconds since 2023-12-31 23:00:00.123456789"
    assert units.reference == "2024-01-01 00:00:00.123456789"


def test_a_reference_outside_the_datetime64_range_is_refused_not_wrapped() -> None:
    """numpy turns 0001-01-01 into 1754-08-30 in datetime64[ns] without a word."""
    units = parse_time_units("hours since 1-1-1 00:00:0.0")
    assert units.reference == "0001-01-01 00:00:00.0"  # a calendar library may still read it
    with pytest.raises(TimeUnitsError, match="outside the years 1678-2261"):
        _ = units.epoch


@pytest.mark.parametrize(
    ("units", "defect"),
    [
        ("seconds since 2024-01-01 00:00:00 1", "has no sign"),
        ("seconds since 2024-01-01 00:00:00 +25", "is not an offset"),
        ("seconds since 2024-01-01 00:00:00 +01:75", "is not an offset"),
        ("seconds since 2024-01-01 00:00:00 local", "'local' is not understood"),
        ("seconds since 2024-02-30", "no such date"),
        ("seconds from 2024-01-01", "are not '<unit> since <date>'"),
    ],
)
def test_what_is_no_utc_instant_is_refused_naming_the_units(units: str, defect: str) -> None:
    with pytest.raises(TimeUnitsError, match=defect) as info:
        parse_time_units(units)
    assert str(info.value).startswith(f"time units {units!r}")


def test_a_zero_offset_after_utc_is_not_ambiguous() -> None:
    assert parse_time_units("days since 2024-01-01 UTC+00:00").epoch == np.datetime64(
        "2024-01-01", "ns"
    )


def test_since_in_free_text_is_found_only_before_a_date() -> None:
    assert find_time_units("Time since launch [s]") is None
    found = find_time_units("Time (s SINCE 2021-06-14 12:00 -02:00), UT")
    assert found is not None and found.utc == "s since 2021-06-14 14:00:00"
    assert is_time_units("Days Since 2020-01-01") and not is_time_units("days")
