"""Edge cases a demanding user hits: inputs beyond the usual range, tests run out of context.

Each test here was written against a defect: a value outside what a test was written for was
judged silently wrong (a status word beyond int64, a sentinel read as a measurement) or a
call without what the test needs returned an answer that looked like a result.
"""

from __future__ import annotations

import numpy as np
import pytest

from stratoflow.errors import QCError
from stratoflow.qc import run_test


def test_propagate_without_a_source_is_refused_not_nan() -> None:
    """run_test has no other variable to copy results from: all NaN looked like 'no opinion'."""
    with pytest.raises(QCError, match=r"propagate.*'pressure'.*run_qc"):
        run_test("propagate", np.arange(5.0), params={"source": "pressure"})
