"""Flag-aware resampling against an independent pandas computation (no database)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratoflow.dataset import make_dataset
from stratoflow.errors import ConfigError
from stratoflow.exporters.resample import (
    parse_resolution,
    resample_dataset,
    resample_series,
    synchronise,
)
from stratoflow.flags import Flag
from stratoflow.readers import DelimitedReader

CODES = np.array([0, 2, 3, 4, 7], dtype=np.uint8)
SEVERITY = {0: 0, 4: 1, 2: 2, 3: 3, 7: 4}


def _series(
    seed: int, n: int = 5_000, start: str = "2024-05-01T22:13:07.25"
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    steps = rng.integers(250, 3_000, n).astype("timedelta64[ms]")
    t = (np.datetime64(start, "ns") + np.cumsum(steps)).astype("datetime64[ns]")
    x = rng.normal(50.0, 8.0, n) + 1e4  # a large offset tests the variance's stability
    x[rng.random(n) < 0.03] = np.nan
    f = rng.choice(CODES, n, p=[0.6, 0.1, 0.1, 0.1, 0.1])
    return t, x, f


def _pandas(
    t: npt.NDArray[np.datetime64],
    x: npt.NDArray[np.float64],
    f: npt.NDArray[np.uint8],
    rule: str,
    valid: list[int],
) -> pd.DataFrame:
    """The reference: pandas resample on the valid points (NaN elsewhere)."""
    ok = np.isin(f, valid) & np.isfinite(x)
    s = pd.Series(np.where(ok, x, np.nan), index=pd.DatetimeIndex(t))
    r = s.resample(rule)
    flags = pd.Series(np.where(ok, f, 255), index=pd.DatetimeIndex(t))
    worst = flags.groupby(pd.Grouper(freq=rule)).agg(
        lambda g: max((int(v) for v in g if v != 255), key=SEVERITY.__getitem__, default=7)
    )
    majority = flags.groupby(pd.Grouper(freq=rule)).agg(
        lambda g: max(
            {int(v) for v in g if v != 255},
            key=lambda c: (int((g == c).sum()), SEVERITY[c]),
            default=7,
        )
    )
    return pd.DataFrame(
        {
            "mean": r.mean(),
            "std": r.std(ddof=1),
            "count": r.count(),
            "worst": worst,
            "majority": majority,
        }
    )


@pytest.mark.parametrize("rule", ["1s", "4s", "10s", "1min"])
@pytest.mark.parametrize("valid", [[0], [0, 2]])
def test_matches_pandas(rule: str, valid: list[int]) -> None:
    t, x, f = _series(seed=len(rule) + len(valid))
    ds = make_dataset(t, {"O3": (x, {"units": "1e-9"})}, flags={"O3": f})
    for aggregate in ("worst", "majority"):
        out = resample_dataset(ds, rule, valid_flags=valid, aggregate=aggregate)  # type: ignore[arg-type]
        ref = _pandas(t, x, f, rule, valid)
        assert np.array_equal(out["time"].values, ref.index.values.astype("datetime64[ns]"))
        np.testing.assert_allclose(out["O3"].values, ref["mean"].values, rtol=1e-12, atol=0)
        np.testing.assert_allclose(out["O3_std"].values, ref["std"].values, rtol=1e-9, atol=1e-9)
        assert np.array_equal(out["O3_count"].values, ref["count"].values)
        assert np.array_equal(out["O3_flag"].values, ref[aggregate].values.astype(np.uint8))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40_000),
            st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))),
            st.sampled_from([0, 2, 3, 4, 7]),
        ),
        min_size=1,
        max_size=60,
        unique_by=lambda p: p[0],
    ),
    st.sampled_from(["1s", "4s", "10s"]),
)
def test_property_matches_pandas(points: list[tuple[int, float, int]], rule: str) -> None:
    points.sort()
    t = np.datetime64("2024-01-01T23:59:50", "ns") + np.array(
        [p[0] for p in points], dtype="timedelta64[ms]"
    )
    x = np.array([p[1] for p in points])
    f = np.array([p[2] for p in points], dtype=np.uint8)
    ds = make_dataset(t, {"v": (x, {"units": "1"})}, flags={"v": f})
    out = resample_dataset(ds, rule, valid_flags=[0, 2], aggregate="majority")
    ref = _pandas(t, x, f, rule, [0, 2])
    np.testing.assert_allclose(out["v"].values, ref["mean"].values, rtol=1e-9, atol=1e-6)
    assert np.array_equal(out["v_count"].values, ref["count"].values)
    assert np.array_equal(out["v_flag"].values, ref["majority"].values.astype(np.uint8))


def test_aggregated_flags_by_hand() -> None:
    t = np.datetime64("2024-01-01T00:00:00", "ns") + np.arange(12).astype("timedelta64[s]")
    x = np.arange(12, dtype=np.float64)
    # bin 0: good good limited limited  bin 1: good limited limited bad  bin 2: bad missing x2, 3
    f = np.array([0, 0, 2, 2, 0, 2, 2, 3, 3, 7, 7, 3], dtype=np.uint8)
    step = np.timedelta64(4, "s")
    worst = resample_series(t, x, f, step=step, valid_flags=[0, 2], aggregate="worst")
    majority = resample_series(t, x, f, step=step, valid_flags=[0, 2], aggregate="majority")
    good_only = resample_series(t, x, f, step=step, valid_flags=[0])
    assert worst.flag.tolist() == [2, 2, 7]
    assert majority.flag.tolist() == [2, 2, 7]  # tie 2:2 goes to the worse flag; 1:2 majority
    assert worst.count.tolist() == [4, 3, 0]
    assert good_only.count.tolist() == [2, 1, 0] and good_only.flag.tolist() == [0, 0, 7]
    assert good_only.mean[:2].tolist() == [0.5, 4.0]
    assert np.isnan(good_only.std[1]) and np.isnan(worst.mean[2])  # one point: no std


def test_synchronise_puts_series_on_the_union_of_times() -> None:
    t1 = np.array([0, 2, 4], dtype="datetime64[s]").astype("datetime64[ns]")
    t2 = np.array([1, 2, 5], dtype="datetime64[s]").astype("datetime64[ns]")
    f = np.zeros(3, dtype=np.uint8)
    times, out = synchronise(
        {"a": (t1, np.array([1.0, 2.0, 3.0]), f), "b": (t2, np.array([4.0, 5.0, 6.0]), f)}
    )
    assert times.astype("datetime64[s]").astype(int).tolist() == [0, 1, 2, 4, 5]
    np.testing.assert_array_equal(out["a"][0], [1.0, np.nan, 2.0, 3.0, np.nan])
    assert out["b"][1].tolist() == [7, 0, 0, 7, 0]
    same, kept = synchronise({"a": (t1, np.array([1.0, 2.0, 3.0]), f)})
    assert same is not None and kept["a"][1] is f


def test_synchronise_leaves_text_gaps_empty() -> None:
    """A state series (stored text, as the FAIRO ``State``) on another time base: its gaps
    were filled with NaN and became the text ``"nan"``, which netCDF and CSV then wrote."""
    t1 = np.array([0, 2], dtype="datetime64[s]").astype("datetime64[ns]")
    t2 = np.array([1, 2], dtype="datetime64[s]").astype("datetime64[ns]")
    f = np.zeros(2, dtype=np.uint8)
    _, out = synchronise({"state": (t1, np.array(["MS", "ZE"]), f), "o3": (t2, np.ones(2), f)})
    assert out["state"][0].tolist() == ["MS", "", "ZE"]
    assert out["state"][1].tolist() == [0, 7, 0]


def test_options_are_checked() -> None:
    assert parse_resolution("1min") == np.timedelta64(60, "s")
    assert parse_resolution("4 s") == np.timedelta64(4, "s")
    for bad in ("10 parsecs", "0s", "-1s"):
        with pytest.raises(ConfigError):
            parse_resolution(bad)
    t = np.array(["2024-01-01"], dtype="datetime64[ns]")
    with pytest.raises(ConfigError, match="missing"):
        resample_series(
            t,
            np.ones(1),
            np.zeros(1, np.uint8),
            step=parse_resolution("1s"),
            valid_flags=[int(Flag.MISSING)],
        )
    with pytest.raises(ConfigError, match="aggregate"):
        resample_series(
            t, np.ones(1), np.zeros(1, np.uint8), step=parse_resolution("1s"), aggregate="median"
        )  # type: ignore[arg-type]


def test_resampled_dataset_is_standardized_and_described() -> None:
    t, x, f = _series(seed=3, n=500)
    ds = make_dataset(
        t,
        {"O3": (x, {"units": "1e-9", "standard_name": "mole_fraction_of_ozone_in_air"})},
        flags={"O3": f},
    )
    out = resample_dataset(ds, "10s")
    assert out["O3"].attrs["ancillary_variables"].split() == ["O3_count", "O3_std", "O3_flag"]
    assert out["O3"].attrs["cell_methods"].startswith("time: mean (interval: 10 s")
    assert out["O3_std"].attrs["units"] == "1e-9"
    assert out["O3_count"].dtype == np.int32 and out["O3_flag"].dtype == np.uint8
    assert (np.diff(out["time"].values) == np.timedelta64(10, "s")).all()


def test_text_variables_are_refused_by_name(shared_data: Path) -> None:
    """The real FAIRO state log has a text column (``State``: MS, ZE...): no mean exists."""
    ds = DelimitedReader(preset="fairo_dat").read(shared_data / "fairo_raw" / "11_30_01.DAT")
    with pytest.raises(ConfigError, match=r"'State' hold text .*native resolution"):
        resample_dataset(ds, "10s")
    numeric = resample_dataset(ds.drop_vars("State"), "10s")
    first, last = ds["time"].values[[0, -1]].astype("datetime64[s]").astype(np.int64) // 10
    assert numeric.sizes["time"] == last - first + 1


def test_longitudes_across_the_antimeridian_average_on_the_right_side() -> None:
    """179.5 and -179.5 degrees east average to 180, not to 0 (the other side of the Earth);
    bins away from the antimeridian stay the plain mean, as pandas computes it."""
    t = np.datetime64("2024-01-01T10:00:00", "ns") + np.arange(8) * np.timedelta64(1, "s")
    lon = np.array([179.0, 179.5, -179.5, -178.0, 10.0, 11.0, np.nan, 12.5])
    ds = make_dataset(
        t,
        {
            "lon": (lon, {"units": "degrees_east", "long_name": "longitude"}),
            "lat": (np.zeros(8), {"units": "degrees_north", "long_name": "latitude"}),
        },
    )
    out = resample_dataset(ds, "4s", coordinates=("lon", "lat"))
    unwrapped = np.array([179.0, 179.5, 180.5, 182.0])
    assert out["lon"].values[0] == pytest.approx(unwrapped.mean() - 360.0)
    assert out["lon_std"].values[0] == pytest.approx(unwrapped.std(ddof=1))
    assert out["lon"].values[1] == pd.Series(lon[4:]).mean()
    assert out["lon_count"].values.tolist() == [4, 3]
