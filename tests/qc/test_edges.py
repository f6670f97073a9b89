"""Edge cases a demanding user hits: inputs beyond the usual range, tests run out of context.

Each test here was written against a defect: a value outside what a test was written for was
judged silently wrong (a status word beyond int64, a sentinel read as a measurement) or a
call without what the test needs returned an answer that looked like a result.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from stratoflow.errors import QCError
from stratoflow.flags import Flag
from stratoflow.qc import ManualFlag, run_test


def test_propagate_without_a_source_is_refused_not_nan() -> None:
    """run_test has no other variable to copy results from: all NaN looked like 'no opinion'."""
    with pytest.raises(QCError, match=r"propagate.*'pressure'.*run_qc"):
        run_test("propagate", np.arange(5.0), params={"source": "pressure"})


@pytest.mark.parametrize("number", [5, np.int64(5), 1.7e18, np.float64(0.0), True])
def test_a_manual_flag_refuses_a_number_for_a_time(number: object) -> None:
    """A plain number was taken as nanoseconds since 1970: 5 flagged from 1970-01-01."""
    t = np.datetime64("2024-03-01T10:00:00", "ns")
    with pytest.raises(QCError, match=r"manual flag of O3_P1: start: .*not a number"):
        ManualFlag("O3_P1", number, t, Flag.BAD)  # type: ignore[arg-type]
    with pytest.raises(QCError, match=r"manual flag of O3_P1: end: .*not a number"):
        ManualFlag("O3_P1", t, number, Flag.BAD)  # type: ignore[arg-type]


def test_a_manual_flag_takes_every_real_time() -> None:
    want = np.datetime64("2024-03-01T10:00:00", "ns")
    for given in (
        want,
        pd.Timestamp("2024-03-01T10:00:00"),
        dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC),
        "2024-03-01T10:00:00Z",
    ):
        assert ManualFlag("O3_P1", given, given, Flag.BAD).start == want  # type: ignore[arg-type]
