"""The shared CF/UDUNITS time units parser (stratoflow.timeunits).

The readers' and the clock step's tests check it in place; these pin what only the parser
decides (sub-microsecond references, the datetime64 range, offsets that are no offsets) and
that its three users read one string alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratoflow.errors import TimeUnitsError
from stratoflow.timeunits import find_time_units, is_time_units, parse_time_units


def test_a_reference_keeps_its_nanoseconds_through_the_zone() -> None:
    units = parse_time_units("seconds since 2021-06-14 00:00:00.123456789 +01:00")
    assert units.epoch == np.datetime64("2021-06-13T23:00:00.123456789", "ns")
    assert units.utc == "seconds since 2021-06-13 23:00:00.123456789"
    assert units.reference == "2021-06-14 00:00:00.123456789"


def test_a_reference_outside_the_datetime64_range_is_refused_not_wrapped() -> None:
    """numpy turns 0001-01-01 into 1754-08-30 in datetime64[ns] without a word."""
    units = parse_time_units("hours since 1-1-1 00:00:0.0")
    assert units.reference == "0001-01-01 00:00:00.0"  # a calendar library may still read it
    with pytest.raises(TimeUnitsError, match="outside the years 1678-2261"):
        _ = units.epoch


@pytest.mark.parametrize(
    ("units", "defect"),
    [
        ("seconds since 2021-06-14 00:00:00 1", "has no sign"),
        ("seconds since 2021-06-14 00:00:00 +25", "is not an offset"),
        ("seconds since 2021-06-14 00:00:00 +01:75", "is not an offset"),
        ("seconds since 2021-06-14 00:00:00 local", "'local' is not understood"),
        ("seconds since 2021-02-30", "no such date"),
        ("seconds from 2021-06-14", "are not '<unit> since <date>'"),
    ],
)
def test_what_is_no_utc_instant_is_refused_naming_the_units(units: str, defect: str) -> None:
    with pytest.raises(TimeUnitsError, match=defect) as info:
        parse_time_units(units)
    assert str(info.value).startswith(f"time units {units!r}")


def test_a_zero_offset_after_utc_is_not_ambiguous() -> None:
    assert parse_time_units("days since 2021-06-14 UTC+00:00").epoch == np.datetime64(
        "2021-06-14", "ns"
    )


def test_since_in_free_text_is_found_only_before_a_date() -> None:
    assert find_time_units("Time since launch [s]") is None
    found = find_time_units("Time (s SINCE 2021-06-14 12:00 -02:00), UT")
    assert found is not None and found.utc == "s since 2021-06-14 14:00:00"
    assert is_time_units("Days Since 2020-01-01") and not is_time_units("days")


UNITS = [
    "seconds since 2021-06-14 00:00:00",
    "Seconds SINCE 2021-06-14 00:00:00 +01:00",
    "seconds since 2021-06-14T00:00:00-0530",
    "seconds since 2021-06-14 00:00:00 -05",
    "seconds since 2021-06-14 00:00:00Z",
    "seconds since 2021-06-14 00:00:00 UTC+1",
    "seconds since 2021-06-14 00:00:00 CET",
    "seconds since 2021-02-30",
]


@pytest.mark.parametrize("units", UNITS)
def test_nasa_ames_netcdf_and_clock_sync_read_a_units_string_alike(
    tmp_path: Path, units: str
) -> None:
    """The same string gives the same instants (or the same refusal) in the three places
    that read one: they were three parsers with three behaviours."""
    import netCDF4

    from stratoflow.dataset import make_dataset
    from stratoflow.errors import ConfigError, ReaderError
    from stratoflow.processing.pipeline import _clock_of
    from stratoflow.readers import CfNetcdfReader, NasaAmesReader

    from .test_nasa_ames import _ffi1001

    values = np.array([0.0, 1.0, 2.0])
    na = _ffi1001(tmp_path / "t.na", units, [f"{v:g} {40 + v:g}" for v in values], "2021 06 14")
    nc = tmp_path / "t.nc"
    with netCDF4.Dataset(nc, "w") as f:
        f.createDimension("time", 3)
        time = f.createVariable("time", "f8", ("time",))
        time.units = units
        time[:] = values
        f.createVariable("O3", "f4", ("time",))[:] = 40 + values
    reference = make_dataset(
        np.datetime64("2021-06-14", "ns") + np.arange(3).astype("timedelta64[s]"),
        {"clock": (values, {"units": units})},
    )
    outcomes = []
    for read in (
        lambda: NasaAmesReader().read(na)["time"].values,
        lambda: CfNetcdfReader().read(nc)["time"].values,
        lambda: _clock_of(reference, "clock"),
    ):
        try:
            outcomes.append(np.asarray(read(), dtype="datetime64[ns]").tolist())
        except (ReaderError, ConfigError) as exc:
            outcomes.append(str(exc).partition("time units ")[2])
    try:
        expected: object = (
            parse_time_units(units).epoch + (values * 1e9).astype("timedelta64[ns]")
        ).tolist()
    except TimeUnitsError as exc:
        expected = str(exc).partition("time units ")[2]
    assert outcomes == [expected] * 3
