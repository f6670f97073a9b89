"""Pointwise tests skip the framework's missing-value scan: their results must not change."""

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
def test_gross_range_pointwise_equals_the_masked_path(params: dict[str, Any]) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(80, 80, 5000)
    special = rng.choice(x.size, 60, replace=False)
    x[special[:20]] = np.nan
    x[special[20:40]] = np.inf
    x[special[40:]] = -np.inf
    x[:4] = [0.0, 10.0, 150.0, 250.0]  # exactly at the limits
    assert get_test("gross_range").pointwise
    fast = run_test("gross_range", x, None, params)
    np.testing.assert_array_equal(fast, _masked_reference(x, params))
    assert np.isnan(fast[special]).all()


def test_pointwise_float32_and_tiny_inputs() -> None:
    for x in (np.array([], dtype=np.float32), np.array([np.inf]), np.array([5.0], np.float32)):
        params = {"bad_min": 0, "bad_max": 1}
        np.testing.assert_array_equal(
            run_test("gross_range", x, None, params),
            _masked_reference(np.asarray(x, np.float64), params),
        )
