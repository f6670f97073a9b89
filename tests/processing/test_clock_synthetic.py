"""Clock synchronisation on synthetic series whose true offset is known by construction."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from stratoflow.errors import ConfigError
from stratoflow.processing import estimate_offset

T0 = np.datetime64("2022-11-16T08:00:00", "ns")


def _times(seconds: npt.NDArray[np.float64]) -> npt.NDArray[np.datetime64]:
    return T0 + np.rint(seconds * 1e9).astype("timedelta64[ns]")


def _walk(seed: int = 1) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    grid = np.arange(0.0, 20000.0)
    return grid, np.cumsum(np.random.default_rng(seed).normal(size=grid.size))


@pytest.mark.parametrize("true", [1440.0, -1440.0, 3.0, -8.0])
def test_offset_of_either_sign_matches_numpy_cross_correlation(true: float) -> None:
    grid, walk = _walk()
    rt, it = np.arange(1000.0, 15000.0), np.arange(1000.0, 15000.0, 4.0)
    found = estimate_offset(
        _times(rt), np.interp(rt, grid, walk), _times(it), np.interp(it - true, grid, walk)
    )
    # independent: brute-force numpy correlation of the two series on a 1 s grid
    inst = np.interp(rt, it, np.interp(it - true, grid, walk))
    ref = np.interp(rt, grid, walk)
    lags = np.arange(-2000, 2001)
    score = [
        np.corrcoef(
            inst[max(k, 0) : inst.size + min(k, 0)], ref[max(-k, 0) : ref.size - max(k, 0)]
        )[0, 1]
        for k in lags
    ]
    assert found.offset_s == pytest.approx(float(lags[int(np.argmax(score))]), abs=1.0)
    assert found.offset_s == pytest.approx(true, abs=1.0)


def test_unrelated_series_are_refused_not_given_a_confident_offset() -> None:
    rng = np.random.default_rng(2)
    rt, it = np.arange(0.0, 5000.0), np.arange(0.0, 5000.0, 2.0)
    with pytest.raises(ConfigError, match="below min_correlation"):
        estimate_offset(_times(rt), rng.normal(size=rt.size), _times(it), rng.normal(size=it.size))


def test_constant_signal_is_refused_with_its_reason() -> None:
    rt = np.arange(0.0, 5000.0)
    with pytest.raises(ConfigError, match="reference signal is constant"):
        estimate_offset(_times(rt), np.ones(rt.size), _times(rt), np.arange(rt.size) % 7.0)


def test_unordered_reference_records_give_the_same_offset() -> None:
    grid, walk = _walk(3)
    rt, it = np.arange(1000.0, 15000.0), np.arange(1000.0, 15000.0, 2.0)
    order = np.random.default_rng(4).permutation(rt.size)
    found = estimate_offset(
        _times(rt[order]),
        np.interp(rt, grid, walk)[order],
        _times(it),
        np.interp(it - 60.0, grid, walk),
    )
    assert found.offset_s == pytest.approx(60.0, abs=1.0)


def test_drifting_clock_is_refused_and_a_steady_one_reports_its_drift() -> None:
    grid, walk = _walk(5)
    rt, it = np.arange(1000.0, 15000.0), np.arange(1000.0, 15000.0, 4.0)
    drift = 60.0 + (it - it[0]) / (it[-1] - it[0]) * 120.0  # 60 s at take-off, 180 s at landing
    inst = np.interp(it - drift, grid, walk)
    with pytest.raises(ConfigError, match="instrument clock drifts"):
        estimate_offset(_times(rt), np.interp(rt, grid, walk), _times(it), inst)
    # the halves are estimated independently: their difference is about half the total drift
    found = estimate_offset(
        _times(rt), np.interp(rt, grid, walk), _times(it), inst, max_drift_s=None
    )
    assert found.drift_s == pytest.approx(60.0, abs=5.0)
    steady = estimate_offset(
        _times(rt), np.interp(rt, grid, walk), _times(it), np.interp(it - 60.0, grid, walk)
    )
    assert steady.drift_s is not None and abs(steady.drift_s) < 1.0


def test_missing_time_stamps_are_skipped_not_read_as_year_minus_292_billion() -> None:
    grid, walk = _walk(6)
    rt, it = np.arange(1000.0, 15000.0), np.arange(1000.0, 15000.0, 2.0)
    ref_times, ins_times = _times(rt), _times(it)
    ref_times[[0, 500]] = np.datetime64("NaT")  # e.g. aircraft time NaN in a few records
    ins_times[7] = np.datetime64("NaT")
    found = estimate_offset(
        ref_times, np.interp(rt, grid, walk), ins_times, np.interp(it + 30.0, grid, walk)
    )
    assert found.offset_s == pytest.approx(-30.0, abs=1.0)


def test_time_stamps_spanning_centuries_are_refused_before_allocating() -> None:
    rt = np.arange(0.0, 100.0)
    ref_times = _times(rt)
    ref_times[-1] = np.datetime64("2200-01-01T00:00:00", "ns")
    with pytest.raises(ConfigError, match="reference spans"):
        estimate_offset(ref_times, np.sin(rt), _times(rt), np.sin(rt))


@pytest.mark.parametrize(
    ("units", "epoch_shift_s"),
    [
        ("seconds since 2022-11-16 08:00:00", 0.0),
        ("seconds since 2022-11-16 08:00:00 UTC", 0.0),
        ("seconds since 2022-11-16T08:00:00Z", 0.0),
        ("s since 2022-11-16 10:00:00 +02:00", 0.0),
        ("seconds since 2022-11-16 09:00:00", 3600.0),
        # 'SINCE' in capitals, '+0200' without a colon, hours-only offsets and units other
        # than seconds were refused as not understood
        ("Seconds SINCE 2022-11-16 08:00:00", 0.0),
        ("seconds since 2022-11-16 10:00:00 +0200", 0.0),
        ("seconds since 2022-11-16 03:00:00 -05", 0.0),
        ("ms since 2022-11-16 08:00:00", 0.0),
    ],
)
def test_reference_clock_epochs_in_udunits_spellings(units: str, epoch_shift_s: float) -> None:
    from stratoflow.dataset import make_dataset
    from stratoflow.processing import run_steps

    grid, walk = _walk(7)
    rt, it = np.arange(1000.0, 15000.0), np.arange(1000.0, 15000.0, 2.0)
    reference = make_dataset(
        _times(rt) + np.timedelta64(5, "s"),  # the reference's own logging clock: unused
        {
            "p": (np.interp(rt, grid, walk), {"units": "hPa"}),
            "clock": (rt * (1000.0 if units.startswith("ms") else 1.0), {"units": units}),
        },
    )
    instrument = make_dataset(
        _times(it), {"p_in": (np.interp(it - 40.0, grid, walk), {"units": "hPa"})}
    )
    params = {"variable": "p_in", "reference": "ac", "reference_variables": ["p"]}
    _, records = run_steps(
        instrument,
        [{"step": "clock_sync", "params": {**params, "reference_time": "clock"}}],
        references={"ac": reference},
    )
    assert records[0]["result"]["offset_s"] == pytest.approx(40.0 - epoch_shift_s, abs=1.0)


@pytest.mark.parametrize(
    ("reference_time", "message"),
    [
        ("clock", "'clock': time units 'seconds since yesterday': reference 'yesterday' is not"),
        ("nope", "not a variable"),
    ],
)
def test_reference_clock_errors_name_the_variable(reference_time: str, message: str) -> None:
    from stratoflow.dataset import make_dataset
    from stratoflow.processing import run_steps

    rt = np.arange(0.0, 100.0)
    reference = make_dataset(
        _times(rt),
        {
            "p": (np.sin(rt / 10), {"units": "hPa"}),
            "clock": (rt, {"units": "seconds since yesterday"}),
        },
    )
    params = {"variable": "p", "reference": "ac", "reference_variables": ["p"]}
    with pytest.raises(ConfigError, match=message):
        run_steps(
            reference,
            [{"step": "clock_sync", "params": {**params, "reference_time": reference_time}}],
            references={"ac": reference},
        )


@pytest.mark.parametrize(
    ("units", "defect"),
    [
        ("seconds since 2022-11-16 09:00:00 UTC+1", r"zone 'UTC\+1' is ambiguous"),
        ("seconds since 2022-11-16 09:00:00 CET", r"zone 'CET' is not understood"),
        ("months since 2022-11-16", "count months, whose length varies"),
    ],
)
def test_a_reference_clock_in_an_ambiguous_zone_is_refused(units: str, defect: str) -> None:
    """'UTC+1' was refused only as 'not understood'; the defect is now named."""
    from stratoflow.dataset import make_dataset
    from stratoflow.processing import run_steps

    rt = np.arange(0.0, 100.0)
    reference = make_dataset(
        _times(rt), {"p": (np.sin(rt / 10), {"units": "hPa"}), "clock": (rt, {"units": units})}
    )
    params = {"variable": "p", "reference": "ac", "reference_variables": ["p"]}
    with pytest.raises(ConfigError, match=rf"reference_time 'clock': .*{defect}"):
        run_steps(
            reference,
            [{"step": "clock_sync", "params": {**params, "reference_time": "clock"}}],
            references={"ac": reference},
        )


@pytest.mark.parametrize("samples", [3, 5, 10, 20])
def test_a_handful_of_samples_is_refused_not_matched_anywhere(samples: int) -> None:
    # 3 samples of a random walk correlated 0.99 with a stretch 5234 s away from the truth
    grid, walk = _walk(1)
    rt, it = np.arange(1000.0, 15000.0), np.arange(5000.0, 5000.0 + 4 * samples, 4.0)
    with pytest.raises(ConfigError, match="min_samples 30"):
        estimate_offset(
            _times(rt), np.interp(rt, grid, walk), _times(it), np.interp(it - 60.0, grid, walk)
        )


def test_a_periodic_signal_is_refused_as_ambiguous() -> None:
    rt, it = np.arange(1000.0, 15000.0), np.arange(3000.0, 9000.0, 4.0)
    with pytest.raises(ConfigError, match="ambiguous"):
        estimate_offset(
            _times(rt),
            np.sin(2 * np.pi * rt / 600),
            _times(it),
            np.sin(2 * np.pi * (it - 60.0) / 600),
        )


def _drifting(
    slope: float, seed: int = 5, offset: float = 1440.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Reference on its clock, instrument values and instrument clock times, the instrument's
    offset growing linearly: ``offset + slope * (t - t[0])``; returns (rt, it, inst values)."""
    grid, walk = _walk(seed)
    rt, it = np.arange(1000.0, 15000.0), np.arange(1000.0, 15000.0, 4.0)
    return rt, it, np.interp(it - (offset + slope * (it - it[0])), grid, walk)


@pytest.mark.parametrize("slope", [0.002, -0.004, 0.0])
def test_a_linear_drift_is_recovered_and_corrected(slope: float) -> None:
    """7.2 s/h fast, 14.4 s/h slow, none: the line is recovered and the corrected time stamps
    are the reference clock's, over the whole flight."""
    import xarray as xr

    from stratoflow.dataset import make_dataset
    from stratoflow.processing import correct_drift, estimate_drift

    grid, walk = _walk(5)
    rt, it, inst = _drifting(slope)
    model = estimate_drift(_times(rt), np.interp(rt, grid, walk), _times(it), inst)
    assert model.slope == pytest.approx(slope, abs=5e-5)  # under 0.2 s/h
    assert model.intercept_s == pytest.approx(1440.0, abs=0.5)
    assert model.origin_ns == _times(it[:1]).astype(np.int64)[0]
    assert len(model.segments) >= 4 and model.residual_s < 1.0
    ds = make_dataset(_times(it), {"p": (inst, {"units": "hPa"})})
    corrected = correct_drift(ds, model)
    truth = _times(it - (1440.0 + slope * (it - it[0])))
    error_s = (corrected["time"].values - truth).astype(np.int64) / 1e9
    assert np.abs(error_s).max() < 0.5
    assert isinstance(corrected, xr.Dataset) and np.array_equal(corrected["p"].values, inst)


def test_drift_correction_in_the_pipeline_records_the_clock_model() -> None:
    from stratoflow.dataset import make_dataset
    from stratoflow.processing import run_steps

    grid, walk = _walk(5)
    rt, it, inst = _drifting(0.008)  # the drift the check refuses above: 112 s over the flight
    ds = make_dataset(_times(it), {"p": (inst, {"units": "hPa"})})
    aircraft = make_dataset(_times(rt), {"P": (np.interp(rt, grid, walk), {"units": "hPa"})})
    params = {"variable": "p", "reference": "aircraft", "reference_variables": ["P"]}
    with pytest.raises(ConfigError, match="instrument clock drifts"):
        run_steps(ds, [{"step": "clock_sync", "params": params}], references={"aircraft": aircraft})
    steps = [{"step": "clock_sync", "params": {**params, "drift": "correct"}}]
    synced, records = run_steps(ds, steps, references={"aircraft": aircraft})
    result = records[0]["result"]
    assert result["drift"] == "correct"
    assert result["slope"] == pytest.approx(0.008, abs=5e-5)
    assert result["intercept_s"] == pytest.approx(1440.0, abs=0.5)
    assert result["segments_used"] >= 4 and result["segments_tried"] == 6
    assert result["defaults"] == pytest.approx(
        {
            "segments": 6,
            "max_residual_s": 2.0,
            "max_offset_s": 10800.0,
            "min_overlap": 0.5,
            "min_correlation": 0.8,
            "min_samples": 30,
            "peak_margin": 0.02,
        }
    )
    # within a quarter of the instrument's 4 s sampling interval, from take-off to landing
    truth = _times(it - (1440.0 + 0.008 * (it - it[0])))
    assert np.abs((synced["time"].values - truth).astype(np.int64)).max() < 1e9


def test_a_clock_that_jumps_is_refused_not_fitted_with_a_line() -> None:
    """The clock was reset mid-flight (+40 s): the segment offsets are a step, not a line."""
    from stratoflow.processing import estimate_drift

    grid, walk = _walk(5)
    rt, it = np.arange(1000.0, 15000.0), np.arange(1000.0, 15000.0, 4.0)
    offset = np.where(it < 8000.0, 1440.0, 1480.0)
    inst = np.interp(it - offset, grid, walk)
    # the message says where, on the instrument's clock (the jump is 7000 s after 08:16:40)
    with pytest.raises(ConfigError, match=r"do not lie on a line: the segment around 2022-11-16T"):
        estimate_drift(_times(rt), np.interp(rt, grid, walk), _times(it), inst)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"drift": "fix"}, "'drift' must be 'check' or 'correct'"),
        ({"drift": "correct", "segments": 2}, "'segments' must be at least 3"),
        ({"drift": "correct", "segments": 4.5}, "'segments' must be a whole number"),
        ({"drift": "correct", "max_drift_s": 10}, "max_drift_s apply only with drift: check"),
        ({"segments": 4}, "segments apply only with drift: correct"),
    ],
)
def test_drift_parameters_are_checked(params: dict[str, object], message: str) -> None:
    from stratoflow.dataset import make_dataset
    from stratoflow.processing import run_steps

    grid, walk = _walk(5)
    rt, it, inst = _drifting(0.0)
    ds = make_dataset(_times(it), {"p": (inst, {"units": "hPa"})})
    aircraft = make_dataset(_times(rt), {"P": (np.interp(rt, grid, walk), {"units": "hPa"})})
    base = {"variable": "p", "reference": "aircraft", "reference_variables": ["P"]}
    with pytest.raises(ConfigError, match=message):
        run_steps(
            ds,
            [{"step": "clock_sync", "params": {**base, **params}}],
            references={"aircraft": aircraft},
        )
