"""run_test on the inputs notebooks and other tools hand it: masked arrays, times of every kind.

Each of these was once judged silently wrong (a masked fill value judged as data, a time
array of the wrong length ignored, times beyond 2262 wrapped round, epoch seconds read as
nanoseconds) or failed with an unrelated numpy error.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from stratoflow.errors import QCConfigError, QCError
from stratoflow.qc import run_test

RANGE = {"doubtful_min": 0.0, "doubtful_max": 8.0, "bad_min": -1.0, "bad_max": 10.0}


@pytest.mark.parametrize(
    ("test", "params"),
    [
        ("gross_range", RANGE),  # handles NaN itself: no masking pass in run_test
        ("rate_of_change", {"doubtful": 1.0, "bad": 3.0}),  # the same
        ("spike", {"doubtful": 1.0, "bad": 3.0}),
        ("hampel", {"window": 3}),
    ],
)
def test_masked_points_of_a_masked_array_are_missing(test: str, params: dict[str, float]) -> None:
    """netCDF4 hands fill values over as masked points: missing, not values of -9999."""
    data = np.array([1.0, 2.0, -9999.0, 3.0, 4.0, 4.0, -9999.0, 5.0])
    mask = data == -9999.0
    masked = np.ma.masked_array(data, mask=mask)
    expected = run_test(test, np.where(mask, np.nan, data), params=params)
    got = run_test(test, masked, params=params)
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[mask]).all()
    assert np.ma.getdata(masked)[2] == -9999.0  # the caller's array is left alone


def test_an_integer_masked_array_is_read_too() -> None:
    masked = np.ma.masked_array(np.array([1, 2, 32767, 3], dtype=np.int16), mask=[0, 0, 1, 0])
    got = run_test("gross_range", masked, params=RANGE)
    np.testing.assert_array_equal(got, [1.0, 1.0, np.nan, 1.0])


@pytest.mark.parametrize("values", [5.0, np.ones((3, 4))])
def test_values_must_be_one_dimensional(values: object) -> None:
    with pytest.raises(QCError, match="values must be one-dimensional"):
        run_test("spike", values, params={"bad": 1.0})


@pytest.mark.parametrize("test", ["gross_range", "hampel", "rate_of_change", "flat_line"])
def test_time_must_give_one_time_per_value(test: str) -> None:
    """A time array of another length was ignored by some tests and crashed others."""
    params = {
        "gross_range": RANGE,
        "hampel": {},
        "rate_of_change": {"bad": 1.0},
        "flat_line": {"doubtful_duration": 2.0, "bad_duration": 4.0},
    }[test]
    t = np.datetime64("2024-01-01", "ns") + np.arange(5) * np.timedelta64(1, "s")
    with pytest.raises(QCError, match="one time per value"):
        run_test(test, np.arange(6.0), t, params)


def test_times_beyond_the_nanosecond_range_are_refused() -> None:
    """datetime64[D] of 2500 converted to ns wrapped round to 1915, silently."""
    t = np.array(["2019-01-01", "2200-01-01", "2500-01-01"], dtype="datetime64[D]")
    with pytest.raises(QCError, match="2500-01-01 is outside the range of datetime64"):
        run_test("duplicate_time", np.arange(3.0), t)
    with pytest.raises(QCError, match="not times within 1678-2261"):
        run_test("duplicate_time", np.arange(3.0), np.array([0.0, 1.0, 1e12]))


def _stamps() -> np.ndarray:
    steps = np.array([0, 1, 2, 4, 4, 7, 8])  # irregular, with a repeated time
    return np.datetime64("2024-03-31T00:59:58", "ns") + steps * np.timedelta64(1, "s")


VALUES = np.array([1.0, 2.0, 5.0, 5.0, 7.0, 7.0, 3.0])


@pytest.mark.parametrize(
    "form",
    [
        "datetime64[s]",
        "datetime64[us]",
        "epoch seconds",
        "epoch seconds (float)",
        "ISO strings with Z",
        "ISO strings with an offset",
        "tz-aware pandas",
        "tz-aware datetime objects",
        "pandas Series",
    ],
)
def test_times_in_other_forms_mean_the_same_utc_times(form: str) -> None:
    """Epoch seconds as ioos_qc reads them; time-zone aware times converted to UTC."""
    ns = _stamps()
    utc = pd.DatetimeIndex(ns).tz_localize("UTC")
    given: object = {
        "datetime64[s]": ns.astype("datetime64[s]"),
        "datetime64[us]": ns.astype("datetime64[us]"),
        "epoch seconds": ns.astype("datetime64[s]").astype(np.int64),
        "epoch seconds (float)": ns.astype(np.int64) / 1e9,
        "ISO strings with Z": [f"{s}Z" for s in ns.astype("datetime64[s]").astype(str)],
        "ISO strings with an offset": [
            s.isoformat()
            for s in utc.tz_convert("Europe/Berlin")  # crosses the DST change
        ],
        "tz-aware pandas": utc.tz_convert("Asia/Kolkata"),
        "tz-aware datetime objects": [
            s.to_pydatetime().astimezone(dt.timezone(dt.timedelta(hours=-5))) for s in utc
        ],
        "pandas Series": pd.Series(ns),
    }[form]
    for test, params in [
        ("rate_of_change", {"doubtful": 1.0, "bad": 2.5}),
        ("duplicate_time", {}),
        ("impossible_date", {"earliest": "2024-03-31T00:59:59", "latest": "2024-03-31T01:00:04"}),
    ]:
        np.testing.assert_array_equal(
            run_test(test, VALUES, given, params), run_test(test, VALUES, ns, params), test
        )


def test_times_that_are_not_times_say_so() -> None:
    with pytest.raises(QCError, match="time: not times"):
        run_test("rate_of_change", np.arange(3.0), ["a", "b", "c"], {"bad": 1.0})


@pytest.mark.parametrize(
    ("test", "params"),
    [
        ("rate_of_change", {"doubtful": 1.0, "bad": 3.0}),
        ("flat_line", {"doubtful_duration": 2.0, "bad_duration": 3.0, "tolerance": 0.5}),
        ("stuck_value", {"doubtful_duration": 2.0, "bad_duration": 3.0}),
        ("low_variance", {"window": 3.0, "doubtful_std": 1.0, "bad_std": 0.5}),
        ("time_gap", {"max_gap": 1.5, "max_steps": 1.0}),
    ],
)
@pytest.mark.parametrize("where", [0, 3, 7, "all"])
def test_tests_that_compute_with_time_refuse_a_missing_time(
    test: str, params: dict[str, float], where: int | str
) -> None:
    """NaT is the smallest int64: its time steps wrapped round to nonsense (a jump of 8 at a
    point without a time passed rate_of_change; flat_line flagged points at random)."""
    x = np.array([1.0, 1.0, 1.0, 9.0, 1.0, 1.0, 1.0, 1.0])
    t = np.datetime64("2024-01-01", "ns") + np.arange(8) * np.timedelta64(1, "s")
    t[slice(None) if where == "all" else where] = np.datetime64("NaT")
    first = 0 if where == "all" else where
    with pytest.raises(QCError, match=rf"time is missing \(NaT\) at point {first}"):
        run_test(test, x, t, params)


def test_the_time_tests_judge_a_missing_time() -> None:
    x = np.arange(4.0)
    t = np.datetime64("2024-01-01", "ns") + np.arange(4) * np.timedelta64(1, "s")
    t[2] = np.datetime64("NaT")
    assert run_test("duplicate_time", x, t).tolist() == [1, 1, 0, 1]
    assert run_test("impossible_date", x, t).tolist() == [1, 1, 0, 1]
    assert run_test("spike", x, t, {"bad": 5.0}).tolist()[1:3] == [1, 1]  # time not used


def test_a_fill_value_stored_as_float32_is_missing() -> None:
    """-999.9 in a float32 variable is -999.9000244 in float64: it was judged bad, not missing."""
    from stratoflow.dataset import make_dataset
    from stratoflow.flags import Flag
    from stratoflow.qc import run_qc

    x = (60 + np.arange(50) * 0.1).astype(np.float32)
    x[10] = np.float32(-999.9)
    x[20] = np.float32(-9999)
    assert run_test("missing", x, params={"fill_values": [-999.9, 1e300]})[10] == 0
    near = {"fill_values": [-999.9], "tolerance": 1e-9}  # tolerance far below the rounding
    assert run_test("missing", x, params=near)[10] == 0
    assert np.isnan(np.delete(run_test("missing", x, params=near), 10)).all()
    t = np.datetime64("2024-03-01T10:00:00", "ns") + np.arange(50) * np.timedelta64(4, "s")
    ds = make_dataset(t, {"O3_P1": (x, {"units": "ppb", "long_name": "ozone"})})
    flags = run_qc(ds).flags["O3_P1"]
    assert flags[10] == flags[20] == Flag.MISSING


def test_numpy_scalars_are_numbers_integers_and_booleans() -> None:
    """Parameters computed with numpy (np.float32 limits, np.int64 windows) were refused as
    'must be a number'; they are stored as plain JSON numbers."""
    import json

    from stratoflow.qc import get_test

    x = np.array([1.0, 1.0, 9.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(
        run_test("spike", x, params={"doubtful": np.float32(1), "bad": np.int64(3)}),
        run_test("spike", x, params={"doubtful": 1.0, "bad": 3.0}),
    )
    checked = get_test("hampel").check({"window": np.int64(5), "doubtful": np.float32(2.5)})
    assert type(checked["window"]) is int and type(checked["doubtful"]) is float
    flat = get_test("flat_line").check(
        {"doubtful_duration": np.uint8(2), "bad_duration": 3, "whole_window": np.bool_(True)}
    )
    assert flat["whole_window"] is True
    json.dumps(checked | flat)
    with pytest.raises(QCConfigError, match=r"hampel\.window: must be an integer"):
        run_test("hampel", x, params={"window": np.float64(5)})
    with pytest.raises(QCConfigError, match=r"spike\.bad: must be a number"):
        run_test("spike", x, params={"bad": np.bool_(True)})


def test_remembered_parameter_sets_stay_apart_by_type() -> None:
    """A test remembers the parameter sets that passed (run_test checks every call's): a value
    equal to a remembered one but of another type (True == 1 == 1.0) is checked anew, errors
    name the key of each call, and the result is the caller's own dict."""
    from stratoflow.qc import get_test

    test = get_test("rate_of_change")
    first = test.check({"bad": 1}, "a")
    assert first == {"doubtful": None, "bad": 1.0} and type(first["bad"]) is float
    first["bad"] = 99.0  # the caller's copy: the remembered set is unchanged
    assert test.check({"bad": 1}, "b")["bad"] == 1.0
    for value in (True, np.bool_(True)):
        with pytest.raises(QCConfigError, match=r"^c\.bad: must be a number"):
            test.check({"bad": value}, "c")
    with pytest.raises(QCConfigError, match=r"^d\.bad: must be >= doubtful"):
        test.check({"doubtful": 2, "bad": 1}, "d")
    with pytest.raises(QCConfigError, match=r"^e\.bad: must be >= doubtful"):
        test.check({"doubtful": 2, "bad": 1}, "e")  # a failing set is not remembered either
    listed = get_test("missing").check({"fill_values": [1e20]}, "f")  # unhashable: checked
    assert listed["fill_values"] == [1e20]


def test_qartod_flags_become_probabilities_or_a_clear_error() -> None:
    """A masked flag (ioos_qc returns masked arrays) or NaN is no flag; 1.5 was read as 1,
    and a NaN code failed with a numpy cast warning."""
    from stratoflow.qc import probability_from_qartod

    masked = np.ma.masked_array([1, 3, 4, 9], mask=[False, True, False, False])
    np.testing.assert_array_equal(probability_from_qartod(masked), [1.0, np.nan, 0.0, np.nan])
    np.testing.assert_array_equal(probability_from_qartod([1.0, np.nan, 3.0]), [1, np.nan, 0.5])
    for bad in ([1.5], [np.inf], [300], ["pass"]):
        with pytest.raises(QCConfigError, match="not QARTOD flags"):
            probability_from_qartod(bad)


@pytest.mark.parametrize("test", ["impossible_date", "duplicate_time"])
def test_tests_of_the_time_stamps_need_time_stamps(test: str) -> None:
    """Without time, run_test made up one per second from 1970: impossible_date judged
    those and called every point bad."""
    with pytest.raises(QCError, match=f"{test}: judges the time stamps, so it needs them"):
        run_test(test, np.arange(5.0))
    t = np.datetime64("2024-01-01", "ns") + np.arange(5) * np.timedelta64(1, "s")
    assert run_test(test, np.arange(5.0), t).tolist() == [1.0] * 5


@pytest.mark.parametrize(
    ("test", "params"),
    [
        ("flat_line", {"doubtful_duration": 8.0, "bad_duration": 16.0, "tolerance": 0.5}),
        ("stuck_value", {"doubtful_duration": 8.0, "bad_duration": 16.0, "min_points": 2}),
        ("low_variance", {"window": 40.0, "doubtful_std": 0.5, "bad_std": 0.1}),
        ("time_gap", {"max_gap": 10.0, "max_steps": 1.0}),
        ("rate_of_change", {"doubtful": 0.2, "bad": 1.0}),
    ],
)
def test_data_listed_newest_first_are_judged_as_in_time_order(
    test: str, params: dict[str, float]
) -> None:
    """Many exports list the newest point first: negative time steps made flat_line and
    stuck_value pass everything, low_variance judge nothing and time_gap miss every gap."""
    rng = np.random.default_rng(8)
    x = np.round(np.cumsum(rng.normal(0, 1, 80)), 1)
    x[20:35] = x[20]  # stuck for a minute
    seconds = np.arange(80) * 4
    seconds[50:] += 120  # a gap of two minutes
    t = np.datetime64("2024-01-01", "ns") + seconds * np.timedelta64(1, "s")
    forward = run_test(test, x, t, params)
    backward = run_test(test, x[::-1], t[::-1], params)
    if test in ("flat_line", "time_gap", "rate_of_change"):  # judge a point by its past:
        assert (forward < 1).any() and (backward < 1).any()  # another point, still judged
    else:
        np.testing.assert_array_equal(backward[::-1], forward)
        assert (forward < 1).any()


def test_ground_speed_of_fixes_listed_newest_first() -> None:
    from stratoflow.dataset import make_dataset
    from stratoflow.qc import run_qc

    n = 30
    t = np.datetime64("2024-01-01", "ns") + np.arange(n) * np.timedelta64(10, "s")
    lat = 50 + np.arange(n) * 0.02  # about 220 m/s
    lon = np.full(n, 8.0)
    speed = {"test": "ground_speed", "lat": "lat", "lon": "lon"}
    config = {"position": {"match": {"name": "lat"}, "tests": [speed]}}
    attrs = {"units": "degree", "long_name": "position"}
    ds = make_dataset(t, {"lat": (lat, attrs), "lon": (lon, attrs)})
    assert (run_qc(ds, config).flags["lat"] == 0).all()
    # newest first (run_qc only takes time order): the test itself, as run_qc calls it
    from stratoflow.qc import get_test
    from stratoflow.qc.base import QCInput

    coords = {"latitude": lat[::-1], "longitude": lon[::-1]}
    data = QCInput(lat[::-1], t[::-1], "lat", other=lambda name: coords[name])
    p = get_test("ground_speed")(data, lat="latitude", lon="longitude", doubtful=330.0, bad=400.0)
    assert (p == 1).all()  # every speed was infinite (bad): negative time steps


def test_a_dataset_with_times_beyond_2262_is_refused_not_wrapped() -> None:
    """xarray keeps datetime64[s]: 2300 became 1715 in run_qc, and impossible_date then
    called every point bad."""
    import xarray as xr

    from stratoflow.qc import run_qc

    t = np.array(["2300-01-01T00:00:00", "2300-01-01T00:00:04"], dtype="datetime64[s]")
    o3 = ("time", np.array([50.0, 51.0]), {"units": "ppb", "long_name": "ozone"})
    ds = xr.Dataset({"O3_P1": o3}, coords={"time": t})
    if ds["time"].dtype != np.dtype("datetime64[s]"):
        pytest.skip("this xarray converts times to nanoseconds itself")
    with pytest.raises(QCError, match="2300-01-01T00:00:00 is outside the range"):
        run_qc(ds)
    within = ds.assign_coords(time=t - np.timedelta64(300 * 365, "D"))
    assert run_qc(within).flags["O3_P1"].tolist() == [0, 0]


def test_a_scalar_time_coordinate_gets_the_dataset_error() -> None:
    import xarray as xr

    from stratoflow.errors import DatasetError
    from stratoflow.qc import run_qc

    o3 = ("x", np.arange(3.0), {"units": "ppb", "long_name": "ozone"})
    ds = xr.Dataset({"O3_P1": o3}, coords={"time": np.datetime64("2020-01-01", "s")})
    with pytest.raises(DatasetError, match="dimensions must be exactly"):
        run_qc(ds)
