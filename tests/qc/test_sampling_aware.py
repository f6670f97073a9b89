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
