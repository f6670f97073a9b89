"""Configuration checking, the test contract, evaluation methods and stored results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

import stratoflow.qc as qc
from stratoflow.dataset import make_dataset
from stratoflow.errors import QCConfigError, QCError
from stratoflow.flags import Flag
from stratoflow.qc import ManualFlag, parse_config, run_qc, run_test


def _ds(n: int = 400) -> xr.Dataset:
    t = np.datetime64("2024-03-01T10:00:00", "ns") + np.arange(n) * np.timedelta64(4, "s")
    rng = np.random.default_rng(5)
    o3 = 60 + np.cumsum(rng.normal(0, 0.5, n))
    o3[50] = 400.0  # spike
    o3[100] = 5000.0  # out of range
    o3[200:260] = o3[200]  # stuck for 4 minutes
    o3[300:305] = np.nan
    p = np.full(n, 25_000.0) + rng.normal(0, 5, n)
    p[120] = 500.0  # bad pressure -> ozone bad by propagation
    valve = np.ones(n)
    valve[150:155] = 0  # not measuring
    return make_dataset(
        t,
        {
            "O3_P1": (
                o3,
                {
                    "units": "ppb",
                    "long_name": "ozone",
                    "standard_name": "mole_fraction_of_ozone_in_air",
                },
            ),
            "air_press_AC": (
                p,
                {"units": "Pa", "long_name": "pressure", "standard_name": "air_pressure"},
            ),
            "valve": (valve, {"units": "1", "long_name": "valve state"}),
        },
    )


def test_exported_surface() -> None:
    for name in qc.__all__:
        assert hasattr(qc, name), name
    assert {
        "gross_range",
        "spike",
        "hampel",
        "flat_line",
        "stuck_value",
        "rule",
        "propagate",
        "position",
        "ground_speed",
        "range_by",
    } <= set(qc.test_names())
    assert {"worst", "mean", "vote", "critical"} <= set(qc.evaluation_names())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"O3": {"tests": [{"test": "gross_range", "bad_max": "high"}]}},
            "O3.tests[0].bad_max: must be a number",
        ),
        (
            {
                "O3": {
                    "tests": [
                        {"test": "missing"},
                        {"test": "missing", "id": "m2"},
                        {"test": "gross_range", "bad_max": [1]},
                    ]
                }
            },
            "O3.tests[2].bad_max: must be a number",
        ),
        (
            {"O3": {"tests": [{"test": "gross_range", "bad_max": 1, "doubtful_max": 5}]}},
            "O3.tests[0].bad_max: must be >= doubtful_max",
        ),
        ({"O3": {"tests": [{"test": "nope"}]}}, "O3.tests[0].test: unknown qc test 'nope'"),
        (
            {"O3": {"tests": [{"test": "spike", "doubtful": 1, "colour": 2}]}},
            "O3.tests[0].colour: unknown parameter",
        ),
        ({"O3": {"tests": [{"test": "hampel", "window": 1}]}}, "O3.tests[0].window: must be >= 3"),
        (  # the test could never judge a point: all NaN, silently
            {"O3": {"tests": [{"test": "hampel", "window": 4, "min_valid": 6}]}},
            "O3.tests[0].min_valid: must be <= the 5 points of the window, got 6",
        ),
        ({"O3": {"tests": [{"test": "rule", "value": 1}]}}, "O3.tests[0].variable: required"),
        (
            {"O3": {"tests": [{"test": "missing", "critical": "yes"}]}},
            "O3.tests[0].critical: must be true or false",
        ),
        ({"O3": {"match": {"nmae": "O3"}}}, "O3.match.nmae: unknown key"),
        (  # a NaN limit let every point pass
            {
                "O3": {
                    "tests": [
                        {"test": "range_by", "by": "p", "table": [[1, 0, float("nan"), 0, 5]]}
                    ]
                }
            },
            "O3.tests[0].table[0]: must be a list of numbers",
        ),
        (  # a NaN weight made every mean NaN: all not_validated
            {"O3": {"tests": [{"test": "spike", "bad": 1, "weight": float("nan")}]}},
            "O3.tests[0].weight: must be a number",
        ),
        (
            {"O3": {"tests": [{"test": "spike", "bad": 1, "weight": float("inf")}]}},
            "O3.tests[0].weight: must be a number",
        ),
        ({"O3": {"tests": [{"test": "spike", "bad": 1, "weight": -1}]}}, "weight: must be >= 0"),
        ({"evaluation": {"method": "vote", "k": 0}}, "evaluation.k: must be >= 1"),
        ({"evaluation": {"method": "median"}}, "evaluation.method: unknown evaluation 'median'"),
    ],
)
def test_config_errors_name_the_key(config: dict[str, object], message: str) -> None:
    with pytest.raises(QCConfigError) as info:
        parse_config(config)
    assert message in str(info.value)


def test_yaml_file_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "qc.yaml"
    path.write_text("O3:\n  tests: [\n", encoding="utf-8")
    where = r"qc\.yaml: QC configuration: line \d+, column \d+"
    with pytest.raises(QCConfigError, match=where) as info:
        qc.load_config(path)
    assert str(info.value).count(str(path)) == 1  # named once


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # a YAML syntax error: the text path said "line 2 not valid YAML", no column
        (
            "O3:\n  tests: [\n",
            "line 3, column 1: not valid YAML: did not find expected node content",
        ),
        # a schema error: the file path named the key but not where it is written
        (
            "O3:\n  tests:\n    - test: missing\n    - test: gross_range\n      bad_max: lots\n",
            "line 5, column 7: O3.tests[1].bad_max: must be a number",
        ),
        ("O3:\n  tests:\n    - {test: no_such_test}\n", "line 3, column 8: O3.tests[0].test: "),
    ],
)
def test_a_configuration_error_reads_the_same_from_a_file_a_text_and_the_defaults(
    text: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line naming where the configuration came from, the line and column, and the
    problem (the offending key for a schema error), however the text was given."""
    from stratoflow.qc import config, parse_config_text

    def error(call: Callable[[], object]) -> str:
        with pytest.raises(QCConfigError) as info:
            call()
        assert "\n" not in str(info.value)
        return str(info.value)

    path = tmp_path / "qc.yaml"
    path.write_text(text, encoding="utf-8")
    assert error(lambda: qc.load_config(path)).startswith(f"{path}: QC configuration: {problem}")
    named = "QC configuration 'tight-o3'"
    assert error(lambda: parse_config_text(text, named)).startswith(f"{named}: {problem}")
    monkeypatch.setattr(config, "default_text", lambda: text)
    config._default_data.cache_clear()
    try:
        shipped = error(qc.default_config)
    finally:
        config._default_data.cache_clear()
    assert shipped.startswith(f"default_qc.yaml: QC configuration: {problem}")


def test_yaml_numbers_in_exponent_notation_are_numbers(tmp_path: Path) -> None:
    """``1e3`` is a number in YAML 1.2 and JSON; PyYAML (YAML 1.1) reads it as a string."""
    path = tmp_path / "qc.yaml"
    path.write_text(
        "O3:\n  tests:\n    - test: gross_range\n      bad_min: -1.0e1\n"
        "      doubtful_max: 1e3\n      bad_max: 2E+3\n"
        "    - test: rate_of_change\n      doubtful: 2.5e-1\n",
        encoding="utf-8",
    )
    tests = qc.load_config(path).profiles[0].tests
    assert dict(tests[0].params) == {
        "doubtful_min": None,
        "doubtful_max": 1000.0,
        "bad_min": -10.0,
        "bad_max": 2000.0,
    }
    assert tests[1].params["doubtful"] == 0.25
    path.write_text(
        "O3:\n  tests:\n    - test: missing\n      fill_values: [1e20, -9999, 9.96921e36]\n"
        "    - test: range_by\n      by: p\n      table: [[1e4, 0, 1e2, -1, 2e2]]\n",
        encoding="utf-8",
    )
    tests = qc.load_config(path).profiles[0].tests
    assert tests[0].params["fill_values"] == [1e20, -9999.0, 9.96921e36]
    assert tests[1].params["table"] == [[1e4, 0.0, 100.0, -1.0, 200.0]]
    path.write_text("O3:\n  tests:\n    - test: gross_range\n      bad_max: 1e3x\n")
    with pytest.raises(QCConfigError, match=r"O3\.tests\[0\]\.bad_max: must be a number"):
        qc.load_config(path)


def test_a_key_given_twice_in_a_yaml_file_is_refused(tmp_path: Path) -> None:
    """PyYAML keeps the last of two equal keys: the first ``tests:`` was dropped silently."""
    path = tmp_path / "qc.yaml"
    path.write_text(
        "O3:\n  tests:\n    - test: spike\n      bad: 5\n"
        "  tests:\n    - test: gross_range\n      bad_max: 500\n",
        encoding="utf-8",
    )
    twice = r"qc\.yaml: QC configuration: line 5, .*key 'tests' twice"
    with pytest.raises(QCConfigError, match=twice):
        qc.load_config(path)
    path.write_text(  # a merge key may be overridden: that is not a duplicate
        "base: &limits\n  test: gross_range\n  bad_max: 500\n"
        "O3:\n  tests:\n    - <<: *limits\n      bad_max: 900\n",
        encoding="utf-8",
    )
    with pytest.raises(QCConfigError, match=r"base\.bad_max: unknown key"):  # loaded, checked
        qc.load_config(path)


def test_an_unquoted_yaml_date_is_refused_with_the_fix() -> None:
    text = "O3:\n  tests:\n    - test: impossible_date\n      earliest: 2020-01-01\n"
    with pytest.raises(QCConfigError, match="earliest: must be a string; quote the date"):
        parse_config(yaml.safe_load(text))


def test_default_config_is_parsed_once_and_each_caller_owns_its_parameters() -> None:
    from stratoflow.qc import config

    first = qc.default_config()
    parsed = config._default_data.cache_info().misses
    second = qc.default_config()
    assert config._default_data.cache_info().misses == parsed  # the YAML was not read again
    assert first == second
    i, j = next(
        (i, j)
        for i, profile in enumerate(first.profiles)
        for j, spec in enumerate(profile.tests)
        if spec.params
    )
    mine, theirs = first.profiles[i].tests[j].params, second.profiles[i].tests[j].params
    assert mine is not theirs
    mine.clear()  # type: ignore[attr-defined]
    assert qc.default_config().profiles[i].tests[j].params == theirs != {}


def test_default_config_matches_iagos_and_cf_names() -> None:
    cfg = qc.default_config()
    cases = {
        "O3_P1": "O3",
        "CO_P1": "CO",
        "H2O_gas_P1": "H2O",
        "air_temp_P1": "temperature",
        "air_press_AC": "pressure",
        "lat": "latitude",
        "lon": "longitude",
        "baro_alt_AC": "altitude",
        # names are matched ignoring case; standard names are not
        "PRESSURE": "pressure",
        "Pressure": "pressure",
        "Static_Pressure": "pressure",
        "Temperature": "temperature",
        "GPS_latitude": "latitude",
        "o3": "O3",
    }
    for name, profile in cases.items():
        found = cfg.profile_for(name, {})
        assert found is not None and found.name == profile, name
    assert cfg.profile_for("whatever", {"standard_name": "air_temperature"}) is not None
    assert cfg.profile_for("O3_P1_error", {}) is None  # companions are not measurements
    assert cfg.profile_for("O3_P1_ERROR", {}) is None
    assert cfg.profile_for("whatever", {"standard_name": "AIR_TEMPERATURE"}) is None


def test_run_qc_flags_and_explains() -> None:
    ds = _ds()
    config = {
        "pressure": {
            "match": {"name": "air_press_*"},
            "tests": [{"test": "gross_range", "bad_min": 5000, "bad_max": 110000}],
        },
        "O3": {
            "match": {"name": "O3_*"},
            "tests": [
                {"test": "missing", "fill_values": [5000]},
                {"test": "gross_range", "doubtful_max": 300, "bad_max": 1000},
                {"test": "hampel", "min_scale": 2},
                {"test": "stuck_value", "doubtful_duration": 60, "bad_duration": 120},
                {"test": "rule", "variable": "valve", "op": "!=", "value": 1, "critical": False},
                {"test": "propagate", "source": "pressure"},
                {"test": "range_by", "by": "no_such_variable", "table": [[0, 0, 1, 0, 1]]},
            ],
        },
    }
    result = run_qc(ds, config)
    f = result.flags["O3_P1"]
    assert f[100] == Flag.MISSING  # fill value
    assert f[50] == Flag.BAD and f[120] == Flag.BAD  # spike; propagated from pressure
    assert (f[201:260] == Flag.BAD).all() and (f[150:155] == Flag.BAD).all()
    assert (f[300:305] == Flag.MISSING).all()
    var = result.variables["O3_P1"]
    assert "range_by" in var.skipped and "no_such_variable" in var.skipped["range_by"]
    run = next(t for t in var.tests if t.label == "hampel")
    assert run.params["window"] == 11 and run.version and run.runtime >= 0
    assert run.probability.dtype == np.float32 and np.isnan(run.probability[300:305]).all()

    critical = result.evaluate("critical")
    assert critical.flags["O3_P1"][152] == Flag.LIMITED  # non-critical rule -> limited
    assert critical.flags["O3_P1"][50] == Flag.BAD
    # re-evaluation uses stored arrays only: the same method gives the same flags
    np.testing.assert_array_equal(result.evaluate("worst").flags["O3_P1"], f)
    vote = result.evaluate("vote", k=2)
    assert vote.flags["O3_P1"][50] != Flag.GOOD  # hampel and gross range agree
    assert vote.flags["O3_P1"][152] == Flag.GOOD  # only the rule fired
    assert result.evaluate("vote", k=1).flags["O3_P1"].tolist() == f.tolist()

    override = ManualFlag("O3_P1", ds.time.values[50], ds.time.values[60], Flag.GOOD, "pi", "ok")
    manual = result.evaluate("critical", overrides=[override])
    assert (manual.flags["O3_P1"][50:61] == Flag.GOOD).all()
    assert manual.evaluate("worst").flags["O3_P1"][50] == Flag.GOOD  # overrides are kept


def test_a_manual_flag_needs_a_time_range_that_does_not_end_before_it_starts() -> None:
    """A reversed or NaT range flagged nothing, silently (the database refuses it too)."""
    t = np.datetime64("2024-03-01T10:00:00", "ns")
    with pytest.raises(QCError, match=r"O3_P1: ends \(.*\) before it starts"):
        ManualFlag("O3_P1", t + np.timedelta64(8, "s"), t, Flag.BAD)
    with pytest.raises(QCError, match="O3_P1: start: a time is needed"):
        ManualFlag("O3_P1", np.datetime64("NaT"), t, Flag.BAD)
    with pytest.raises(QCError, match="O3_P1: end: not a time"):
        ManualFlag("O3_P1", t, "soon", Flag.BAD)
    with pytest.raises(QCError, match="O3_P1: 99 is not an IAGOS flag"):  # was written as is
        ManualFlag("O3_P1", t, t, 99)  # type: ignore[arg-type]
    assert ManualFlag("O3_P1", t, t, 3).flag is Flag.BAD  # type: ignore[arg-type]


def test_a_manual_flag_for_a_variable_the_dataset_lacks_is_refused() -> None:
    """It was dropped without a word (a misspelt name loses a PI decision)."""
    ds = _ds()
    t = ds.time.values
    with pytest.raises(QCError, match="manual flags for 'O3': no such variable"):
        run_qc(ds, overrides=[ManualFlag("O3", t[0], t[5], Flag.BAD)])


def test_manual_flag_times_in_other_forms() -> None:
    ds = _ds()
    t = ds.time.values
    expected = ManualFlag("O3_P1", t[2], t[4], Flag.BAD)
    reference = run_qc(ds, overrides=[expected]).flags["O3_P1"]
    assert reference[2:5].tolist() == [Flag.BAD] * 3 and reference[5] == Flag.GOOD
    for start, end in [
        (t[2].astype("datetime64[s]"), t[4].astype("datetime64[ms]")),
        ("2024-03-01T10:00:08Z", "2024-03-01T11:00:16+01:00"),
        ("2024-03-01T10:00:08", np.datetime64("2024-03-01T10:00:16")),
    ]:
        given = ManualFlag("O3_P1", start, end, Flag.BAD)  # type: ignore[arg-type]
        assert given == expected
        np.testing.assert_array_equal(run_qc(ds, overrides=[given]).flags["O3_P1"], reference)


def test_a_manual_flag_leaves_points_without_a_value_missing() -> None:
    """A PI's 'good' over a gap wrote good flags on NaN values (the review service kept
    them missing; the library, used by the CLI and notebooks, did not)."""
    ds = _ds()
    t = ds.time.values
    assert np.isnan(ds["O3_P1"].values[300:305]).all()
    for flag in (Flag.GOOD, Flag.BAD):
        result = run_qc(ds, overrides=[ManualFlag("O3_P1", t[290], t[310], flag)])
        flags = result.flags["O3_P1"]
        assert (flags[300:305] == Flag.MISSING).all()
        assert (flags[290:300] == flag).all() and (flags[305:311] == flag).all()
        assert (result.evaluate("critical").flags["O3_P1"][300:305] == Flag.MISSING).all()


def _with_pressure_fill() -> xr.Dataset:
    """Ozone of the upper troposphere with one pressure fill value (99999) and one NaN."""
    n = 40
    t = np.datetime64("2024-03-01T10:00:00", "ns") + np.arange(n) * np.timedelta64(4, "s")
    o3 = np.full(n, 400.0)  # plausible at 200 hPa, too high near the ground
    p = np.full(n, 20_000.0)
    p[10], p[20] = 99_999.0, np.nan
    o3_attrs = {"units": "ppb", "long_name": "ozone"}
    p_attrs = {"units": "Pa", "long_name": "pressure"}
    return make_dataset(t, {"O3_P1": (o3, o3_attrs), "air_press_AC": (p, p_attrs)})


_FILLED_PRESSURE = {
    "O3": {
        "match": {"name": "O3_*"},
        "tests": [
            {
                "test": "range_by",
                "by": "pressure",
                "table": [[15_000, 0, 1_500, -10, 3_000], [100_000, 0, 100, -10, 200]],
            },
            {"test": "propagate", "source": "pressure"},
        ],
    },
    "pressure": {
        "match": {"name": "air_press_AC"},
        "tests": [
            {"test": "missing", "fill_values": [99_999]},
            {"test": "gross_range", "bad_min": 10_000, "bad_max": 110_000},
        ],
    },
}


def test_another_variables_fill_value_is_missing_for_the_tests_that_read_it() -> None:
    """Ozone's profile comes first, so range_by read pressure before pressure's fill values
    were masked: 99999 Pa chose the near-ground limits and made 400 ppb bad."""
    result = run_qc(_with_pressure_fill(), _FILLED_PRESSURE)
    climatology = result.variables["O3_P1"].tests[0]
    assert climatology.label == "range_by"
    assert np.isnan(climatology.probability[[10, 20]]).all()  # no pressure: no opinion
    assert climatology.probability[0] == 1.0
    assert result.flags["air_press_AC"][10] == Flag.MISSING


def test_a_missing_source_value_is_not_propagated_as_bad() -> None:
    """The fill-value test's 0 (= missing) was taken for the pressure's verdict: ozone bad
    where the pressure had a fill value, though not where it was NaN."""
    result = run_qc(_with_pressure_fill(), _FILLED_PRESSURE)
    propagated = result.variables["O3_P1"].tests[1]
    assert propagated.label == "propagate"
    assert np.isnan(propagated.probability[[10, 20]]).all()
    # no test can judge ozone there (its tests need the pressure): not validated, not bad
    assert result.flags["O3_P1"][10] == result.flags["O3_P1"][20] == Flag.NOT_VALIDATED
    ds = _with_pressure_fill()
    ds["air_press_AC"].values[30] = 5_000.0  # a bad pressure still makes the ozone bad
    assert run_qc(ds, _FILLED_PRESSURE).flags["O3_P1"][30] == Flag.BAD


def test_propagation_does_not_chain_through_the_order_of_variables() -> None:
    """A source's own propagation results are not passed on (the module's promise): whether
    they were depended on which variable the dataset lists first."""
    n = 20
    t = np.datetime64("2024-03-01T10:00:00", "ns") + np.arange(n) * np.timedelta64(4, "s")
    values = {name: np.full(n, 50.0) for name in ("A", "B", "C")}
    values["C"][5] = 500.0
    config = {
        "a": {"match": {"name": "A"}, "tests": [{"test": "propagate", "source": "B"}]},
        "b": {
            "match": {"name": "B"},
            "tests": [
                {"test": "gross_range", "bad_max": 100},
                {"test": "propagate", "source": "C"},
            ],
        },
        "c": {"match": {"name": "C"}, "tests": [{"test": "gross_range", "bad_max": 100}]},
    }
    for order in (("A", "B", "C"), ("C", "B", "A"), ("B", "A", "C")):
        ds = make_dataset(t, {k: (values[k], {"units": "1", "long_name": k}) for k in order})
        flags = run_qc(ds, config).flags
        assert flags["C"][5] == flags["B"][5] == Flag.BAD, order
        assert flags["A"][5] == Flag.GOOD, order  # B's own tests passed point 5


def test_mean_uses_weights_and_thresholds() -> None:
    stack = np.array([[1.0, 0.0, np.nan], [0.0, 0.0, np.nan]], dtype=np.float32)
    infos = [qc.TestInfo("a", weight=3.0), qc.TestInfo("b", weight=1.0)]
    missing = np.array([False, False, False])
    prob, flags = qc.get_evaluation("mean")(stack, missing, infos, good=0.7, bad=0.5)
    assert prob is not None and prob[0] == pytest.approx(0.75)
    assert flags.tolist() == [Flag.GOOD, Flag.BAD, Flag.NOT_VALIDATED]


def test_store_round_trip_through_netcdf(tmp_path: Path) -> None:
    ds = _ds()
    result = run_qc(
        ds,
        {
            "O3": {
                "match": {"name": "O3_*"},
                "tests": [
                    {"test": "gross_range", "doubtful_max": 300, "bad_max": 1000},
                    {"test": "spike", "doubtful": 5, "bad": 50, "critical": False},
                ],
            }
        },
        "critical",
    )
    path = tmp_path / "qc.nc"
    result.to_store().to_netcdf(path)
    with xr.open_dataset(path) as stored:
        back = qc.QCResult.from_store(stored.load())
    assert back.method == "critical"
    np.testing.assert_array_equal(back.flags["O3_P1"], result.flags["O3_P1"])
    assert [t.params for t in back.variables["O3_P1"].tests] == [
        t.params for t in result.variables["O3_P1"].tests
    ]
    np.testing.assert_array_equal(
        back.evaluate("worst").flags["O3_P1"], result.evaluate("worst").flags["O3_P1"]
    )


def test_store_keeps_the_units_conversion(tmp_path: Path) -> None:
    """The limits were applied to converted values: that is part of how a flag came about
    (it was dropped by the store)."""
    ds = _ds()
    ds["air_press_AC"] = ds["air_press_AC"] / 100
    ds["air_press_AC"].attrs.update(units="hPa", long_name="pressure")
    result = run_qc(ds)
    assert result.variables["air_press_AC"].converted == "hPa -> Pa"
    path = tmp_path / "qc.nc"
    result.to_store().to_netcdf(path)
    with xr.open_dataset(path) as stored:
        back = qc.QCResult.from_store(stored.load())
    assert back.variables["air_press_AC"].converted == "hPa -> Pa"
    assert back.variables["O3_P1"].converted == ""


def test_to_dataset_refuses_a_dataset_of_other_times() -> None:
    """The same number of points was enough: another flight got these flags silently."""
    ds = _ds()
    result = run_qc(ds)
    later = ds.assign_coords(time=ds.time.values + np.timedelta64(1, "D"))
    with pytest.raises(QCError, match=r"QC result is for other times than the dataset \(point 0"):
        result.to_dataset(later)
    assert "O3_P1_flag" in result.to_dataset(ds)


def test_to_dataset_adds_cf_flag_variables() -> None:
    ds = _ds()
    result = run_qc(ds)
    out = result.to_dataset(ds, include_tests=True)
    flag = out["O3_P1_flag"]
    assert flag.dtype == np.uint8
    assert flag.attrs["flag_meanings"] == "good limited bad not_validated missing"
    assert "O3_P1_flag" in out["O3_P1"].attrs["ancillary_variables"]
    assert any(str(name).startswith("O3_P1_qc_") for name in out.data_vars)


def test_soft_limits_interpolate() -> None:
    x = np.array([50.0, 100.0, 150.0, 200.0, 201.0, np.nan])
    p = run_test("gross_range", x, params={"doubtful_max": 100, "bad_max": 200})
    assert p[:2].tolist() == [1.0, 1.0]
    assert p[2] == pytest.approx(0.75) and p[3] == pytest.approx(0.5)
    assert p[4] == 0.0 and np.isnan(p[5])


def test_window_tests_on_plain_arrays() -> None:
    x = np.sin(np.linspace(0, 20, 500)) * 10
    x[100] += 30
    x[300:340] = x[300]
    h = run_test("hampel", x, params={"window": 7})
    assert h[100] == 0.0 and (np.delete(h, 100)[5:-5] > 0.5).all()
    s = run_test("stuck_value", x, params={"doubtful_duration": 10, "bad_duration": 30})
    assert (s[300:340] == 0).all() and (s[:300] == 1).all()
    lv = run_test("low_variance", x, params={"window": 9, "doubtful_std": 0.01, "bad_std": 0.001})
    assert (lv[310:330] == 0).all() and (lv[:90] == 1).all()
    j = np.r_[np.zeros(100), np.full(100, 10.0)]
    jp = run_test("jump", j, params={"window": 10, "doubtful": 2, "bad": 5})
    assert jp[100] == 0 and np.nansum(jp < 1) == 1


def test_impossible_date_limits_with_zones_and_beyond_the_ns_range() -> None:
    """``Z`` and offsets mean UTC times (they were a numpy warning); a limit beyond 1677-2262
    is clamped (1500 overflowed and was refused as 'latest: must be after earliest')."""
    t = np.array(["1990-01-01T00:00", "2024-01-01T00:30", "2024-01-01T01:30"], "datetime64[ns]")
    x = np.arange(3.0)
    for limits in (
        {"earliest": "2024-01-01T00:00:00Z", "latest": "2024-01-01T01:00:00Z"},
        {"earliest": "2024-01-01T01:00:00+01:00", "latest": "2024-01-01T02:00:00+01:00"},
    ):
        assert run_test("impossible_date", x, t, limits).tolist() == [0, 1, 0]
    assert run_test("impossible_date", x, t, {"earliest": "1500-01-01"}).tolist() == [1, 1, 1]
    assert run_test(
        "impossible_date", x, t, {"earliest": "2000-01-01", "latest": "3000-01-01"}
    ).tolist() == [0, 1, 1]
    with pytest.raises(QCConfigError, match="latest: must be after earliest"):
        run_test("impossible_date", x, t, {"earliest": "2500-01-01", "latest": "2600-01-01"})


def test_time_and_position_tests() -> None:
    t = np.array(
        [
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:01",
            "2024-01-01T00:00:01",
            "2024-01-01T00:05:00",
            "2030-01-01T00:00:00",
        ],
        dtype="datetime64[ns]",
    )
    x = np.arange(5.0)
    assert run_test("duplicate_time", x, t).tolist() == [1, 1, 0, 1, 1]
    back = np.datetime64("2024-01-01", "ns") + np.array([0, 1, 5, 2, 3, 6]) * np.timedelta64(
        1, "s"
    )  # as documented: 2 and 3 s come after 5 s had been passed
    assert run_test("duplicate_time", np.arange(6.0), back).tolist() == [1, 1, 1, 0, 0, 1]
    gaps = run_test("time_gap", x, t, {"max_gap": 60, "max_steps": 1})
    assert gaps.tolist() == [1, 1, 1, 0.5, 0.5]
    assert run_test("impossible_date", x, t, {"latest": "2025-01-01"}).tolist() == [1, 1, 1, 1, 0]
    with pytest.raises(QCConfigError, match="earliest: must be an ISO date"):
        run_test("impossible_date", x, t, {"earliest": "yesterday"})
    n = 6
    time = np.datetime64("2024-01-01", "ns") + np.arange(n) * np.timedelta64(10, "s")
    lat = np.array([50.0, 50.01, 50.02, 95.0, 50.04, 50.05])
    lon = np.array([8.0, 8.03, 8.06, 8.09, 20.0, 8.15])
    ds = make_dataset(
        time,
        {
            "lat": (lat, {"units": "degree_north", "long_name": "lat"}),
            "lon": (lon, {"units": "degree_east", "long_name": "lon"}),
        },
    )
    result = run_qc(ds)
    assert result.flags["lat"][3] == Flag.BAD  # |lat| > 90
    assert result.flags["lon"][4] == Flag.BAD  # 12 degrees in 10 s
    assert result.flags["lon"][1] == Flag.GOOD


def test_a_test_of_the_time_stamps_runs_once_per_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    """impossible_date judges the time alone: one run serves every variable, each variable's
    own missing points still NaN in its copy, and no variable's copy changes another's."""
    from stratoflow.qc.tests import time as time_tests

    ds = _ds()
    t = ds["time"].values.copy()
    t[7] = np.datetime64("1990-01-01T00:00:00", "ns")  # before MOZAIC: impossible
    ds = ds.assign_coords(time=t).sortby("time")
    cfg = parse_config(
        {
            "common": {"tests": [{"test": "impossible_date"}]},
            "O3": {"match": {"name": ["O3_*"]}, "tests": [{"test": "gross_range", "bad_max": 1e4}]},
            "pressure": {"match": {"name": ["air_press_*"]}, "tests": []},
        }
    )
    calls = []
    parse = time_tests._parse
    monkeypatch.setattr(time_tests, "_parse", lambda v, k: calls.append(v) or parse(v, k))
    result = run_qc(ds, cfg)
    assert len(calls) == 2  # earliest and latest of the one run, not of every variable
    by_var = {
        name: next(r.probability for r in v.tests if r.test == "impossible_date")
        for name, v in result.variables.items()
    }
    assert set(by_var) == {"O3_P1", "air_press_AC"}
    o3, p = by_var["O3_P1"], by_var["air_press_AC"]
    assert o3 is not p
    assert o3[0] == p[0] == 0.0  # the 1990 time, sorted first
    missing = np.isnan(ds["O3_P1"].values)
    assert missing.any()
    assert np.isnan(o3[missing]).all() and (p[missing] == 1.0).all()
    assert (o3[~missing][1:] == 1.0).all()
