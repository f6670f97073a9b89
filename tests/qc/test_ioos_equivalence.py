"""Our QARTOD-equivalent tests and worst-case evaluation equal ioos_qc's, point by point.

Inputs are quantised (so values hit the limits exactly) and contain NaN runs, isolated NaNs
and runs of repeated values; time steps are whole seconds (ioos_qc truncates steps to seconds).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

qartod = pytest.importorskip("ioos_qc.qartod")

from stratoflow.flags import to_qartod  # noqa: E402
from stratoflow.qc import Thresholds, get_evaluation, run_test, to_flags  # noqa: E402
from stratoflow.qc.evaluation import TestInfo  # noqa: E402


def _series(seed: int, n: int = 3_000) -> tuple[npt.NDArray[np.float64], Any]:
    rng = np.random.default_rng(seed)
    x = np.round(np.cumsum(rng.normal(0, 2, n)) + 50, 0)  # integer-valued: limits get hit
    x[rng.choice(n, n // 50, replace=False)] += rng.choice([-40.0, 40.0], n // 50)
    x[rng.choice(n, n // 40, replace=False)] = np.nan
    start = int(rng.integers(100, n - 200))
    x[start : start + 60] = x[start]  # a flat line
    x[start + 100 : start + 110] = np.nan
    step = int(rng.choice([1, 2, 4]))
    t = (np.arange(n) * step).astype("datetime64[s]").astype("datetime64[ns]")
    return x, t


def _qartod(p: npt.NDArray[np.float32], x: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint8]:
    return to_qartod(to_flags(p, np.isnan(x), Thresholds()))


def _ioos(fn: Any, *args: Any, **kwargs: Any) -> npt.NDArray[np.uint8]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(np.ma.filled(fn(*args, **kwargs), 0)).astype(np.uint8)


SEEDS = [0, 1, 2, 3]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("suspect", "fail"),
    [((20.0, 80.0), (0.0, 100.0)), ((30.0, 60.0), (30.0, 60.0)), (None, (0.0, 90.0))],
)
def test_gross_range(seed: int, suspect: Any, fail: Any) -> None:
    x, _ = _series(seed)
    params: dict[str, Any] = {"bad_min": fail[0], "bad_max": fail[1]}
    if suspect is not None:
        params |= {"doubtful_min": suspect[0], "doubtful_max": suspect[1]}
    ours = _qartod(run_test("gross_range", x, params=params), x)
    ref = _ioos(qartod.gross_range_test, x, fail_span=fail, suspect_span=suspect)
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", ["average", "differential"])
@pytest.mark.parametrize(("suspect", "fail"), [(3.0, 10.0), (5.0, 5.0), (None, 12.0), (4.0, None)])
def test_spike(seed: int, method: str, suspect: float | None, fail: float | None) -> None:
    x, _ = _series(seed)
    p = run_test("spike", x, params={"doubtful": suspect, "bad": fail, "method": method})
    ref = _ioos(qartod.spike_test, x, suspect_threshold=suspect, fail_threshold=fail, method=method)
    np.testing.assert_array_equal(_qartod(p, x), ref)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("suspect", "fail"), [(1.0, 5.0), (2.0, None), (0.5, 0.5)])
def test_rate_of_change(seed: int, suspect: float, fail: float | None) -> None:
    x, t = _series(seed)
    p = run_test("rate_of_change", x, t, params={"doubtful": suspect, "bad": fail})
    ref = _ioos(qartod.rate_of_change_test, x, t, threshold=suspect, fail_threshold=fail)
    np.testing.assert_array_equal(_qartod(p, x), ref)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("suspect", "fail", "tol"), [(20, 40, 0.5), (8, 60, 1.5), (30, 30, 3.0)])
def test_flat_line(seed: int, suspect: int, fail: int, tol: float) -> None:
    x, t = _series(seed)
    params = {"doubtful_duration": suspect, "bad_duration": fail, "tolerance": tol}
    p = run_test("flat_line", x, t, params=params)
    ref = _ioos(
        qartod.flat_line_test, x, t, suspect_threshold=suspect, fail_threshold=fail, tolerance=tol
    )
    np.testing.assert_array_equal(_qartod(p, x), ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_worst_case_equals_aggregate(seed: int) -> None:
    x, t = _series(seed)
    ours = [
        run_test(
            "gross_range",
            x,
            params={"doubtful_min": 20, "doubtful_max": 80, "bad_min": 0, "bad_max": 100},
        ),
        run_test("spike", x, params={"doubtful": 3, "bad": 10}),
        run_test("rate_of_change", x, t, params={"doubtful": 1, "bad": 5}),
        run_test(
            "flat_line",
            x,
            t,
            params={"doubtful_duration": 20, "bad_duration": 40, "tolerance": 0.5},
        ),
    ]
    stack = np.stack(ours)
    _, flags = get_evaluation("worst")(
        stack, np.isnan(x), [TestInfo(str(i)) for i in range(4)], good=1.0, bad=0.5
    )
    refs = [
        _ioos(qartod.gross_range_test, x, fail_span=(0, 100), suspect_span=(20, 80)),
        _ioos(qartod.spike_test, x, suspect_threshold=3, fail_threshold=10),
        _ioos(qartod.rate_of_change_test, x, t, threshold=1, fail_threshold=5),
        _ioos(qartod.flat_line_test, x, t, suspect_threshold=20, fail_threshold=40, tolerance=0.5),
    ]
    aggregate = np.asarray(qartod.qartod_compare(refs)).astype(np.uint8)
    np.testing.assert_array_equal(to_qartod(flags), aggregate)
    assert set(np.unique(aggregate).tolist()) >= {1, 3, 4, 9}  # the comparison is not vacuous


def _irregular(seed: int, n: int) -> tuple[npt.NDArray[np.float64], Any]:
    """_series' values on irregular steps of 2 to 10 s.

    Even steps keep the median step (the mean of the middle two) a whole second: ioos_qc
    truncates the median to whole seconds, we do not (documented in ``flatline.py``).
    """
    x, _ = _series(seed, max(n, 400))
    rng = np.random.default_rng(seed + 100)
    secs = np.cumsum(2 * rng.integers(1, 6, n))
    return x[:n], secs.astype("datetime64[s]").astype("datetime64[ns]")


def _all_four(x: npt.NDArray[np.floating[Any]], t: Any) -> list[tuple[Any, Any]]:
    """(ours, ioos_qc) flags of the four shared tests on the same input."""
    pairs = [
        (
            run_test(
                "gross_range",
                x,
                t,
                {"doubtful_min": 20, "doubtful_max": 80, "bad_min": 0, "bad_max": 100},
            ),
            _ioos(qartod.gross_range_test, x, fail_span=(0, 100), suspect_span=(20, 80)),
        ),
        (
            run_test("spike", x, t, {"doubtful": 3, "bad": 10}),
            _ioos(qartod.spike_test, x, suspect_threshold=3, fail_threshold=10),
        ),
        (
            run_test("rate_of_change", x, t, {"doubtful": 1, "bad": 5}),
            _ioos(qartod.rate_of_change_test, x, t, threshold=1, fail_threshold=5),
        ),
        (
            run_test(
                "flat_line", x, t, {"doubtful_duration": 8, "bad_duration": 20, "tolerance": 1.5}
            ),
            _ioos(
                qartod.flat_line_test, x, t, suspect_threshold=8, fail_threshold=20, tolerance=1.5
            ),
        ),
    ]
    return [(_qartod(p, x), ref) for p, ref in pairs]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 2_000])
def test_irregular_time_and_tiny_arrays(seed: int, n: int) -> None:
    x, t = _irregular(seed, n)
    for ours, ref in _all_four(x, t):
        np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_float32_input(seed: int) -> None:
    """float32 data: both libraries judge the float64 value of each float32 number."""
    x, t = _series(seed)
    x32 = (x / 3).astype(np.float32)  # thirds: not representable, so rounding would show
    for ours, ref in _all_four(x32.astype(np.float64), t):
        np.testing.assert_array_equal(ours, ref)
    for (ours32, _), (ours64, _) in zip(
        _all_four(x32, t), _all_four(x32.astype(np.float64), t), strict=True
    ):
        np.testing.assert_array_equal(ours32, ours64)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("suspect", "fail"), [(1.0, 5.0), (0.5, 0.5), (0.0, None)])
def test_rate_of_change_when_time_steps_back(seed: int, suspect: float, fail: float | None) -> None:
    """A step back in time is a rate like any other, ``|dx / dt|`` as in ioos_qc.

    (Unsorted raw data reaches run_test; the rate used to be ``|dx| / dt``, negative for
    such a step, so every point after one passed.)
    """
    x, _ = _series(seed, 600)
    rng = np.random.default_rng(seed + 200)
    steps = rng.choice([-3, -1, 1, 2, 4], x.size)  # whole seconds, never 0 (see below)
    t = np.cumsum(steps).astype("datetime64[s]").astype("datetime64[ns]")
    p = run_test("rate_of_change", x, t, params={"doubtful": suspect, "bad": fail})
    ref = _ioos(qartod.rate_of_change_test, x, t, threshold=suspect, fail_threshold=fail)
    np.testing.assert_array_equal(_qartod(p, x), ref)
    assert (ref[1:][steps[1:] < 0] != 1).any()  # backward steps with a rate were judged


@pytest.mark.parametrize("seed", SEEDS)
def test_infinities_are_missing_as_ioos_qc_says_and_nan_is(seed: int) -> None:
    """±inf is missing, exactly like NaN, for all four tests and their neighbours.

    ioos_qc masks ±inf as invalid like NaN ("missing and masked data is flagged as MISSING"),
    but then compares the masked array, whose comparisons read the data under the mask: an
    inf comes out FAIL in gross_range and the point after it FAIL in rate_of_change, where a
    NaN comes out MISSING and passes. That contradicts its own contract, so the reference is
    ioos_qc on the same data with NaN in place of the infinities.
    """
    x, t = _irregular(seed, 2_000)
    rng = np.random.default_rng(seed + 300)
    where = rng.choice(np.flatnonzero(np.isfinite(x)), 40, replace=False)
    with_inf = x.copy()
    with_inf[where] = rng.choice([np.inf, -np.inf], where.size)
    with_nan = np.where(np.isfinite(with_inf), with_inf, np.nan)
    for test, params, reference in [
        (
            "gross_range",
            {"doubtful_min": 20, "doubtful_max": 80, "bad_min": 0, "bad_max": 100},
            (qartod.gross_range_test, {"fail_span": (0, 100), "suspect_span": (20, 80)}, False),
        ),
        (
            "spike",
            {"doubtful": 3, "bad": 10},
            (qartod.spike_test, {"suspect_threshold": 3, "fail_threshold": 10}, False),
        ),
        (
            "rate_of_change",
            {"doubtful": 1, "bad": 5},
            (qartod.rate_of_change_test, {"threshold": 1, "fail_threshold": 5}, True),
        ),
        (
            "flat_line",
            {"doubtful_duration": 8, "bad_duration": 20, "tolerance": 1.5},
            (
                qartod.flat_line_test,
                {"suspect_threshold": 8, "fail_threshold": 20, "tolerance": 1.5},
                True,
            ),
        ),
    ]:
        fn, kwargs, timed = reference
        p = run_test(test, with_inf, t, params)
        ours = to_qartod(to_flags(p, ~np.isfinite(with_inf), Thresholds()))
        ref = _ioos(fn, with_nan, t, **kwargs) if timed else _ioos(fn, with_nan, **kwargs)
        np.testing.assert_array_equal(ours, ref, test)
