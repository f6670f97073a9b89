"""Tests that handle non-finite values themselves skip run_test's missing-value scan.

Their results must equal the generic path: missing values masked first, NaN in the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from stratoflow.qc import run_test
from stratoflow.qc.base import QCInput, get_test
from stratoflow.qc.config import TestSpec
from stratoflow.qc.run import _execute

LIMITS: list[dict[str, Any]] = [
    {"doubtful_min": 10, "doubtful_max": 150, "bad_min": 0, "bad_max": 250},
    {"bad_min": 0},
    {"doubtful_max": 150},
    {"doubtful_min": 10, "bad_max": 250},
    {"bad_min": 0, "bad_max": 0},
]


def _masked_reference(x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """The generic path: missing (non-finite) values masked first, NaN in the result."""
    test = get_test("gross_range")
    missing = np.flatnonzero(~np.isfinite(x))
    clean = np.where(np.isfinite(x), x, np.nan)
    t = np.arange(x.size).astype("datetime64[s]").astype("datetime64[ns]")
    spec = TestSpec("gross_range", test, test.check(params))
    return _execute(spec, QCInput(clean, t, "x"), missing, True).probability


@pytest.mark.parametrize("params", LIMITS)
def test_gross_range_fast_path_equals_the_masked_path(params: dict[str, Any]) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(80, 80, 5000)
    special = rng.choice(x.size, 60, replace=False)
    x[special[:20]] = np.nan
    x[special[20:40]] = np.inf
    x[special[40:]] = -np.inf
    x[:4] = [0.0, 10.0, 150.0, 250.0]  # exactly at the limits
    assert get_test("gross_range").handles_nonfinite
    fast = run_test("gross_range", x, None, params)
    np.testing.assert_array_equal(fast, _masked_reference(x, params))
    assert np.isnan(fast[special]).all()


def test_fast_path_float32_and_tiny_inputs() -> None:
    for x in (np.array([], dtype=np.float32), np.array([np.inf]), np.array([5.0], np.float32)):
        params = {"bad_min": 0, "bad_max": 1}
        np.testing.assert_array_equal(
            run_test("gross_range", x, None, params),
            _masked_reference(np.asarray(x, np.float64), params),
        )


@pytest.mark.parametrize("params", [{"doubtful": 5, "bad": 50}, {"bad": 50}, {"doubtful": 5}])
def test_rate_of_change_fast_path_equals_the_masked_path(params: dict[str, Any]) -> None:
    rng = np.random.default_rng(11)
    x = np.cumsum(rng.normal(0, 8, 4000))
    special = rng.choice(np.arange(1, x.size), 90, replace=False)
    x[special[:30]] = np.nan
    x[special[30:60]] = np.inf
    x[special[60:]] = -np.inf
    x[0] = np.inf
    x[1000:1003] = np.nan  # a run of missing values
    t = np.datetime64("2024-01-01", "ns") + np.cumsum(rng.integers(1, 4, x.size)) * np.timedelta64(
        1, "s"
    )
    t[2000] = t[1999]  # a duplicated time stamp: an infinite (or 0/0) rate
    test = get_test("rate_of_change")
    assert test.handles_nonfinite
    fast = run_test("rate_of_change", x, t, params)
    missing = np.flatnonzero(~np.isfinite(x))
    clean = np.where(np.isfinite(x), x, np.nan)
    spec = TestSpec("rate_of_change", test, test.check(params))
    reference = _execute(spec, QCInput(clean, t, "x"), missing, True).probability
    np.testing.assert_array_equal(fast, reference)
