"""Plot payloads: decimation keeps extremes and every flagged point, arrays decode exactly."""

from __future__ import annotations

import base64
import gzip
import json

import numpy as np
import pytest
from django.test import Client

from stratoflow.flags import Flag
from stratoflow.server.review.plots import decimate

from .conftest import Review


def test_decimate_keeps_extremes_and_flagged_points_within_budget() -> None:
    rng = np.random.default_rng(1)
    n = 36_000  # 10 h at 1 Hz
    values = np.cumsum(rng.normal(size=n))
    values[1234] = 1e6  # a spike
    values[20_000:20_050] = np.nan
    keep = np.zeros(n, bool)
    keep[rng.choice(n, 300, replace=False)] = True
    idx = decimate(values, keep, 4000)
    assert idx.size <= 4000 + 2 + 300
    assert np.all(np.diff(idx) > 0) and idx[0] == 0 and idx[-1] == n - 1
    assert 1234 in idx and int(np.nanargmin(values)) in idx
    assert np.isin(np.flatnonzero(keep), idx).all()
    # each bucket's extremes are kept, so the envelope is exact
    size = -(-n // 2000)
    for b in (0, 7, 1999):
        chunk = values[b * size : (b + 1) * size]
        picked = values[idx[(idx >= b * size) & (idx < (b + 1) * size)]]
        assert np.nanmax(picked) == np.nanmax(chunk) and np.nanmin(picked) == np.nanmin(chunk)


def test_decimate_short_series_and_many_flags() -> None:
    assert decimate(np.arange(10.0), np.zeros(10, bool), 4000).tolist() == list(range(10))
    n = 50_000
    idx = decimate(np.zeros(n), np.ones(n, bool), 1000)
    assert idx.size <= 1000 + 502 + 2  # flagged points sampled down to the budget


def _decode(s: str, dtype: str) -> np.ndarray:  # type: ignore[type-arg]
    return np.frombuffer(base64.b64decode(s), dtype=dtype)


@pytest.mark.django_db
def test_payload_arrays_decode_to_the_stored_values_and_flags(
    review: Review, client: Client
) -> None:
    from stratoflow.server.catalog.models import Series
    from stratoflow.server.catalog.selectors import series_arrays, series_qc_flags

    client.force_login(review.pi)
    flight = review.flight.identifier  # type: ignore[attr-defined]
    r = client.get(f"/review/flight/{flight}/data", HTTP_ACCEPT_ENCODING="gzip")
    assert r["Content-Encoding"] == "gzip"
    payload = json.loads(gzip.decompress(r.content))
    assert payload["altitude"] == "baro_alt_AC"
    o3 = next(v for v in payload["variables"] if v["name"] == "O3_P1")
    series = Series.objects.get(flight=review.flight, variable="O3_P1", is_current=True)
    arrays = series_arrays(series)
    assert o3["n_window"] == o3["n_sent"] == series.n_points  # short flight: all points
    t_ms = arrays["time"].astype("datetime64[ms]").astype(np.int64)
    assert np.array_equal(_decode(o3["t"], "<u4"), t_ms - t_ms[0])
    assert payload["t0"] == float(t_ms[0])
    assert np.array_equal(
        _decode(o3["v"], "<f4"), arrays["value"].astype(np.float32), equal_nan=True
    )
    flags = series_qc_flags(series)
    assert flags is not None and np.array_equal(_decode(o3["f"], "u1"), flags)
    # why: for flagged points, the worst test and its probability
    which, p = _decode(o3["w"], "u1"), _decode(o3["p"], "u1")
    bad = flags == int(Flag.BAD)
    assert bad.any() and (which[bad] < len(o3["tests"])).all() and (p[bad] < 125).all()


@pytest.mark.django_db
def test_payload_window_and_budget(review: Review, client: Client) -> None:
    client.force_login(review.pi)
    flight = review.flight.identifier  # type: ignore[attr-defined]
    whole = client.get(f"/review/flight/{flight}/data", {"budget": "200"}).json()
    o3 = next(v for v in whole["variables"] if v["name"] == "O3_P1")
    assert o3["n_sent"] < o3["n_window"]  # decimated
    t0 = whole["t0"]
    start, end = t0 + 600_000, t0 + 900_000  # 10 to 15 minutes in
    part = client.get(f"/review/flight/{flight}/data", {"start": start, "end": end}).json()
    o3 = next(v for v in part["variables"] if v["name"] == "O3_P1")
    t = _decode(o3["t"], "<u4").astype(float) + t0
    assert o3["n_sent"] == o3["n_window"] == 76  # 5 minutes at 4 s, ends included
    assert t.min() >= start and t.max() <= end


@pytest.mark.parametrize(
    "query",
    [
        {"start": "nan"},
        {"start": "inf"},
        {"end": "-inf"},
        {"budget": "nan"},
        {"budget": "inf"},
        {"start": "soon"},
    ],
)
def test_non_finite_window_or_budget_is_a_400_not_a_500(
    review: Review, client: Client, query: dict[str, str]
) -> None:
    client.force_login(review.pi)
    flight = review.flight.identifier  # type: ignore[attr-defined]
    r = client.get(f"/review/flight/{flight}/data", query)
    (name, value), *_ = query.items()
    assert r.status_code == 400
    assert r.content.decode() == f"{name} must be a finite number, not '{value}'"


def test_plot_payload_refuses_a_non_finite_window(review: Review) -> None:
    from stratoflow.server.review.plots import plot_payload

    with pytest.raises(ValueError, match="start_ms must be finite"):
        plot_payload(review.flight, start_ms=float("nan"))  # type: ignore[arg-type]
