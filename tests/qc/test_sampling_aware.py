"""The default configuration must judge data at any sampling rate, not only 1 s aircraft data.

Station networks (EBAS) deliver hourly means; a time-gap rule in absolute seconds would mark
every hourly value as "after a gap". These tests feed the same tests hourly and 4 s series.
"""

from __future__ import annotations

import numpy as np

from stratoflow.qc import run_test


def _hourly(n: int) -> np.ndarray:
    return np.datetime64("2019-01-01", "ns") + np.arange(n) * np.timedelta64(3600, "s")


def test_time_gap_is_relative_to_the_sampling_interval() -> None:
    t = _hourly(48)
    x = np.linspace(90.0, 110.0, t.size)
    assert (run_test("time_gap", x, t, {"max_gap": 60}) == 1).all()  # hourly steps are no gap
    x[10:17] = np.nan  # seven missing hours: a gap of 8 h > 5 x 1 h
    p = run_test("time_gap", x, t, {"max_gap": 60})
    assert np.flatnonzero(p == 0.5).tolist() == [17]
    x2 = np.linspace(90.0, 110.0, t.size)
    x2[10:13] = np.nan  # a gap of 4 h is below 5 sampling intervals
    p2 = run_test("time_gap", x2, t, {"max_gap": 60})
    assert np.isnan(p2[10:13]).all() and (np.delete(p2, range(10, 13)) == 1).all()


def test_time_gap_on_fast_data_uses_the_absolute_limit() -> None:
    t = np.datetime64("2019-01-01", "ns") + np.arange(600) * np.timedelta64(4, "s")
    x = np.ones(t.size)
    x[100:110] = np.nan  # 44 s without data: below 60 s
    x[300:320] = np.nan  # 84 s: a gap
    p = run_test("time_gap", x, t, {"max_gap": 60})
    assert np.flatnonzero(p == 0.5).tolist() == [320]


def _flight(pressure_units: str, temperature_units: str) -> object:
    from stratoflow.dataset import make_dataset

    n = 600
    t = np.datetime64("2019-01-01", "ns") + np.arange(n) * np.timedelta64(4, "s")
    rng = np.random.default_rng(3)
    p_pa = 60_000 + np.cumsum(rng.normal(0, 5, n))
    temp_k = 220 + np.cumsum(rng.normal(0, 0.05, n))
    o3 = 60 + np.cumsum(rng.normal(0, 0.2, n))
    o3[100] = 900.0  # beyond the climatology's bad limit at 600 hPa, within the gross range
    temp_k[300] = 500.0  # physically impossible
    p = p_pa / 100 if pressure_units == "hPa" else p_pa
    temp = temp_k - 273.15 if temperature_units == "degC" else temp_k
    return make_dataset(
        t,
        {
            "air_press_AC": (p, {"units": pressure_units, "long_name": "pressure"}),
            "air_temp_AC": (temp, {"units": temperature_units, "long_name": "temperature"}),
            "O3_P1": (o3, {"units": "ppb", "long_name": "ozone"}),
        },
    )


def test_values_in_other_units_are_converted_to_the_profile_units() -> None:
    """hPa and degC data get exactly the flags of the same data in Pa and K."""
    from stratoflow.qc import run_qc

    si = run_qc(_flight("Pa", "K"))  # type: ignore[arg-type]
    other = run_qc(_flight("hPa", "degC"))  # type: ignore[arg-type]
    for name in ("air_press_AC", "air_temp_AC", "O3_P1"):
        assert other.variables[name].tests, f"{name} was not tested"
        np.testing.assert_array_equal(other.flags[name], si.flags[name], err_msg=name)
    assert other.variables["air_press_AC"].converted == "hPa -> Pa"
    assert other.variables["air_temp_AC"].converted == "degC -> K"
    assert si.variables["air_temp_AC"].converted == ""
    assert other.flags["air_temp_AC"][300] == 3 and other.flags["O3_P1"][100] == 3


def test_a_bare_dimensionless_unit_is_never_taken_for_a_mixing_ratio() -> None:
    from stratoflow.dataset import make_dataset
    from stratoflow.qc import run_qc

    t = np.datetime64("2019-01-01", "ns") + np.arange(10) * np.timedelta64(4, "s")
    ds = make_dataset(
        t,
        {
            "O3_ratio": (np.full(10, 0.5), {"units": "1", "long_name": "O3/CO ratio"}),
            "O3": (np.full(10, 4e-8), {"units": "mol/mol", "long_name": "ozone"}),
        },
    )
    result = run_qc(ds)
    assert not result.variables["O3_ratio"].tests  # left unvalidated, not judged as 0.5e9 ppb
    assert "not convertible" in result.variables["O3_ratio"].skipped["*"]
    assert result.variables["O3"].converted == "mol/mol -> ppb"
    assert (result.flags["O3"] == 0).all()  # 40 ppb: good


def _quantised_cruise(n: int = 900, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Water vapour at cruise logged in whole ppm every 4 s: long natural plateaus."""
    rng = np.random.default_rng(seed)
    t = np.datetime64("2019-01-01", "ns") + np.arange(n) * np.timedelta64(4, "s")
    truth = 8 + np.cumsum(rng.normal(0, 0.1, n))  # under 1 ppm a minute: long plateaus
    return np.rint(truth), t


def test_stuck_value_spares_natural_plateaus_of_quantised_data() -> None:
    x, t = _quantised_cruise()
    params = {"doubtful_duration": 90, "bad_duration": 240, "tolerance": 1e-4}
    steps = np.abs(np.diff(x))
    assert (steps == 0).mean() > 0.5  # mostly plateaus
    plain = run_test("stuck_value", x, t, {**params, "plateau_factor": 1})
    spared = run_test("stuck_value", x, t, params)
    assert (plain < 1).sum() > 100  # without the plateau rule, plateaus look stuck
    assert (spared < 1).sum() < (plain < 1).sum() / 10


def test_stuck_value_still_catches_a_stuck_quantised_sensor() -> None:
    x, t = _quantised_cruise()
    x[300:] += np.arange(x.size - 300) // 20  # the air gets moister: 1 ppm every 80 s
    x[400:500] = x[400]  # the sensor sticks for 400 s while the value climbs by 5 ppm
    p = run_test("stuck_value", x, t, {"doubtful_duration": 90, "bad_duration": 240})
    assert (p[401:499] == 0).all()  # the jump on recovery shows it was stuck


def test_stuck_value_needs_min_points_on_coarse_data() -> None:
    t = _hourly(48)
    x = np.round(95 + 5 * np.sin(np.arange(48) / 3), 1)
    x[10] = x[9]  # two equal hourly means: chance, not a stuck analyser
    x[20:26] = x[20]  # six equal hourly means in a row: stuck
    p = run_test("stuck_value", x, t, {"doubtful_duration": 60, "bad_duration": 120})
    assert p[9] == 1 and p[10] == 1
    assert (p[20:26] == 0).all()


def test_dimensionless_units_convert_only_between_mole_fractions() -> None:
    """Percent RH and a mass mixing ratio in g/kg are dimensionless like ppm, but not ppm."""
    from stratoflow.dataset import make_dataset
    from stratoflow.qc import run_qc

    t = np.datetime64("2017-01-21T17:00", "ns") + np.arange(50) * np.timedelta64(5, "s")
    ds = make_dataset(
        t,
        {
            "H2O_RelativeHumidity": (np.full(50, 45.0), {"units": "percent", "long_name": "RH"}),
            "H2O_MixingRatio": (np.full(50, 3.2), {"units": "g kg-1", "long_name": "mass ratio"}),
            "H2O_MoleFraction": (
                5e-3 + 1e-5 * np.sin(np.arange(50.0)),
                {"units": "mol mol-1", "long_name": "h2o"},
            ),
        },
    )
    result = run_qc(ds)
    for name in ("H2O_RelativeHumidity", "H2O_MixingRatio"):
        assert not result.variables[name].tests, name  # left unvalidated, reason recorded
        assert "not convertible" in result.variables[name].skipped["*"]
    assert result.variables["H2O_MoleFraction"].converted == "mol mol-1 -> ppm"
    assert (result.flags["H2O_MoleFraction"] == 0).all()  # about 5000 ppm: good
