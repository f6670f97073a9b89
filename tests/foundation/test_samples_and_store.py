"""Sample generator determinism and the columnar segment codec."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stratoflow.samples import FAULT_KINDS, generate_flight
from stratoflow.store.segments import SegmentError, decode_columns, encode_columns


def test_generator_is_deterministic_and_realistic() -> None:
    a, b = generate_flight(seed=7), generate_flight(seed=7)
    assert a.dataset.identical(b.dataset)
    assert a.flight_id == b.flight_id
    c = generate_flight(seed=8)
    assert not np.array_equal(a.dataset["O3"].values, c.dataset["O3"].values, equal_nan=True)
    ds = a.dataset
    step = np.diff(ds["time"].values).astype("timedelta64[s]").astype(int)
    assert int(np.median(step)) in (1, 2, 4)
    assert step.max() > np.median(step)  # a transmission gap
    assert ds["alt"].max() > 9_000 and ds["alt"][0] < 1_000 and ds["alt"][-1] < 1_000
    assert set(ds.data_vars) >= {"O3", "CO", "H2O", "T", "p", "lat", "lon", "alt"}
    for var in ("O3", "CO", "H2O", "T"):
        assert set(a.faults[var]) == set(FAULT_KINDS)
        for kind in FAULT_KINDS:
            assert a.faults[var][kind].sum() > 0, (var, kind)
        assert np.isnan(ds[var].values[a.faults[var]["gap"]]).all()


def test_out_of_range_faults_are_impossible_values() -> None:
    flight = generate_flight(seed=3)
    t = flight.dataset["T"].values[flight.faults["T"]["out_of_range"]]
    assert ((t < 150) | (t > 340)).all()


@given(
    values=hnp.arrays(
        np.float64, st.integers(0, 300), elements=st.floats(allow_nan=True, allow_infinity=True)
    ),
)
def test_segment_round_trip_is_bit_exact(values: np.ndarray) -> None:
    times = np.datetime64("2024-01-01", "ns") + np.arange(values.size) * np.timedelta64(4, "s")
    flags = (np.arange(values.size) % 5).astype(np.uint8)
    out = decode_columns(encode_columns({"time": times, "value": values, "flag": flags}))
    assert np.array_equal(out["time"], times)
    assert out["value"].tobytes() == values.tobytes()
    assert np.array_equal(out["flag"], flags)


def test_segment_rejects_corruption() -> None:
    blob = encode_columns({"x": np.arange(10.0)})
    with pytest.raises(SegmentError):
        decode_columns(b"garbage")
    with pytest.raises(SegmentError):
        decode_columns(blob[:-5])
