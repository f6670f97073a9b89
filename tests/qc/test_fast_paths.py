"""The fast paths of the shared tests equal plain, dense reference computations.

The engine only computes the few points beyond a limit (soft limits), builds rates and spike
heights in place, recognises regular sampling from integer steps, and searches flat windows
only inside stretches of small steps. Each test here recomputes the same outcome the obvious
way (every point, every window) and demands equality, on inputs made to hit the edge cases:
NaN and infinities, values exactly at a limit, irregular and repeated time steps, float32
input, arrays of 0 to 4 points, and tolerances so large that nearly every window is a
candidate.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from stratoflow.errors import QCError
from stratoflow.qc import QCInput, run_test, soft_limit, soft_range
from stratoflow.qc.base import _WORDWISE_FROM, BLOCK, TimeAxis, get_test
from stratoflow.qc.window import NETWORK_MAX_WINDOW, centered_median_mad, flat_windows, linked_runs

F64 = npt.NDArray[np.float64]
BELOW_ONE = float(np.nextafter(np.float32(1), np.float32(0)))


def _data(seed: int, n: int) -> tuple[F64, npt.NDArray[np.datetime64]]:
    """Quantised walk (values hit limits exactly) with spikes, NaN, inf, a NaN run, a flat run."""
    rng = np.random.default_rng(seed)
    x = np.round(np.cumsum(rng.normal(0, 2, n)) + 50, 0)
    if n >= 20:
        x[rng.choice(n, n // 20, replace=False)] += 60
        x[rng.choice(n, n // 15, replace=False)] = np.nan
        x[rng.choice(n, 2, replace=False)] = np.inf
        s = int(rng.integers(0, n - 10))
        x[s : s + 40] = x[s]
        x[s + 45 : s + 52] = np.nan
    steps = rng.choice([1, 1, 1, 2, 5], n) if seed % 2 else np.ones(n, dtype=np.int64)
    t = (np.cumsum(steps) * 1_000_000_000).astype("datetime64[ns]")
    return x, t


def _soft_dense(x: F64, d: Any, b: Any) -> F64:
    """soft_limit written out for every point (higher is worse)."""
    out = np.ones(x.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        if d is not None and b is not None:
            w = np.broadcast_to(np.asarray(b - d, dtype=np.float64), x.shape)
            frac = (x - d) / np.where(w > 0, w, 1.0)
            soft = np.where(w > 0, np.clip(1 - 0.5 * frac, 0.5, BELOW_ONE), 0.5)
            out = np.where(x > d, soft, out)
            out = np.where(x > b, 0.0, out)
        elif d is not None:
            out = np.where(x > d, 0.5, out)
        elif b is not None:
            out = np.where(x > b, 0.0, out)
    return np.where(np.isnan(x), np.nan, out)


def _same(a: npt.ArrayLike, b: npt.ArrayLike) -> None:
    np.testing.assert_array_equal(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))


def _finite_or_nan(x: F64) -> F64:
    return np.where(np.isfinite(x), x, np.nan)


# whole blocks of two-limit comparisons and a partial last one; the word-wise search for the
# selected points (sizes from _WORDWISE_FROM up) with a tail that is no whole word
_LARGE = [2 * BLOCK + 13, _WORDWISE_FROM + 5]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 500, *_LARGE])
def test_soft_range_equals_dense(seed: int, n: int) -> None:
    x, _ = _data(seed, n)
    x = _finite_or_nan(x)
    z = np.linspace(0, 1, n)
    lo, hi = 30 + 5 * z, 70 - 5 * z
    if n > 2:
        hi[1] = np.nan  # a limit with no value: not passed
    for limits in [
        (40.0, 60.0, 30.0, 70.0),
        (40.0, 60.0, 40.0, 60.0),  # doubtful = bad: no soft band
        (None, 60.0, None, 70.0),
        (40.0, None, None, None),
        (None, None, 30.0, None),
        (None, None, None, None),
        (lo, hi, lo - 10, hi + 10),
        (lo, hi, None, None),
    ]:
        d_min, d_max, b_min, b_max = limits
        upper = _soft_dense(x, d_max, b_max)
        neg = [None if v is None else -np.asarray(v) for v in (d_min, b_min)]
        lower = _soft_dense(-x, *neg)
        _same(soft_range(x, d_min, d_max, b_min, b_max), np.minimum(upper, lower))
        _same(soft_limit(x, d_max, b_max), upper)


@pytest.mark.parametrize(
    "limits",
    [
        (-1e308, -1e-300, 1e-300, 1.7e308),  # soft bands wider than half the float range
        (-5e-324, -0.0, 0.0, 5e-324),  # the narrowest bands: fractions of 0, 1 or more
        (1.0, 1.0 + 2**-52, 1.0 + 2**-51, 1.0 + 2**-50),
        (-3e300, 2e300, 2.5e300, 9e307),
    ],
)
def test_soft_range_fixed_limits_at_float_extremes(limits: tuple[float, ...]) -> None:
    """Fixed limits take a shorter arithmetic (-0.5 * frac in one division); at spans near
    overflow, subnormal fractions and values one ulp either side of each limit it still
    equals the dense formula."""
    b_min, d_min, d_max, b_max = limits
    edges = np.array(limits)
    x = np.concatenate(
        [
            edges,
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            np.linspace(b_min / 2, b_max / 2, 101),
            [np.nan, 0.0, -0.0, 1e-310, -1e-310, 1.0, -1.0, 1.7e308, -1.7e308],
        ]
    )
    with np.errstate(over="ignore"):  # the dense formula's fractions overflow; ours do not
        upper = _soft_dense(x, d_max, b_max)
        lower = _soft_dense(-x, -d_min, -b_min)
    _same(soft_range(x, d_min, d_max, b_min, b_max), np.minimum(upper, lower))
    _same(soft_limit(x, d_max, b_max), upper)


@pytest.mark.parametrize("threads", ["2", "3"])
def test_pieces_in_threads_equal_one_pass(monkeypatch: pytest.MonkeyPatch, threads: str) -> None:
    """Large calls are split into pieces run in threads (stratoflow.qc.parallel): the outcome
    is the one-thread one bit for bit, with a jump, NaN and inf right at the pieces' edges
    (a piece's first rate needs the last value of the piece before)."""
    from stratoflow.qc import parallel
    from stratoflow.qc.tests import rate

    n = 3 * BLOCK + 1_234
    x, t = _data(0, n)  # regular time: the blocked rate path
    x[0] = np.nan
    x[BLOCK] = x[BLOCK - 1] + 100.0  # a bad rate at the first point of the second piece
    x[2 * BLOCK - 1], x[2 * BLOCK] = np.nan, 55.0  # passes: after a missing value
    x[3 * BLOCK] = np.inf
    calls: list[tuple[str, Any, Any]] = [
        ("gross_range", None, {"doubtful_min": 10, "doubtful_max": 80, "bad_max": 100}),
        ("gross_range", None, {"bad_min": 20}),
        ("rate_of_change", t, {"doubtful": 1.5, "bad": 20}),
        ("rate_of_change", t, {"bad": 3}),
    ]
    monkeypatch.setattr(rate, "_BLOCKED_FROM", 0)
    monkeypatch.setenv(parallel.ENV, "1")
    one = [run_test(name, x, tt, params) for name, tt, params in calls]
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)
    monkeypatch.setenv(parallel.ENV, threads)
    assert [b[0] for b in parallel.pieces(n, BLOCK)][:4] == [0, BLOCK, 2 * BLOCK, 3 * BLOCK]
    for (name, tt, params), alone in zip(calls, one, strict=True):
        split = run_test(name, x, tt, params)
        assert np.array_equal(split.view(np.uint32), alone.view(np.uint32)), name
    # the search for a step that differs, in pieces too: one in the last piece is found
    assert rate._regular_step(t) == 1.0
    odd = t.copy()
    odd[3 * BLOCK + 5] = odd[3 * BLOCK + 4]  # a step of 0 and one of 2 s: the same span
    assert rate._regular_step(odd) is None


def test_threads_knob_and_a_forked_process_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """STRATOFLOW_QC_THREADS must be a whole number >= 1, said naming it; a forked child (whose
    inherited pool has no threads) gets a pool of its own instead of waiting for ever."""
    from stratoflow.qc import parallel

    monkeypatch.setattr(parallel, "PARALLEL_FROM", 0)
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(parallel.ENV, bad)
        with pytest.raises(QCError, match="STRATOFLOW_QC_THREADS must be a whole number"):
            run_test("gross_range", np.zeros(10), params={"bad_max": 1})
    monkeypatch.delenv(parallel.ENV)
    assert 1 <= parallel.qc_threads() <= parallel.MAX_THREADS
    pool = parallel._executor(1)
    assert parallel._executor(1) is pool
    monkeypatch.setattr(parallel.os, "getpid", lambda: -1)
    assert parallel._executor(1) is not pool


@pytest.mark.parametrize("step_ns", [1_000_000_000, 4_000_000_000, 100_000_000, 333_333_333])
@pytest.mark.parametrize("seed", range(3))
def test_rate_of_change_in_blocks_equals_whole_array(
    monkeypatch: pytest.MonkeyPatch, seed: int, step_ns: int
) -> None:
    """Long regular series are differenced in blocks: the same outcome as the rate array.

    Small blocks and a zero size threshold put a few thousand points through several whole
    blocks and a partial one; quantised values put many rates exactly at a limit, where the
    selection (limit x step, less a margin) must still catch every rate beyond it.
    """
    from stratoflow.qc.tests import rate

    n = 5_003
    x, _ = _data(seed, n)
    x[7] = -np.inf
    x[-1] = np.nan
    t = (np.arange(n, dtype=np.int64) * step_ns + 10**18).astype("datetime64[ns]")
    limit = 1e9 / step_ns  # a difference of 1 is exactly the doubtful rate
    params = {"doubtful": limit, "bad": 5 * limit}
    whole = run_test("rate_of_change", x, t, params)
    only_bad = run_test("rate_of_change", x, t, {"bad": limit})
    monkeypatch.setattr(rate, "_BLOCKED_FROM", 0)
    monkeypatch.setattr(rate, "BLOCK", 1_000)
    assert rate._regular_step(t) == step_ns / 1e9
    _same(run_test("rate_of_change", x, t, params), whole)
    _same(run_test("rate_of_change", x, t, {"bad": limit}), only_bad)
    # steps that differ but add up to the same span are irregular: the rate array is used
    odd = t.copy()
    odd[2_500] = odd[2_499]  # one step of 0 and one of twice the step
    assert rate._regular_step(odd) is None
    monkeypatch.setattr(rate, "_BLOCKED_FROM", 1 << 40)
    irregular = run_test("rate_of_change", x, odd, params)
    monkeypatch.setattr(rate, "_BLOCKED_FROM", 0)
    _same(run_test("rate_of_change", x, odd, params), irregular)
    assert rate._regular_step(t[:1]) is None
    assert rate._regular_step(t[::-1]) is None


@pytest.mark.parametrize(
    ("step_ns", "limit"), [(700_000_000, 123.456), (100_000_000, 0.3), (333_333_333, 1 / 3)]
)
def test_rate_of_change_in_blocks_catches_rates_a_few_ulps_beyond_the_limit(
    monkeypatch: pytest.MonkeyPatch, step_ns: int, limit: float
) -> None:
    """Differences within rounding of ``limit * step``: their rates fall on both sides.

    (At 0.7 s and 123.456 per second, a difference the product does not exceed still has a
    rate beyond the limit once divided: without the margin the blocks would miss it.)
    """
    from stratoflow.qc.tests import rate

    base = limit * step_ns / 1e9
    dx = base * (1 + np.arange(-40, 41) * 2.0**-52)
    x = np.zeros(2 * dx.size)
    x[1::2] = dx  # differences +dx and -dx, exactly
    t = (np.arange(x.size, dtype=np.int64) * step_ns).astype("datetime64[ns]")
    params = {"doubtful": limit, "bad": 3 * limit}
    whole = run_test("rate_of_change", x, t, params)
    assert (whole < 1).any() and (whole == 1).any()
    monkeypatch.setattr(rate, "_BLOCKED_FROM", 0)
    _same(run_test("rate_of_change", x, t, params), whole)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 400])
def test_rate_of_change_equals_dense(seed: int, n: int) -> None:
    x, t = _data(seed, n)
    t[n // 2 : n // 2 + 1] = t[n // 2 - 1 : n // 2] if n > 3 else t[n // 2 : n // 2 + 1]
    p = run_test("rate_of_change", x, t, {"doubtful": 1.0, "bad": 5.0})
    xv = _finite_or_nan(x)
    dt = np.diff(t.view(np.int64)) / 1e9
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.r_[0.0, np.abs(np.diff(xv)) / dt] if n else np.empty(0)
    rate[np.isnan(rate) & ~np.isnan(xv)] = 0.0  # next to a missing value: passes
    _same(p, _soft_dense(rate, 1.0, 5.0))
    if n:  # without time, one point per second
        regular = (np.arange(n) * 1_000_000_000).astype("datetime64[ns]")
        _same(
            run_test("rate_of_change", x, params={"doubtful": 1.0, "bad": 5.0}),
            run_test("rate_of_change", x, regular, {"doubtful": 1.0, "bad": 5.0}),
        )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 400])
@pytest.mark.parametrize("method", ["average", "differential"])
def test_spike_equals_dense(seed: int, n: int, method: str) -> None:
    x, _ = _data(seed, n)
    p = run_test("spike", x, params={"doubtful": 3.0, "bad": 10.0, "method": method})
    xv = _finite_or_nan(x)
    height = np.full(n, np.nan)
    if n >= 3:
        prev, mid, nxt = xv[:-2], xv[1:-1], xv[2:]
        if method == "average":
            height[1:-1] = np.abs(mid - (prev + nxt) / 2)
        else:
            up, down = mid - prev, nxt - mid
            with np.errstate(invalid="ignore"):
                h = np.minimum(np.abs(up), np.abs(down))
                height[1:-1] = np.where(up * down >= 0, 0.0, h)
    _same(p, _soft_dense(height, 3.0, 10.0))


def _flat_dense(x: F64, count: int, tol: float, whole: bool) -> npt.NDArray[np.bool_]:
    """Flat windows of count + 1 points, every window computed (NaN ignored)."""
    flagged = np.zeros(x.shape, dtype=bool)
    w = count + 1
    if w > x.size:
        return flagged
    win = sliding_window_view(x, w)
    valid = (~np.isnan(win)).any(axis=1)
    filled_hi = np.where(np.isnan(win), -np.inf, win).max(axis=1)
    filled_lo = np.where(np.isnan(win), np.inf, win).min(axis=1)
    flat = valid & (filled_hi - filled_lo < tol)
    if not whole:
        flagged[count:] = flat
        return flagged
    for offset in range(w):  # loop over window offsets, not points
        flagged[offset : offset + flat.size] |= flat
    return flagged


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tol", [0.0, 0.5, 1.0, 4.0, 50.0])
@pytest.mark.parametrize("count", [0, 1, 2, 7, 30])
@pytest.mark.parametrize("whole", [False, True])
def test_flat_windows_equal_every_window(seed: int, tol: float, count: int, whole: bool) -> None:
    x, _ = _data(seed, 300)
    x = _finite_or_nan(x)
    got = np.zeros(x.shape, dtype=bool)
    got[flat_windows(x, count + 1, tol, linked_runs(x, tol), cover=whole)] = True
    np.testing.assert_array_equal(got, _flat_dense(x, count, tol, whole))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 300])
@pytest.mark.parametrize("whole", [False, True])
def test_flat_line_equals_dense(seed: int, n: int, whole: bool) -> None:
    x, t = _data(seed, n)
    params = {"doubtful_duration": 8, "bad_duration": 20, "tolerance": 1.5, "whole_window": whole}
    p = run_test("flat_line", x, t, params)
    xv = _finite_or_nan(x)
    expected = np.ones(n)
    if n >= 3:
        secs = (t.view(np.int64) - t.view(np.int64)[0]) / 1e9
        step = float(np.median(np.diff(secs)))
        for duration, prob in ((8, 0.5), (20, 0.0)):
            expected[_flat_dense(xv, int(duration // step), 1.5, whole)] = prob
    expected[np.isnan(xv)] = np.nan
    _same(p, expected)


def _stuck_dense(
    x: F64, t: npt.NDArray[np.datetime64], d: float, b: float, tol: float, k: int, f: float
) -> F64:
    """stuck_value written out run by run: every valid point, every run, in a Python loop."""
    if not x.size:
        return np.empty(0)
    secs = (t.view(np.int64) - t.view(np.int64)[0]) / 1e9
    idx = [i for i in range(x.size) if not np.isnan(x[i])]
    out = np.full(x.size, np.nan)
    steps = [abs(x[idx[j + 1]] - x[idx[j]]) for j in range(len(idx) - 1)]
    runs: list[list[int]] = []
    for j in range(len(idx)):
        if j == 0 or steps[j - 1] > tol:
            runs.append([])
        runs[-1].append(j)
    moving = [s for s in steps if s > tol]
    quantised = len(steps) >= 20 and 0 < len(moving) <= 0.8 * len(steps)
    q = float(np.median(moving)) if quantised else 0.0
    for r, run in enumerate(runs):
        duration = abs(secs[idx[run[-1]]] - secs[idx[run[0]]]) if len(run) >= k else 0.0
        if q > 0 and f > 1 and len(runs) > 2:
            entry = steps[run[0] - 1] if r > 0 else 0.0
            leave = steps[run[-1]] if r < len(runs) - 1 else 0.0
            if entry <= 2 * q and leave <= 2 * q:
                duration /= f
        for j in run:
            out[idx[j]] = _soft_dense(np.array([duration]), d, b)[0]
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 400])
@pytest.mark.parametrize(("tol", "k", "f"), [(0.0, 5, 5.0), (1.5, 2, 1.0), (2.5, 3, 3.0)])
def test_stuck_value_equals_dense(seed: int, n: int, tol: float, k: int, f: float) -> None:
    """Only runs of ``min_points`` values or more are computed; the outcome is every run's."""
    x, t = _data(seed, n)
    if seed >= 4:  # continuous data with a few stuck stretches: the plateau rule stays off
        x = np.sin(np.arange(n) / 7.0) * 30 + np.random.default_rng(seed).normal(0, 1, n)
        for s in range(0, n - 30, 97):
            x[s : s + 12 + s % 19] = x[s]
        if seed == 5:
            t = t[::-1].copy()  # newest first: durations go backwards in time
    params = {
        "doubtful_duration": 6,
        "bad_duration": 15,
        "tolerance": tol,
        "min_points": k,
        "plateau_factor": f,
    }
    p = run_test("stuck_value", x, t, params)
    _same(p, _stuck_dense(_finite_or_nan(x), t, 6, 15, tol, k, f))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [0, 1, 2, 500, *_LARGE])
def test_range_by_equals_dense(seed: int, n: int) -> None:
    """Limits are interpolated only outside the table's inner envelope; the outcome is that of
    interpolating every point, NaN where the ``by`` variable is missing."""
    x, _ = _data(seed, n)
    rng = np.random.default_rng(seed)
    z = rng.uniform(5_000, 110_000, n)  # beyond the first and last rows too
    z[rng.choice(n, n // 10, replace=False)] = np.nan
    table = [
        [15000, 20, 110, 0, 160],
        [30000, 35, 90, 10, 120],
        [60000, 45, 70, 40, 75],  # an inner envelope of [45, 70]: many points outside it
        [105000, 25, 95, 25, 130],  # a bad limit equal to a doubtful one
    ]
    x[: min(n, 6)] = [45.0, 70.0, 44.0, 71.0, np.inf, -np.inf][: min(n, 6)]
    t = np.asarray(table, dtype=np.float64)
    expected = soft_range(_finite_or_nan(x), *(np.interp(z, t[:, 0], t[:, c]) for c in range(1, 5)))
    expected[np.isnan(z)] = np.nan
    data = QCInput(
        _finite_or_nan(x), lambda: np.empty(0, "datetime64[ns]"), "O3", other=lambda _: z
    )
    _same(get_test("range_by")(data, by="pressure", table=table), expected)


def test_flat_line_whole_window_flags_the_start_of_a_stuck_period() -> None:
    x = np.sin(np.arange(200.0))
    x[50:100] = 3.0
    params = {"doubtful_duration": 20, "bad_duration": 20, "tolerance": 0.01}
    end = run_test("flat_line", x, params=params)
    whole = run_test("flat_line", x, params=params | {"whole_window": True})
    assert np.flatnonzero(end == 0).tolist() == list(range(70, 100))
    assert np.flatnonzero(whole == 0).tolist() == list(range(50, 100))


@pytest.mark.parametrize("name", ["gross_range", "spike", "rate_of_change", "flat_line"])
def test_float32_input_is_judged_as_float64(name: str) -> None:
    """float32 data gives the result of its exact float64 values (limits are not rounded)."""
    x32 = (np.round(np.cumsum(np.random.default_rng(3).normal(0, 2, 500)), 1) + 50).astype(
        np.float32
    )
    x32[[10, 11, 200]] = np.nan
    params: dict[str, Any] = {
        "gross_range": {"doubtful_min": 40.1, "doubtful_max": 60.1, "bad_min": 30, "bad_max": 70},
        "spike": {"doubtful": 0.3, "bad": 3.0},
        "rate_of_change": {"doubtful": 0.3, "bad": 3.0},
        "flat_line": {"doubtful_duration": 2, "bad_duration": 4, "tolerance": 0.15},
    }[name]
    p32 = run_test(name, x32, params=params)
    _same(p32, run_test(name, x32.astype(np.float64), params=params))
    assert p32.dtype == np.float32


def test_run_test_leaves_the_input_alone_and_masks_infinities() -> None:
    x = np.array([1.0, np.inf, 3.0, -np.inf, 5.0])
    before = x.copy()
    p = run_test("gross_range", x, params={"bad_min": 0, "bad_max": 4})
    np.testing.assert_array_equal(x, before)
    assert np.isnan(p[[1, 3]]).all() and p[[0, 2, 4]].tolist() == [1.0, 1.0, 0.0]


def test_time_given_as_a_function_is_built_once_and_only_when_used() -> None:
    calls: list[int] = []

    def make() -> npt.NDArray[np.datetime64]:
        calls.append(1)
        return np.arange(3).astype("datetime64[s]").astype("datetime64[ns]")

    data = QCInput(np.zeros(3), make, "x")
    assert calls == []
    assert data.time is data.time and calls == [1]
    assert data.seconds().tolist() == [0.0, 1.0, 2.0]


def test_a_shared_time_axis_derives_seconds_and_step_once_and_read_only() -> None:
    """Every test of a QC run shares one TimeAxis: seconds are computed once, for all of them,
    and no test can change them under the next one; a missing time is still refused, naming
    the variable that asked."""
    t = (np.array([0, 2, 3, 7]) * 1_000_000_000).astype("datetime64[ns]")
    axis = TimeAxis(t)
    a, b = QCInput(np.zeros(4), axis, "O3"), QCInput(np.ones(4), axis, "CO")
    assert a.seconds() is b.seconds()
    assert a.seconds().tolist() == [0.0, 2.0, 3.0, 7.0]
    with pytest.raises(ValueError, match="read-only"):
        a.seconds()[0] = 5.0
    assert b.median_step() == 2.0 and TimeAxis(t[::-1].copy()).median_step() == 2.0
    assert TimeAxis(t[:2] + np.timedelta64(5, "s")).median_step() == 2.0  # regular: no sort
    nat = t.copy()
    nat[2] = np.datetime64("NaT")
    shared = TimeAxis(nat)
    with pytest.raises(QCError, match=r"CO: time is missing \(NaT\) at point 2"):
        QCInput(np.ones(4), shared, "CO").seconds()


BOUNDED_PARAMS: dict[str, dict[str, Any]] = {
    "gross_range": {"doubtful_min": -1e300, "doubtful_max": 1e300, "bad_min": -1e308},
    "spike": {"doubtful": 1e-300, "bad": 1e300},
    "rate_of_change": {"doubtful": 0.0, "bad": 1e-300},
    "jump": {"window": 2, "doubtful": 0.0, "bad": 1e300},
    "hampel": {"window": 3, "doubtful": 1e-300, "bad": 1e300},
    "flat_line": {"doubtful_duration": 1, "bad_duration": 2, "tolerance": 1e300},
    "low_variance": {"window": 3, "doubtful_std": 1e300, "bad_std": 0.0, "min_valid": 2},
    "stuck_value": {"doubtful_duration": 1, "bad_duration": 1e300, "tolerance": 1e300},
}


@pytest.mark.parametrize("name", sorted(BOUNDED_PARAMS))
def test_bounded_tests_return_probabilities(name: str) -> None:
    """Tests declared ``bounded`` skip the framework's clip: their results must need none."""
    from stratoflow.qc import get_test

    assert get_test(name).bounded
    rng = np.random.default_rng(11)
    x = rng.choice([-1e308, -1.0, 0.0, 5e-324, 1.0, 1e308, np.nan, np.inf], 400)
    x[::7] = np.cumsum(rng.normal(0, 1e300, x[::7].size))
    t = (np.cumsum(rng.choice([0, 1, 1, 3], 400)) * 1_000_000_000).astype("datetime64[ns]")
    with np.errstate(all="ignore"):
        p = get_test(name)(QCInput(x, t, "x"), **get_test(name).check(BOUNDED_PARAMS[name]))
    p = np.asarray(p)
    assert p.shape == x.shape
    assert bool(((p >= 0) & (p <= 1) | np.isnan(p)).all())


@pytest.mark.parametrize("n", [0, 1, 7, 8, 8199, _WORDWISE_FROM - 1, _WORDWISE_FROM + 7])
@pytest.mark.parametrize("density", [0.0, 0.0005, 0.01, 0.5, 1.0])
def test_sparse_flatnonzero_equals_numpy(n: int, density: float) -> None:
    from stratoflow.qc.base import sparse_flatnonzero, sparse_flatzero

    rng = np.random.default_rng(n)
    mask = rng.random(n) < density
    if n:
        mask[-1] = True  # the tail after the last whole word
    np.testing.assert_array_equal(sparse_flatnonzero(mask), np.flatnonzero(mask))
    np.testing.assert_array_equal(sparse_flatnonzero(mask[::2]), np.flatnonzero(mask[::2]))
    # the same search for False points, without a negated copy
    np.testing.assert_array_equal(sparse_flatzero(~mask), np.flatnonzero(mask))


@pytest.mark.parametrize("density", [0.0, 0.0005, 0.003, 0.02, 0.5])
def test_outside_points_found_on_two_levels_equal_numpy(density: float) -> None:
    """From 8 x _WORDWISE_FROM points the busy words are themselves searched word-wise, and
    not_inside notes them while comparing; a tail of no whole word."""
    from stratoflow.qc.base import not_inside, sparse_flatnonzero, sparse_flatzero

    n = 8 * _WORDWISE_FROM + 13
    rng = np.random.default_rng(7)
    x = rng.normal(50.0, 5.0, n)
    out = rng.random(n) < density
    x[out] = rng.choice([np.nan, -np.inf, 1e6, -1e6], int(out.sum()))
    x[-1] = np.nan
    mask = ~np.isnan(x)
    np.testing.assert_array_equal(sparse_flatnonzero(~mask), np.flatnonzero(~mask))
    np.testing.assert_array_equal(sparse_flatzero(mask), np.flatnonzero(~mask))
    expected = np.flatnonzero(~((x >= 0.0) & (x <= 100.0)))
    for scratch in (None, np.empty(n, np.float32), np.empty(n, np.uint8)):
        np.testing.assert_array_equal(not_inside(x, 0.0, 100.0, scratch), expected)


@pytest.mark.parametrize("shape", [0, 5, (3, 4), 1 << 20, (1 << 20) + 3, (2, 1 << 20)])
def test_new_probability_is_float32_of_the_shape_and_large_ones_start_on_a_huge_page(
    shape: int | tuple[int, ...],
) -> None:
    from stratoflow.qc.base import new_probability

    p = new_probability(shape)
    assert p.dtype == np.float32 and p.flags.c_contiguous and p.flags.writeable
    assert p.shape == ((shape,) if isinstance(shape, int) else shape)
    if p.nbytes >= 1 << 22:
        assert p.ctypes.data % (1 << 21) == 0
    p.fill(0.5)  # every byte is usable
    assert float(p.sum(dtype=np.float64)) == 0.5 * p.size


def _median_mad_every_window(a: F64, half: int, min_valid: int) -> tuple[F64, F64]:
    """np.nanmedian over every truncated centred window: the plain definition."""
    n, med, mad = a.size, np.full(a.size, np.nan), np.full(a.size, np.nan)
    for i in range(n):
        win = a[max(0, i - half) : i + half + 1]
        win = win[~np.isnan(win)]
        if win.size >= min_valid and win.size:
            med[i] = np.median(win)
            mad[i] = np.median(np.abs(win - med[i]))
    return med, mad


@pytest.mark.parametrize("window", [1, 3, 5, 9, 15, NETWORK_MAX_WINDOW, NETWORK_MAX_WINDOW + 2])
@pytest.mark.parametrize(("seed", "n"), [(0, 0), (1, 4), (2, 300), (3, 2_000)])
def test_window_median_and_mad_equal_every_window(window: int, seed: int, n: int) -> None:
    """The selection network (NaN-free windows) and the sort (the rest) equal the definition,
    ties (quantised data) and windows cut by NaN or the ends of the series included."""
    x, _ = _data(seed, n)
    x[~np.isfinite(x)] = np.nan  # the framework masks infinities before a test sees them
    for min_valid in (1, 3, window):
        got = centered_median_mad(x, window // 2, min_valid)
        want = _median_mad_every_window(x, window // 2, min_valid)
        np.testing.assert_array_equal(got[0], want[0], err_msg="median")
        np.testing.assert_array_equal(got[1], want[1], err_msg="MAD")


@pytest.mark.parametrize("window", [9, 31])
def test_hampel_in_chunks_equals_the_whole_series(
    window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks with their neighbours give every point the window of the whole series: NaN runs
    and spikes across chunk edges, and both the network and the sorting path."""
    chunk = 257  # small chunks, so that the dense reference stays quick
    monkeypatch.setattr(importlib.import_module("stratoflow.qc.tests.spike"), "CHUNK", chunk)
    n = 2 * chunk + 11
    x, t = _data(3, n)
    x[~np.isfinite(x)] = np.nan
    for edge in (chunk, 2 * chunk):
        x[edge - 3 : edge + 2] = np.nan
        x[edge + 4] += 500.0
        x[edge - 6] -= 500.0
    params = {"window": window, "doubtful": 3.0, "bad": 6.0, "min_scale": 0.5, "min_valid": 3}
    med, mad = _median_mad_every_window(x, window // 2, 3)
    scale = np.maximum(1.4826 * mad, 0.5)
    score = np.abs(x - med) / scale
    score[np.isnan(med)] = np.nan
    _same(run_test("hampel", x, t, params), soft_limit(score, 3.0, 6.0))


@pytest.mark.parametrize("tolerance", [0.0, 0.05, 2.0])
def test_missing_marks_exactly_the_fill_values_within_tolerance(tolerance: float) -> None:
    x = np.array([-9999.0, -9998.96, 5.0, np.nan, 99999.0, 1e-320, 0.0, -0.0, 10.0, 7.9])
    fills = [-9999.0, 99999.0, 0.0, 8.0]
    p = run_test("missing", x, params={"fill_values": fills, "tolerance": tolerance})
    with np.errstate(invalid="ignore"):
        want = np.zeros(x.size, dtype=bool)
        for fill in fills:
            want |= np.abs(x - fill) <= tolerance
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p == 0.0, want)
    assert np.isnan(p[~want]).all()


def _to_flags_dense(p: npt.ArrayLike, missing: Any, good: float, bad: float) -> Any:
    """to_flags written out with float64 comparisons and one mask per flag class."""
    from stratoflow.flags import Flag

    q = np.asarray(p, dtype=np.float64)
    out = np.full(q.shape, int(Flag.NOT_VALIDATED), dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        out[q >= good] = int(Flag.GOOD)
        out[(q < good) & (q >= bad)] = int(Flag.LIMITED)
        out[q < bad] = int(Flag.BAD)
    if missing is not None:
        out[np.asarray(missing, dtype=bool)] = int(Flag.MISSING)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("good", "bad"), [(1.0, 0.5), (0.9, 0.3), (0.7, 0.7), (0.1, 0.0), (1.0, 1.0), (1 / 3, 0.1)]
)
@pytest.mark.parametrize("n", [0, 5, 1_000, _WORDWISE_FROM + 13])
def test_to_flags_equals_float64_masks(dtype: Any, good: float, bad: float, n: int) -> None:
    from stratoflow.qc import Thresholds, to_flags

    rng = np.random.default_rng(n)
    p = rng.random(n).astype(dtype)
    if n:
        # values at, just below and just above each threshold in the array's own precision
        edges = []
        for v in (good, bad):
            c = dtype(v)
            edges += [c, np.nextafter(c, dtype(0)), np.nextafter(c, dtype(2))]
        p[rng.choice(n, min(n, 60), replace=False)] = rng.choice(np.array(edges, dtype), min(n, 60))
        p[rng.choice(n, n // 7, replace=False)] = np.nan
    missing = rng.random(n) < 0.1
    got = to_flags(p, missing, Thresholds(good, bad))
    assert got.dtype == np.uint8
    assert np.array_equal(got, _to_flags_dense(p, missing, good, bad))
    assert np.array_equal(
        to_flags(p, None, Thresholds(good, bad)), _to_flags_dense(p, None, good, bad)
    )


def test_to_flags_keeps_the_shape_and_reads_any_layout() -> None:
    from stratoflow.qc import to_flags

    p = np.array([[1.0, 0.7, np.nan], [0.2, 1.0, 0.5]], dtype=np.float32)
    missing = np.array([[False, False, False], [False, True, False]])
    want = _to_flags_dense(p, missing, 1.0, 0.5)
    assert np.array_equal(to_flags(p, missing), want)
    assert np.array_equal(to_flags(p.T, missing.T), want.T)  # not C-contiguous
    assert np.array_equal(to_flags([1.0, 0.0, 0.75]), [0, 3, 2])  # a plain list
    with pytest.raises(ValueError, match="broadcast"):
        to_flags(p, missing[:, :2])


@pytest.mark.parametrize("method", ["worst", "mean", "vote", "critical"])
def test_evaluations_mark_no_opinion_and_missing(method: str) -> None:
    """The common rules hold whether or not a method's NaN already says "no opinion"."""
    from stratoflow.flags import Flag
    from stratoflow.qc import get_evaluation
    from stratoflow.qc.evaluation import TestInfo

    rng = np.random.default_rng(3)
    n = _WORDWISE_FROM + 5
    stack = rng.choice(np.array([1.0, 0.9, 0.6, 0.4, 0.0, np.nan], np.float32), (3, n))
    stack[:, 10:20] = np.nan  # no test has an opinion there
    missing = rng.random(n) < 0.05
    missing[15] = True
    ev = get_evaluation(method)
    prob, flags = ev(
        stack, missing, [TestInfo("a"), TestInfo("b", False), TestInfo("c")], **ev.check({})
    )
    no_opinion = np.isnan(stack).all(axis=0)
    assert (flags[no_opinion & ~missing] == int(Flag.NOT_VALIDATED)).all()
    assert (flags[missing] == int(Flag.MISSING)).all()
    assert not (flags[~missing & ~no_opinion] == int(Flag.NOT_VALIDATED)).any()
    if prob is not None:
        assert np.isnan(prob[missing]).all()
    empty = ev(np.empty((0, 4), np.float32), np.array([0, 1, 0, 0], bool), [], **ev.check({}))[1]
    assert empty.tolist() == [4, 7, 4, 4]


def test_flag_codes_fit_the_arithmetic_of_to_flags() -> None:
    from stratoflow.flags import Flag

    assert (Flag.BAD, Flag.BAD - 1, Flag.BAD - 3) == (Flag.BAD, Flag.LIMITED, Flag.GOOD)


@pytest.mark.parametrize(("good", "bad"), [(1.0, 0.5), (0.9, 0.3), (0.7, 0.7)])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_vote_and_critical_equal_float64_masks(good: float, bad: float, k: int) -> None:
    """Row-by-row counting equals the obvious masks over the whole stack, compared in float64."""
    from stratoflow.flags import Flag
    from stratoflow.qc import get_evaluation
    from stratoflow.qc.evaluation import TestInfo

    rng = np.random.default_rng(k)
    n = 3_000
    values = [1.0, np.float32(good), np.nextafter(np.float32(good), np.float32(0)), 0.6]
    values += [np.float32(bad), np.nextafter(np.float32(bad), np.float32(0)), 0.0, np.nan]
    stack = rng.choice(np.array(values, dtype=np.float32), (4, n))
    tests = [TestInfo("a"), TestInfo("b", critical=False), TestInfo("c"), TestInfo("d", False)]
    missing = np.zeros(n, bool)
    q = stack.astype(np.float64)
    with np.errstate(invalid="ignore"):
        not_good, is_bad = q < good, q < bad
    no_opinion = np.isnan(q).all(axis=0)

    want = np.full(n, int(Flag.GOOD), np.uint8)
    need = np.clip((~np.isnan(q)).sum(axis=0), 1, k)  # k, or all the opinions if fewer
    want[not_good.sum(axis=0) >= need] = int(Flag.LIMITED)
    want[is_bad.sum(axis=0) >= need] = int(Flag.BAD)
    want[no_opinion] = int(Flag.NOT_VALIDATED)
    vote = get_evaluation("vote")
    got = vote(stack, missing, tests, **vote.check({"good": good, "bad": bad, "k": k}))[1]
    np.testing.assert_array_equal(got, want)

    want = np.full(n, int(Flag.GOOD), np.uint8)
    want[not_good.any(axis=0)] = int(Flag.LIMITED)
    want[is_bad[[0, 2]].any(axis=0)] = int(Flag.BAD)
    want[no_opinion] = int(Flag.NOT_VALIDATED)
    critical = get_evaluation("critical")
    got = critical(stack, missing, tests, **critical.check({"good": good, "bad": bad}))[1]
    np.testing.assert_array_equal(got, want)


def test_vote_with_fewer_tests_than_k_needs_all_of_them() -> None:
    """k=3 of 2 tests could never flag a point; both agreeing must flag it."""
    from stratoflow.qc import get_evaluation
    from stratoflow.qc.evaluation import TestInfo

    vote = get_evaluation("vote")
    stack = np.array([[0, 0, 1, 0.8], [0, 1, 1, 0.8]], dtype=np.float32)
    tests = [TestInfo("gross_range"), TestInfo("spike")]
    _, flags = vote(stack, np.zeros(4, bool), tests, **vote.check({"k": 3, "good": 0.9}))
    assert flags.tolist() == [3, 0, 0, 2]


def test_vote_where_fewer_than_k_tests_have_an_opinion_needs_all_of_those() -> None:
    """The ends of a series have no spike opinion: with k=2 a value far beyond the gross
    range passed there, while the same value in the middle was bad."""
    from stratoflow.qc import get_evaluation, run_test
    from stratoflow.qc.evaluation import TestInfo

    x = np.array([5000.0, 50, 51, 52, 5000, 53, 54, 5000])
    stack = np.stack(
        [
            run_test("gross_range", x, params={"bad_max": 1000}),
            run_test("spike", x, params={"bad": 100}),
        ]
    )
    vote = get_evaluation("vote")
    tests = [TestInfo("gross_range"), TestInfo("spike")]
    _, flags = vote(stack, np.zeros(x.size, bool), tests, **vote.check({"k": 2}))
    assert flags.tolist() == [3, 0, 0, 0, 3, 0, 0, 3]  # the spike's neighbours: one vote
    stack[:, 2] = np.nan  # no opinion at all: not validated
    _, flags = vote(stack, np.zeros(x.size, bool), tests, **vote.check({"k": 2}))
    assert flags[2] == 4
