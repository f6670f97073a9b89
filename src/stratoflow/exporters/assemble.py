"""Assemble the selected series of one flight into one standardized Dataset.

Values come from the stored segments bit for bit; flags from the QC run chosen by the
selection (else the source flags), with the PI's manual flags applied on top (later ones win;
a point without a value stays ``missing``). Series with different time bases are put on the
union of their times (:func:`~stratoflow.exporters.resample.synchronise`); with a resolution
the result is resampled with flag-aware aggregation
(:func:`~stratoflow.exporters.resample.resample_dataset`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow import __version__
from stratoflow.dataset import TIME, make_dataset
from stratoflow.errors import ExportError
from stratoflow.exporters.resample import (
    Aggregate,
    resample_dataset,
    synchronise,
)
from stratoflow.exporters.selection import FlightSelection, SeriesVersion
from stratoflow.flags import FLAG_DTYPE, Flag
from stratoflow.server.catalog.attributes import attributes_from_json
from stratoflow.server.catalog.selectors import series_arrays
from stratoflow.store.segments import SegmentError, decode_columns

__all__ = ["COORDINATE_NAMES", "flight_dataset"]

#: Variables treated as trajectory coordinates when resampling (lower-case names).
COORDINATE_NAMES = frozenset(
    {"lat", "lon", "latitude", "longitude", "alt", "altitude", "baro_alt_ac", "gps_alt_ac"}
)
_COORDINATE_STANDARD_NAMES = frozenset({"latitude", "longitude", "altitude", "barometric_altitude"})
_DROP_ATTRS = frozenset({"ancillary_variables", "_FillValue", "missing_value", "coordinates"})


def _utc64(value: datetime) -> np.datetime64:
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(int(np.datetime64(naive, "us").astype(np.int64)) * 1000, "ns")


def _arrays(
    version: SeriesVersion,
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[Any], npt.NDArray[np.uint8]]:
    try:
        arrays = series_arrays(version.series)
        qc = decode_columns(version.qc_run.flags) if version.qc_run is not None else None
    except SegmentError as exc:
        # the store's message knows the bytes, not whose they are
        s = version.series
        raise ExportError(
            f"flight {s.flight.identifier}: variable {s.variable} ({s.level} v{s.version}): "
            f"its stored data cannot be read: {exc}"
        ) from exc
    time = arrays["time"].astype("datetime64[ns]")
    if qc is not None:
        flags = np.asarray(qc["flag"], dtype=FLAG_DTYPE)
    else:
        flags = np.asarray(arrays["flag"], dtype=FLAG_DTYPE)
    if flags.shape != time.shape:
        raise ValueError(f"{version.series}: {flags.size} flags for {time.size} points")
    if version.manual_flags:
        flags = flags.copy()
        has_value = flags != int(Flag.MISSING)
        for manual in version.manual_flags:  # a handful of PI ranges, not points
            inside = (time >= _utc64(manual.time_start)) & (time <= _utc64(manual.time_end))
            flags[inside & has_value] = manual.flag
    return time, arrays["value"], flags


def _attrs(version: SeriesVersion) -> dict[str, Any]:
    s = version.series
    attrs = {k: v for k, v in attributes_from_json(s.attributes).items() if k not in _DROP_ATTRS}
    attrs.update({"units": s.units or "1", "long_name": s.long_name or s.variable})
    if s.standard_name:
        attrs["standard_name"] = s.standard_name
    return attrs


def _globals(item: FlightSelection) -> dict[str, Any]:
    flight = item.flight
    first = item.series[0].series
    source = attributes_from_json(first.source.attributes) if first.source_id else {}
    attrs: dict[str, Any] = {
        "flight_id": flight.identifier,
        "flight": flight.identifier,
        "platform": flight.platform.name if flight.platform else "",
        "departure_airport": flight.departure_airport,
        "arrival_airport": flight.arrival_airport,
        "data_level": item.level,
        "title": f"Flight {flight.identifier} ({item.level})",
    }
    for key in ("provider", "license", "licence", "project", "institution", "source"):
        if source.get(key):
            attrs.setdefault(key, source[key])
    if flight.platform is not None and flight.platform.project is not None:
        attrs["project"] = flight.platform.project.name
    if item.decision is not None:
        who = item.decision.user.get_username() if item.decision.user else "unknown"
        attrs["review"] = (
            f"released to {item.decision.level} by {who} on {item.decision.created_at.isoformat()}"
        )
    history = []
    for v in item.series:
        p = v.series.provenance
        history.append(
            f"{v.series.variable} v{v.series.version}: {p.get('source_file', '')} read by "
            f"{p.get('reader', '')} (stratoflow {p.get('stratoflow_version', '?')})"
            + (f", QC run {v.qc_run.pk} ({v.qc_run.evaluation})" if v.qc_run else "")
        )
    history.append(f"exported by stratoflow {__version__}")
    attrs["history"] = "\n".join(history)
    attrs["series_versions"] = ", ".join(
        f"{v.series.variable} v{v.series.version}" for v in item.series
    )
    return attrs


def _coordinates(ds: xr.Dataset) -> list[str]:
    return [
        str(name)
        for name, var in ds.data_vars.items()
        if str(name).lower() in COORDINATE_NAMES
        or str(var.attrs.get("standard_name", "")) in _COORDINATE_STANDARD_NAMES
    ]


def flight_dataset(
    item: FlightSelection,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    resample: str | None = None,
    aggregate: Aggregate = "worst",
    valid_flags: Iterable[int] = (Flag.GOOD,),
    ddof: int = 1,
) -> xr.Dataset:
    """The selected series of one flight as a standardized Dataset, optionally resampled.

    ``start``/``end`` clip to ``[start, end)``. Without ``resample`` values and flags are the
    stored ones, bit for bit.
    """
    raw: dict[str, tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[np.uint8]]] = {}
    attrs: dict[str, dict[str, Any]] = {}
    for version in item.series:
        time, values, flags = _arrays(version)
        if start is not None or end is not None:
            keep = np.ones(time.shape, dtype=bool)
            if start is not None:
                keep &= time >= _utc64(start)
            if end is not None:
                keep &= time < _utc64(end)
            time, values, flags = time[keep], values[keep], flags[keep]
        raw[version.series.variable] = (time, values, flags)
        attrs[version.series.variable] = _attrs(version)
    times, synced = synchronise(raw)
    ds = make_dataset(
        times,
        {name: (values, attrs[name]) for name, (values, _) in synced.items()},
        flags={name: codes for name, (_, codes) in synced.items()},
        attrs=_globals(item),
    )
    ds = ds.assign_coords({TIME: ds[TIME]})
    if resample is None:
        return ds
    return resample_dataset(
        ds,
        resample,
        valid_flags=valid_flags,
        aggregate=aggregate,
        ddof=ddof,
        coordinates=_coordinates(ds),
    )
