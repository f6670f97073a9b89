"""Edge cases a demanding user hits: inputs beyond the usual range, tests run out of context.

Each test here was written against a defect: a value outside what a test was written for was
judged silently wrong (a status word beyond int64, a sentinel read as a measurement) or a
call without what the test needs returned an answer that looked like a result.
"""

from __future__ import annotations

import datetime as dt
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import xarray as xr

from stratoflow import open_dataset
from stratoflow.dataset import make_dataset
from stratoflow.errors import QCConfigError, QCError
from stratoflow.flags import Flag
from stratoflow.qc import ManualFlag, parse_config, run_qc, run_test, window


def test_propagate_without_a_source_is_refused_not_nan() -> None:
    """run_test has no other variable to copy results from: all NaN looked like 'no opinion'."""
    with pytest.raises(QCError, match=r"propagate.*'pressure'.*run_qc"):
        run_test("propagate", np.arange(5.0), params={"source": "pressure"})


@pytest.mark.parametrize("number", [5, np.int64(5), 1.7e18, np.float64(0.0), True])
def test_a_manual_flag_refuses_a_number_for_a_time(number: object) -> None:
    """A plain number was taken as nanoseconds since 1970: 5 flagged from 1970-01-01."""
    t = np.datetime64("2024-03-01T10:00:00", "ns")
    with pytest.raises(QCError, match=r"manual flag of O3_P1: start: .*not a number"):
        ManualFlag("O3_P1", number, t, Flag.BAD)  # type: ignore[arg-type]
    with pytest.raises(QCError, match=r"manual flag of O3_P1: end: .*not a number"):
        ManualFlag("O3_P1", t, number, Flag.BAD)  # type: ignore[arg-type]


def test_a_manual_flag_takes_every_real_time() -> None:
    want = np.datetime64("2024-03-01T10:00:00", "ns")
    for given in (
        want,
        pd.Timestamp("2024-03-01T10:00:00"),
        dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC),
        "2024-03-01T10:00:00Z",
    ):
        assert ManualFlag("O3_P1", given, given, Flag.BAD).start == want  # type: ignore[arg-type]


# --- rule with bits: status words of every integer width and sign, and what is no word ---

_T0 = np.datetime64("2024-03-01T10:00:00", "ns")


def _with_status(status: npt.NDArray[Any]) -> xr.Dataset:
    n = status.size
    return xr.Dataset(
        {
            "O3_P1": ("time", np.full(n, 40.0), {"units": "ppb"}),
            "status": ("time", status, {"units": "1", "long_name": "instrument status"}),
        },
        coords={"time": _T0 + np.arange(n).astype("timedelta64[s]")},
    )


def _bit_rule(bits: int, value: float = 0, op: str = "!=") -> dict[str, Any]:
    rule = {"test": "rule", "variable": "status", "op": op, "value": value, "bits": bits}
    return {"O3": {"match": {"name": "O3_P1"}, "tests": [rule]}}


def _rule_probability(status: npt.NDArray[Any], bits: int, **kw: Any) -> npt.NDArray[Any]:
    result = run_qc(_with_status(status), _bit_rule(bits, **kw))
    return result.variables["O3_P1"].tests[0].probability


def test_rule_reads_uint64_status_words_beyond_int64_exactly() -> None:
    """Words with the top bit set went through int64 (a warning and garbage) and float64 (the
    low bits of 2^63 + 1 lost)."""
    status = np.array([0, 1, 2**63, 2**63 + 1, 2**64 - 1, 2**53 + 1], dtype=np.uint64)
    np.testing.assert_array_equal(_rule_probability(status, 1), [1, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(_rule_probability(status, 2**63), [1, 1, 0, 0, 0, 1])
    high = _rule_probability(status, 2**63 + 1, value=2**63, op="==")  # exact comparison
    np.testing.assert_array_equal(high, [1, 1, 0, 1, 1, 1])


def test_rule_reads_a_signed_status_word_as_the_bits_of_its_own_width() -> None:
    """netCDF classic has no unsigned types: a 16-bit register with bit 15 set is stored as a
    negative short; its bits are what the instrument set."""
    status = np.array([0, -32768, -1, 1, 0x4000], dtype=np.int16)
    np.testing.assert_array_equal(_rule_probability(status, 0x8000), [1, 0, 0, 1, 1])
    np.testing.assert_array_equal(_rule_probability(status, 0x10000), [1, 1, 1, 1, 1])


def test_rule_reads_whole_float_status_words_and_skips_missing_ones() -> None:
    status = np.array([0.0, 1.0, np.nan, 2.0**63, 3.0])
    p = _rule_probability(status, 1)
    np.testing.assert_array_equal(p[[0, 1, 3, 4]], [1, 0, 1, 0])
    assert np.isnan(p[2])


@pytest.mark.parametrize("bad", [5.5, -0.5, 1e30, 2.0**64, -1e30])
def test_rule_refuses_a_float_that_is_no_status_word(bad: float) -> None:
    """5.5 was cut to 5, 1e30 was a cast warning and garbage."""
    status = np.array([0.0, 1.0, bad, 3.0])
    with pytest.raises(QCError, match=rf"O3_P1: .*'status'.*{re.escape(repr(bad))} at point 2"):
        _rule_probability(status, 1)


def test_rule_reads_a_short_status_word_made_float_by_its_fill_values(tmp_path: Path) -> None:
    """netCDF classic: a 16-bit register with bit 15 set is a negative short; with a
    _FillValue in use it is read as float32, -32768.0. Refused as no status word, it is now
    the register's bits, as in the file without fill values."""
    t = _T0 + np.arange(5).astype("timedelta64[s]")
    status = np.array([0.0, -32768.0, np.nan, 1.0, -1.0])
    ds = make_dataset(
        t, {"O3_P1": (np.full(5, 40.0), {"units": "ppb"}), "status": (status, {"units": "1"})}
    )
    ds["status"].encoding.update({"dtype": np.dtype("int16"), "_FillValue": np.int16(32767)})
    path = tmp_path / "status.nc"
    ds.to_netcdf(path, format="NETCDF3_CLASSIC")
    read = open_dataset(path)
    assert read["status"].dtype.kind == "f"  # what the rule gets
    p = run_qc(read, _bit_rule(0x8000)).variables["O3_P1"].tests[0].probability
    np.testing.assert_array_equal(p[[0, 1, 3, 4]], [1, 0, 1, 0])
    assert np.isnan(p[2])
    low = run_qc(read, _bit_rule(1)).variables["O3_P1"].tests[0].probability
    np.testing.assert_array_equal(low[[0, 1, 3, 4]], [1, 1, 0, 0])


def test_rule_refuses_bits_beyond_64() -> None:
    with pytest.raises(QCConfigError, match=r"O3.tests\[0\].bits: .*2\^64"):
        parse_config(_bit_rule(2**64))


# --- sentinels of variables QC reads without judging them ---


def _ozone_with(name: str, other: npt.NDArray[np.float64]) -> xr.Dataset:
    n = other.size
    t = _T0 + np.arange(n).astype("timedelta64[s]")
    return make_dataset(
        t,
        {
            "O3_P1": (np.full(n, 400.0), {"units": "ppb"}),
            name: (other, {"units": "Pa" if name.startswith("p") else "1"}),
        },
    )


_SENTINELS = {"test": "missing", "id": "sentinels", "fill_values": [-9999, 9.99e36]}


def test_a_sentinel_of_a_variable_without_profile_is_missing_for_a_rule_reading_it() -> None:
    """The valve's -9999 (no profile matches 'valve') made the rule fire: ozone bad where
    the valve state was unknown. The configuration's common fill-value tests now hold for
    every variable a test reads, whether or not a profile matches it."""
    valve = np.array([1.0, 1.0, -9999.0, 1.0, 0.0])
    rule = {"test": "rule", "variable": "valve", "op": "!=", "value": 1}
    config = {
        "common": {"tests": [_SENTINELS]},
        "O3": {"match": {"name": "O3_P1"}, "tests": [rule]},
    }
    result = run_qc(_ozone_with("valve", valve), config)
    p = result.variables["O3_P1"].tests[1].probability
    assert np.isnan(p[2])  # no valve state: no opinion
    np.testing.assert_array_equal(p[[0, 1, 3, 4]], [1, 1, 1, 0])
    assert result.flags["O3_P1"][2] == Flag.NOT_VALIDATED
    assert "valve" not in result.flags  # read, not judged


def _ozone_range_by(by: str) -> dict[str, Any]:
    """A range_by test of ozone against the pressure ``by`` (Pa): at 150 hPa doubtful
    outside 0..1500, bad outside -10..3000; at 1000 hPa 0..100 and -10..200. A new dict
    for each caller (tests change their configurations)."""
    return {
        "test": "range_by",
        "by": by,
        "table": [[15_000, 0, 1_500, -10, 3_000], [100_000, 0, 100, -10, 200]],
    }


def test_a_sentinel_of_a_variable_without_profile_does_not_choose_range_by_limits() -> None:
    """9.99e36 Pa chose the near-ground limits and made 400 ppb of ozone bad."""
    p = np.array([20_000.0, 9.99e36, 20_000.0])
    climatology = _ozone_range_by("p_raw")
    config = {
        "common": {"tests": [_SENTINELS]},
        "O3": {"match": {"name": "O3_P1"}, "tests": [climatology]},
    }
    got = run_qc(_ozone_with("p_raw", p), config).variables["O3_P1"].tests[1].probability
    assert np.isnan(got[1]) and got[0] == got[2] == 1.0
    # without a declaration the value is data: nothing is guessed
    del config["common"]
    assert run_qc(_ozone_with("p_raw", p), config).variables["O3_P1"].tests[0].probability[1] == 0


def test_an_input_left_out_of_variables_keeps_its_profiles_fill_values() -> None:
    """With variables=['O3_P1'] the pressure profile was not found at all (range_by by
    'pressure' skipped), and a pressure named directly was read with its fill value 99999."""
    n = 6
    p = np.full(n, 20_000.0)
    p[2] = 99_999.0
    ds = _ozone_with("p_static", p)
    climatology = _ozone_range_by("pressure")
    config = {
        "O3": {"match": {"name": "O3_P1"}, "tests": [climatology]},
        "pressure": {
            "match": {"name": "p_static"},
            "tests": [{"test": "missing", "fill_values": [99_999]}],
        },
    }
    whole = run_qc(ds, config).variables["O3_P1"]
    alone = run_qc(ds, config, variables=["O3_P1"]).variables["O3_P1"]
    assert not alone.skipped
    np.testing.assert_array_equal(alone.tests[0].probability, whole.tests[0].probability)
    assert np.isnan(alone.tests[0].probability[2])
    config["O3"]["tests"][0]["by"] = "p_static"  # named directly: the same
    direct = run_qc(ds, config, variables=["O3_P1"]).variables["O3_P1"]
    np.testing.assert_array_equal(direct.tests[0].probability, whole.tests[0].probability)


def test_propagation_from_a_source_left_out_of_variables_is_skipped_with_the_reason() -> None:
    """Its results do not exist in this run: all NaN read as 'the source had no opinion'."""
    p = np.array([20_000.0, 1.0, 20_000.0])
    config = {
        "O3": {"match": {"name": "O3_P1"}, "tests": [{"test": "propagate", "source": "pressure"}]},
        "pressure": {
            "match": {"name": "p_static"},
            "tests": [{"test": "gross_range", "bad_min": 5}],
        },
    }
    alone = run_qc(_ozone_with("p_static", p), config, variables=["O3_P1"]).variables["O3_P1"]
    assert "p_static" in alone.skipped["propagate"] and "variables" in alone.skipped["propagate"]


# --- configuration ---


def test_a_profile_test_id_equal_to_a_common_one_is_refused() -> None:
    """Both ran as 'gross_range' on one variable: the file's O3_P1_qc_gross_range kept only
    the second, and the stored outcomes had two tests of one name."""
    config = {
        "common": {"tests": [{"test": "gross_range", "bad_max": 5}]},
        "O3": {"tests": [{"test": "missing"}, {"test": "gross_range", "bad_max": 100}]},
    }
    with pytest.raises(QCConfigError, match=r"O3.tests\[1\].id: .*'gross_range'.*common"):
        parse_config(config)
    config["O3"]["tests"][1]["id"] = "range"  # type: ignore[index]
    assert [s.label for s in parse_config(config).profiles[0].tests] == ["missing", "range"]


def test_an_unknown_key_of_common_is_refused() -> None:
    """'common: {test: [...]}' (a typo of tests) ran no common test, silently."""
    with pytest.raises(QCConfigError, match=r"common.test: unknown key \(use tests\)"):
        parse_config({"common": {"test": [{"test": "impossible_date"}]}})


# --- windows ---


T = TypeVar("T")


def _with_peak(compute: Callable[[], T]) -> tuple[T, int]:
    """``compute()`` and the peak of the memory Python allocated meanwhile (bytes)."""
    tracemalloc.start()
    try:
        got = compute()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return got, peak


def test_long_hampel_windows_are_sorted_in_chunks_of_bounded_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows longer than the selection network's are sorted by chunks; a chunk was a fixed
    2^18 windows whatever their length: 2 GB at peak for a 5-minute window (301 points) of
    1 Hz data. Now a chunk holds a bounded number of values (lowered here to see it)."""
    x = np.random.default_rng(1).normal(size=20_000)
    x[::97] = np.nan
    expected = window.centered_median_mad(x, 50)
    monkeypatch.setattr(window, "_SORT_CHUNK_VALUES", 1 << 16, raising=False)
    got, peak = _with_peak(lambda: window.centered_median_mad(x, 50))
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MB"  # 20,000 x 101 floats are 16 MB a copy


def test_a_hampel_window_longer_than_the_data_costs_no_more_than_the_data() -> None:
    """Every window was padded to its full length with NaN and sorted as such: a 20,001-point
    window on 500 points sorted 10^7 values (a day's window on a short file ran out of memory)
    to get the medians of the whole series."""
    x = np.random.default_rng(2).normal(size=500)
    whole = window.centered_median_mad(x, 499)  # already covers every point from every point
    got, peak = _with_peak(lambda: window.centered_median_mad(x, 10_000))
    np.testing.assert_array_equal(got[0], whole[0])
    np.testing.assert_array_equal(got[1], whole[1])
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MB"
    p = run_test("hampel", x, params={"window": 2**70})  # any length: the same answer
    np.testing.assert_array_equal(p, run_test("hampel", x, params={"window": 999}))


@pytest.mark.parametrize(
    ("test", "key"),
    [
        ({"test": "gross_range", "bad_max": 10**400}, r"O3.tests\[0\].bad_max"),
        ({"test": "missing", "fill_values": [10**400]}, r"O3.tests\[0\].fill_values"),
        ({"test": "range_by", "by": "p", "table": [[10**400, 0, 1, -1, 2]]}, r"table\[0\]"),
    ],
)
def test_an_integer_beyond_float_is_refused_naming_the_key(test: dict[str, Any], key: str) -> None:
    """YAML reads a 400-digit number as an int: float() of it raised a bare OverflowError."""
    with pytest.raises(QCConfigError, match=key):
        parse_config({"O3": {"tests": [test]}})


def test_variables_given_as_one_name_is_that_variable() -> None:
    """A str is a sequence of names too: 'O3_P1' was read as 'O', '3', ... and refused with
    "no variable 'O' in the dataset"."""
    ds = _ozone_with("p_static", np.full(5, 20_000.0))
    assert list(run_qc(ds, variables="O3_P1").flags) == ["O3_P1"]


_LOW_VARIANCE = {"doubtful_std": 0.1, "bad_std": 0.01}


def test_a_low_variance_window_longer_than_the_data_is_the_whole_series() -> None:
    """A window of 1e30 s failed with 'Python int too large to convert to C long'."""
    x = np.random.default_rng(3).normal(size=50)
    whole = run_test("low_variance", x, params={"window": 99, **_LOW_VARIANCE})
    for longer in (1e6, 1e30, 1e308):
        got = run_test("low_variance", x, params={"window": longer, **_LOW_VARIANCE})
        np.testing.assert_array_equal(got, whole)


def test_a_low_variance_window_that_can_never_hold_min_valid_values_is_skipped() -> None:
    """3 s at 1 Hz is 3 points, fewer than min_valid 5: every point was NaN, so the test
    looked run and content while it never judged anything."""
    x = np.random.default_rng(4).normal(size=50)
    with pytest.raises(QCError, match=r"window of 3 s .* 3 points .* min_valid 5"):
        run_test("low_variance", x, params={"window": 3, **_LOW_VARIANCE})
    test = {"test": "low_variance", "window": 3, **_LOW_VARIANCE}
    config = {"O3": {"match": {"name": "O3_P1"}, "tests": [test]}}
    ds = make_dataset(_T0 + np.arange(50).astype("timedelta64[s]"), {"O3_P1": (x, {"units": "1"})})
    result = run_qc(ds, config).variables["O3_P1"]
    assert "min_valid 5" in result.skipped["low_variance"] and not result.tests


@pytest.mark.parametrize("flag", [3.7, 2.5, np.float32(0.5), True])
def test_a_manual_flag_code_must_be_a_whole_flag_code(flag: object) -> None:
    """int() cut 3.7 to 3 (bad) and 2.5 to 2 (limited): a PI decision nobody made."""
    t = np.datetime64("2024-03-01T10:00:00", "ns")
    with pytest.raises(QCError, match=r"manual flag of O3_P1: .* is not an IAGOS flag"):
        ManualFlag("O3_P1", t, t, flag)  # type: ignore[arg-type]
    assert ManualFlag("O3_P1", t, t, np.float64(3.0)).flag is Flag.BAD  # type: ignore[arg-type]


def test_a_test_id_that_cannot_name_a_file_variable_is_refused() -> None:
    """'a/b' passed the configuration and stopped the export of <var>_qc_a/b (netCDF)."""
    config = {"O3": {"tests": [{"test": "gross_range", "bad_max": 3, "id": "a/b"}]}}
    with pytest.raises(QCConfigError, match=r"O3.tests\[0\].id: .*'/'"):
        parse_config(config)


def test_a_variable_in_units_its_profile_cannot_take_is_no_input_for_other_tests() -> None:
    """A pressure in 'V' (a raw sensor voltage) is not validated, but range_by read its 2.5
    as 2.5 Pa, chose the limits of the stratosphere and judged the ozone with them."""
    n = 6
    t = _T0 + np.arange(n).astype("timedelta64[s]")
    ds = make_dataset(
        t,
        {
            "O3_P1": (np.full(n, 400.0), {"units": "ppb"}),
            "air_press_AC": (np.full(n, 2.5), {"units": "V"}),
        },
    )
    climatology = _ozone_range_by("pressure")
    config = {
        "O3": {"match": {"name": "O3_P1"}, "tests": [climatology]},
        "pressure": {"match": {"name": "air_press_AC"}, "units": ["Pa"], "tests": []},
    }
    result = run_qc(ds, config)
    assert not result.variables["O3_P1"].tests
    reason = result.variables["O3_P1"].skipped["range_by"]
    assert "air_press_AC" in reason and "'V'" in reason


def test_a_manual_flag_on_a_variable_qc_does_not_check_is_refused_not_dropped() -> None:
    """The valve exists but no profile matches it: its PI flag vanished without a word (only
    misspelt names were refused)."""
    ds = _ozone_with("valve", np.ones(5))
    flag = ManualFlag("valve", _T0, _T0, Flag.BAD)
    with pytest.raises(QCError, match=r"manual flags for 'valve': .*not checked"):
        run_qc(ds, overrides=[flag])
    result = run_qc(ds)
    with pytest.raises(QCError, match=r"manual flags for 'valve'"):
        result.evaluate("worst", overrides=[flag])


def test_a_profile_unit_pint_does_not_know_is_refused_at_load() -> None:
    """'ppbb' was accepted; at run time every ozone variable was left unvalidated ('units
    not convertible'), file after file."""
    with pytest.raises(QCConfigError, match=r"O3.units\[1\]: units 'ppbb' are not understood"):
        parse_config({"O3": {"units": ["ppb", "ppbb"]}})
    assert parse_config({"O3": {"units": "ppb"}}).profiles[0].units == ("ppb",)
