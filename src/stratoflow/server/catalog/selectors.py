"""Catalog selectors: read series values and assemble them into standardized Datasets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.dataset import TIME, make_dataset
from stratoflow.server.catalog.models import Flight, QCRun, Series
from stratoflow.store.segments import decode_columns

__all__ = ["current_qc_run", "flight_dataset", "series_arrays", "series_qc_flags"]


def series_arrays(series: Series) -> dict[str, npt.NDArray[Any]]:
    """``time``, ``value`` and source ``flag`` arrays of a series, segments concatenated."""
    parts = [decode_columns(seg.data) for seg in series.segments.order_by("index")]
    if not parts:
        return {
            "time": np.array([], dtype="datetime64[ns]"),
            "value": np.array([], dtype=np.float64),
            "flag": np.array([], dtype=np.uint8),
        }
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def current_qc_run(series: Series) -> QCRun | None:
    """The series' current QC run, if it has been quality-controlled."""
    return series.qc_runs.filter(is_current=True).first()


def series_qc_flags(series: Series) -> npt.NDArray[np.uint8] | None:
    """Final flags of the current QC run, or None."""
    run = current_qc_run(series)
    if run is None:
        return None
    return np.asarray(decode_columns(run.flags)["flag"], dtype=np.uint8)


def flight_dataset(
    flight: Flight,
    *,
    series: Sequence[Series] | None = None,
    levels: Iterable[str] | None = None,
    use_qc_flags: bool = True,
) -> xr.Dataset:
    """The current series of a flight as one standardized Dataset (values bit-exact).

    Flags come from the current QC run where there is one, otherwise from the source.
    """
    if series is None:
        qs = flight.series.filter(is_current=True)
        if levels is not None:
            qs = qs.filter(level__in=list(levels))
        series = list(qs.order_by("id"))
    variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]] = {}
    flags: dict[str, npt.NDArray[np.uint8]] = {}
    time: npt.NDArray[Any] | None = None
    for s in series:
        arrays = series_arrays(s)
        if time is None:
            time = arrays["time"]
        elif not np.array_equal(time, arrays["time"]):
            raise ValueError(f"{s}: time base differs from the other series of {flight}")
        attrs = {k: v for k, v in s.attributes.items() if k != "ancillary_variables"}
        attrs.update({"units": s.units, "long_name": s.long_name or s.variable})
        if s.standard_name:
            attrs["standard_name"] = s.standard_name
        variables[s.variable] = (arrays["value"], attrs)
        qc = series_qc_flags(s) if use_qc_flags else None
        flags[s.variable] = qc if qc is not None else arrays["flag"]
    ds = make_dataset(
        time if time is not None else np.array([], dtype="datetime64[ns]"),
        variables,
        flags=flags,
        attrs={
            "flight_id": flight.identifier,
            "platform": flight.platform.name if flight.platform else "",
            "departure_airport": flight.departure_airport,
            "arrival_airport": flight.arrival_airport,
        },
    )
    return ds.assign_coords({TIME: ds[TIME]})
