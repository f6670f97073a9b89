"""Units (pint), calibration with drift, basic flags, merging, pipeline errors."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
import xarray as xr

from stratoflow.dataset import make_dataset
from stratoflow.errors import ConfigError
from stratoflow.flags import Flag
from stratoflow.processing import (
    CalibrationPoint,
    basic_flags,
    calibrate,
    convert,
    merge_streams,
    physical_range,
    run_steps,
)


def test_units_follow_pint_including_udunits_spellings() -> None:
    assert convert([1013.25], "hPa", "Pa").tolist() == [101325.0]
    assert convert([0.0, 10.0], "degC", "K").tolist() == pytest.approx([273.15, 283.15])
    assert convert([36.0], "km h-1", "m s-1").tolist() == pytest.approx([10.0])
    assert convert([40.0], "1e-9", "ppm").tolist() == pytest.approx([0.04])
    assert convert([1.0], "mol mol-1", "ppb").tolist() == pytest.approx([1e9])
    assert np.isnan(convert([np.nan], "hPa", "Pa")).all()
    with pytest.raises(ConfigError, match="cannot convert"):
        convert([1.0], "hPa", "K")
    with pytest.raises(ConfigError, match="not understood"):
        convert([1.0], "furlongs_per_blorp", "m")


def _t(hours: float) -> np.datetime64:
    return np.datetime64("2024-01-01T00:00", "ns") + np.timedelta64(int(hours * 3600e9), "ns")


def test_calibration_drifts_linearly_between_pre_and_post() -> None:
    pre = CalibrationPoint(
        _t(0), "linear", {"offset": {"value": 1.0, "units": "1e-9"}, "slope": {"value": 1.0}}
    )
    post = CalibrationPoint(
        _t(10),
        "linear",
        # offset given in ppt: converted to the variable's units (ppb) by pint
        {"offset": {"value": 3000.0, "units": "1e-12"}, "slope": {"value": 2.0}},
    )
    time = np.array([_t(-1), _t(0), _t(5), _t(10), _t(12)])
    x = np.full(5, 10.0)
    y = calibrate(time, x, units="1e-9", pre=pre, post=post)
    # before pre and after post the end calibrations hold; halfway is halfway
    assert y.tolist() == pytest.approx([11.0, 11.0, 2.0 + 1.5 * 10, 23.0, 23.0])
    assert calibrate(time, x, units="1e-9", pre=pre).tolist() == pytest.approx([11.0] * 5)
    poly = CalibrationPoint(
        _t(0), "polynomial", {"c0": {"value": 1}, "c1": {"value": 0}, "c2": {"value": 2}}
    )
    assert calibrate(time[:1], [3.0], units="1", pre=poly).tolist() == [19.0]
    with pytest.raises(ConfigError, match="lacks parameter 'slope'"):
        calibrate(
            time, x, units="1", pre=CalibrationPoint(_t(0), "linear", {"offset": {"value": 0}})
        )


def test_basic_flags_order_times_and_flag_missing_and_impossible() -> None:
    times = np.array(
        [
            "2024-01-01T00:00:02",
            "2024-01-01T00:00:01",
            "2024-01-01T00:00:02",
            "2024-01-01T00:00:03",
        ],
        dtype="M8[ns]",
    )
    ds = xr.Dataset(
        {
            "T": (
                "time",
                np.array([250.0, 260.0, 251.0, 900.0]),
                {"units": "K", "standard_name": "air_temperature"},
            ),
            "p": (
                "time",
                np.array([np.nan, 1000.0, 990.0, -9999.0]),
                {"units": "hPa", "_FillValue": -9999.0},
            ),
        },
        coords={"time": times},
        attrs={"source_checksum": "x"},
    )
    out, report = basic_flags(ds)
    assert out["time"].values.tolist() == sorted(set(times.tolist()))
    assert report["out_of_order"] == 1 and report["duplicates_dropped"] == 1
    assert report["duplicate_conflicts"] == 2  # both variables differ between the duplicates
    assert out["T"].values.tolist() == [260.0, 250.0, 900.0]  # values as read, first kept
    assert out["T_flag"].values.tolist() == [4, 4, int(Flag.BAD)]
    assert out["p_flag"].values.tolist() == [4, int(Flag.MISSING), int(Flag.MISSING)]
    assert report["impossible"] == {"T": 1, "p": 0} and report["missing"]["p"] == 2
    assert physical_range("", "Pa") == (0.0, 120000.0)
    assert physical_range("", "1") is None


def test_basic_flags_honour_several_missing_values() -> None:
    """``missing_value`` may be a list (CF allows a vector); each one is missing."""
    ds = make_dataset(
        np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01", "2024-01-01T00:00:02"], "M8[ns]"),
        {"p": (np.array([-999.0, 1000.0, -9999.0]), {"units": "hPa"})},
    )
    ds["p"].attrs["missing_value"] = np.array([-999.0, -9999.0])
    out, report = basic_flags(ds)
    assert out["p_flag"].values.tolist() == [int(Flag.MISSING), 4, int(Flag.MISSING)]
    assert report["missing"]["p"] == 2


def test_basic_flags_never_improve_existing_flags() -> None:
    ds = make_dataset(
        np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01"], dtype="M8[ns]"),
        {"T": (np.array([250.0, 251.0]), {"units": "K"})},
        flags={"T": np.array([3, 0], dtype=np.uint8)},
    )
    out, _ = basic_flags(ds)
    assert out["T_flag"].values.tolist() == [3, 0]


def test_merge_interpolates_within_tolerance_and_keeps_worst_flag() -> None:
    base = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:02", "2024-01-01T00:00:30"], "M8[ns]")
    a = make_dataset(base, {"p": (np.array([1.0, 2.0, 3.0]), {"units": "hPa"})})
    b = make_dataset(
        np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:04"], "M8[ns]"),
        {
            "p": (np.array([10.0, 14.0]), {"units": "hPa"}),
            "O3": (np.array([40.0, 44.0]), {"units": "1e-9"}),
        },
        flags={"O3": np.array([0, 3], dtype=np.uint8)},
    )
    merged = merge_streams({"a": a, "b": b}, tolerance_s=5)
    assert merged["a_p"].values.tolist() == [1.0, 2.0, 3.0]
    assert merged["O3"].values[:2].tolist() == [40.0, 42.0] and np.isnan(merged["O3"].values[2])
    assert merged["O3_flag"].values.tolist() == [0, 3, int(Flag.MISSING)]


def test_pipeline_rejects_unknown_steps_and_records_parameters() -> None:
    ds = make_dataset(
        np.array(["2024-01-01T00:00:00"], "M8[ns]"), {"p": (np.array([1.0]), {"units": "hPa"})}
    )
    with pytest.raises(ConfigError, match="unknown step 'smooth'"):
        run_steps(ds, [{"step": "smooth"}])
    out, records = run_steps(ds, [{"step": "shift_time", "params": {"offset_s": 60}}])
    assert out["time"].values[0] == np.datetime64("2023-12-31T23:59:00", "ns")
    assert records == [
        {"step": "shift_time", "params": {"offset_s": 60}, "result": {"offset_s": 60.0}}
    ]


def test_calibration_coefficients_follow_their_units_through_pint() -> None:
    import pint

    ureg = pint.UnitRegistry()
    ureg.define("ppb = 1e-9")  # pint has ppm, not ppb
    time = np.array([_t(0)])
    # an offset is a difference: 0.5 degC added to a temperature in K is 0.5 K
    warm = CalibrationPoint(
        _t(0), "linear", {"offset": {"value": 0.5, "units": "degC"}, "slope": {"value": 1.0}}
    )
    expected = ureg.Quantity(0.5, "delta_degC").to("K").magnitude + 250.0
    assert calibrate(time, [250.0], units="K", pre=warm).tolist() == pytest.approx([expected])
    # c2 in ppm-1 applied to data in ppb: c2 x^2 must come out in ppb
    poly = CalibrationPoint(
        _t(0),
        "polynomial",
        {
            "c0": {"value": 0.002, "units": "ppm"},
            "c1": {"value": 1.0},
            "c2": {"value": 0.01, "units": "ppm-1"},
        },
    )
    x = ureg.Quantity(40.0, "ppb")
    y = ureg.Quantity(0.002, "ppm") + x + ureg.Quantity(0.01, "1/ppm") * x**2
    assert calibrate(time, [40.0], units="ppb", pre=poly).tolist() == pytest.approx(
        [y.to("ppb").magnitude]
    )
    # a coefficient left out is zero, not the next one moved down
    gap = CalibrationPoint(_t(0), "polynomial", {"c0": {"value": 1}, "c2": {"value": 2}})
    assert calibrate(time, [3.0], units="1", pre=gap).tolist() == [19.0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"value": "abc"}, "'factor': value 'abc' is not a number"),
        ({"value": float("nan")}, "'factor': value nan is not finite"),
        (3.0, "'factor' must be"),
        ({"value": 1.0, "units": "m"}, "cannot multiply"),
    ],
)
def test_calibration_refuses_nonsense_coefficients(spec: object, message: str) -> None:
    point = CalibrationPoint(_t(0), "factor", {"factor": spec})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=message):
        calibrate(np.array([_t(0)]), [1.0], units="ppb", pre=point)


def test_calibration_refuses_post_before_pre() -> None:
    pre = CalibrationPoint(_t(10), "factor", {"factor": {"value": 1.0}})
    post = CalibrationPoint(_t(0), "factor", {"factor": {"value": 2.0}})
    with pytest.raises(ConfigError, match="earlier than pre-calibration"):
        calibrate(np.array([_t(5)]), [1.0], units="1", pre=pre, post=post)


def _one_point() -> xr.Dataset:
    return make_dataset(
        np.array(["2024-01-01T00:00:00"], "M8[ns]"), {"p": (np.array([1.0]), {"units": "hPa"})}
    )


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"step": "shift_time", "params": {"offset": 60}},
            r"\(shift_time\): unknown param.*'offset'",
        ),
        ({"step": "shift_time", "params": {"offset_s": float("nan")}}, "'offset_s' must be finite"),
        ({"step": "shift_time", "params": {"offset_s": "soon"}}, "'offset_s' must be a number"),
        ({"step": "shift_time", "params": [1]}, r"\(shift_time\): params must be a mapping"),
        (
            {"step": "merge", "params": {"streams": [], "tolerance_s": "x"}},
            r"\(merge\): 'tolerance_s' must be a number",
        ),
        ({"step": "merge", "params": {"streams": "ozone"}}, "'streams' must be a list"),
        (
            {
                "step": "clock_sync",
                "params": {"variable": "p", "reference": "a", "reference_variables": "p"},
            },
            r"\(clock_sync\): 'reference_variables' must be a list",
        ),
        (
            {
                "step": "clock_sync",
                "params": {
                    "variable": "p",
                    "reference": "a",
                    "reference_variables": ["p"],
                    "min_overlap": None,
                },
            },
            "'min_overlap' is required",
        ),
        (
            {"step": "calibration", "params": {"variable": "p", "pre": "2024-01-01"}},
            r"\(calibration\): 'pre' must be",
        ),
    ],
)
def test_pipeline_parameters_are_checked_and_named(step: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_steps(_one_point(), [step], references={"a": _one_point()})


def test_pipeline_records_resolved_defaults() -> None:
    ds = make_dataset(
        np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01"], "M8[ns]"),
        {"p": (np.array([1.0, 2.0]), {"units": "hPa"})},
    )
    _, records = run_steps(
        ds, [{"step": "merge", "params": {"streams": ["a"]}}], references={"a": ds}
    )
    # the params stay as configured (the import's config key fingerprints them); the
    # defaults used are recorded with the result
    assert records[0]["params"] == {"streams": ["a"]}
    assert records[0]["result"]["defaults"] == {"tolerance_s": 10.0}


def test_merge_takes_a_one_sample_stream_and_names_an_empty_one() -> None:
    t = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:02", "2024-01-01T00:00:04"], "M8[ns]")
    main = make_dataset(t, {"p": (np.array([1.0, 2.0, 3.0]), {"units": "hPa"})})
    single = make_dataset(t[1:2], {"o": (np.array([5.0]), {"units": "ppb"})})
    merged = merge_streams({"main": main, "ozone": single})
    np.testing.assert_array_equal(merged["o"].values, [np.nan, 5.0, np.nan])
    empty = make_dataset(t[:0], {"o": (np.array([]), {"units": "ppb"})})
    with pytest.raises(ConfigError, match="stream 'ozone' has no time stamps"):
        merge_streams({"main": main, "ozone": empty})


def test_calibration_step_records_the_coefficients_applied() -> None:
    ds = make_dataset(
        np.array(["2024-01-01T00:00:00"], "M8[ns]"), {"o3": (np.array([40.0]), {"units": "ppb"})}
    )
    pre = {
        "time": "2023-12-01T00:00:00Z",
        "function": "linear",
        "parameters": {"offset": {"value": 0.002, "units": "ppm"}, "slope": {"value": 1.1}},
    }
    out, records = run_steps(
        ds, [{"step": "calibration", "params": {"variable": "o3", "pre": pre}}]
    )
    assert out["o3"].values[0] == pytest.approx(2.0 + 1.1 * 40.0)
    assert records[0]["result"]["units"] == "ppb"
    assert records[0]["result"]["coefficients"]["pre"] == pytest.approx([2.0, 1.1])


@pytest.mark.parametrize(
    "when",
    [
        "2024-01-01T02:00:00+02:00",
        "2024-01-01T00:00:00Z",
        "2023-12-31T19:00:00-05:00",
        datetime.datetime(2024, 1, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    ],
)
def test_calibration_time_with_a_utc_offset_is_taken_in_utc(when: object) -> None:
    point = CalibrationPoint.from_mapping({"time": when, "function": "factor"})
    assert point.time == np.datetime64("2024-01-01T00:00:00", "ns")


@pytest.mark.parametrize("offset", [1e12, -1e12, 9.2e9, -9.2e9])
def test_shift_time_refuses_offsets_that_overflow_the_time_axis(offset: float) -> None:
    with pytest.raises(ConfigError, match=r"(not a usable time shift|leaves the range)"):
        run_steps(_one_point(), [{"step": "shift_time", "params": {"offset_s": offset}}])


def test_units_step_names_the_variable_and_refuses_non_string_targets() -> None:
    with pytest.raises(ConfigError, match=r"\(units\): variable 'p': cannot convert 'hPa' to 'K'"):
        run_steps(_one_point(), [{"step": "units", "params": {"variables": {"p": "K"}}}])
    with pytest.raises(ConfigError, match="target units of 'p' must be a string"):
        run_steps(_one_point(), [{"step": "units", "params": {"variables": {"p": 100}}}])


@pytest.mark.parametrize(
    ("given", "target", "value"),
    [
        ("Celsius", "K", -56.5),
        ("deg_C", "degF", 15.0),
        ("degrees_C", "K", 0.0),
        ("degree_C", "Kelvin", 20.0),
        ("degrees_Celsius", "degree_K", -40.0),
        ("Fahrenheit", "deg_C", 212.0),
        ("degree_F", "K", 32.0),
        ("10^-9", "ppm", 40.0),
        ("hPa", "mbar", 1013.25),
        ("Pa", "hPa", 25000.0),
        ("ppbv", "nmol mol-1", 40.0),
        ("1e-9", "ppb", 40.0),
    ],
)
def test_udunits_spellings_convert_as_cf_units_does(given: str, target: str, value: float) -> None:
    cf_units = pytest.importorskip("cf_units")
    expected = cf_units.Unit(given).convert(value, cf_units.Unit(target))
    assert convert([value], given, target).tolist() == pytest.approx([expected])


def test_units_and_calibration_leave_declared_fill_values_alone() -> None:
    time = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01"], "M8[ns]")
    ds = make_dataset(
        time,
        {
            "o3": (np.array([40.0, -9999.0]), {"units": "ppb", "_FillValue": -9999.0}),
            "p": (np.array([250.0, -9999.0]), {"units": "hPa", "missing_value": -9999.0}),
        },
    )
    factor = {"time": "2024-01-01", "function": "factor", "parameters": {"factor": {"value": 1.1}}}
    out, _ = run_steps(
        ds,
        [
            {"step": "calibration", "params": {"variable": "o3", "pre": factor}},
            {"step": "units", "params": {"variables": {"o3": "ppm", "p": "Pa"}}},
        ],
    )
    assert out["o3"].values.tolist() == pytest.approx([0.044, -9999.0])
    assert out["p"].values.tolist() == [25000.0, -9999.0]
    _, report = basic_flags(out)
    assert report["missing"] == {"o3": 1, "p": 1}


def test_pipeline_refuses_keys_beside_step_and_params() -> None:
    ds = _one_point()
    with pytest.raises(ConfigError, match=r"step 0 \(merge\): unknown key\(s\) \['parms'\]"):
        run_steps(ds, [{"step": "merge", "parms": {"tolerance_s": 1}}], references={"a": ds})


def test_converting_a_variable_the_file_gave_no_units_says_so() -> None:
    from stratoflow.readers.base import UNKNOWN_UNITS

    t = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01"], dtype="datetime64[ns]")
    ds = make_dataset(t, {"O3": (np.array([40.0, 41.0]), {"units": UNKNOWN_UNITS})})
    with pytest.raises(ConfigError, match="'O3': the source file gives no units"):
        run_steps(ds, [{"step": "units", "params": {"variables": {"O3": "ppb"}}}])
