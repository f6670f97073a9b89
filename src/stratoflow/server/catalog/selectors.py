"""Catalog selectors: read series values and assemble them into standardized Datasets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr
from django.db.models import Min, Q, QuerySet

from stratoflow.dataset import TIME, make_dataset
from stratoflow.server.catalog.attributes import attributes_from_json
from stratoflow.server.catalog.identity import READERS, file_flight
from stratoflow.server.catalog.models import (
    Calibration,
    Component,
    Deployment,
    Flight,
    Installation,
    QCRun,
    Series,
    SourceFile,
)
from stratoflow.store.segments import decode_columns

__all__ = [
    "calibrations_for_deployment",
    "components_of_series",
    "current_qc_run",
    "deployment_at",
    "flight_dataset",
    "flights_named_otherwise",
    "series_affected_by",
    "series_arrays",
    "series_qc_flags",
]


def series_arrays(series: Series) -> dict[str, npt.NDArray[Any]]:
    """``time``, ``value`` and source ``flag`` arrays of a series, segments concatenated.

    Text series (stored as integer codes) come back as text.
    """
    parts = [decode_columns(seg.data) for seg in series.segments.order_by("index")]
    if not parts:
        return {
            "time": np.array([], dtype="datetime64[ns]"),
            "value": np.array([], dtype=np.float64),
            "flag": np.array([], dtype=np.uint8),
        }
    arrays = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    categories = series.attributes.get("categories")
    if isinstance(categories, list):
        arrays["value"] = np.asarray(categories, dtype=str)[arrays["value"]]
    return arrays


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
        attrs = {
            k: v
            for k, v in attributes_from_json(s.attributes).items()
            if k not in ("ancillary_variables", "categories")
        }
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


def flights_named_otherwise() -> dict[str, list[str]]:
    """The flights whose ICARTT or CF netCDF files today's importer puts on other flights:
    identifier -> the identifiers their files name now.

    Migration ``catalog/0005_flight_identity`` renamed and joined the flights named by older
    rules, and left (and logged) those it could not move without losing or deciding something
    (review or export records, files now naming several flights): new imports of their files
    land on another flight. This lists them again, for ``stratoflow manage
    flights_identity``, from the same rules (:func:`~stratoflow.server.catalog.identity.
    file_flight`).
    """
    limit = Flight._meta.get_field("identifier").max_length or 100
    rows = (
        Series.objects.filter(source__reader__in=READERS)
        .values_list("flight__identifier", "source_id")
        .annotate(first=Min("time_start"))
    )
    files: dict[str, set[int]] = {}
    first: dict[int, datetime] = {}
    for identifier, source, start in rows:
        files.setdefault(identifier, set()).add(source)
        if start is not None and (source not in first or start < first[source]):
            first[source] = start
    today = {
        pk: file_flight(reader, identity, attributes, first.get(pk), limit)
        for pk, reader, identity, attributes in SourceFile.objects.filter(
            pk__in=set().union(*files.values())
        ).values_list("pk", "reader", "identity", "attributes")
    }
    named = {
        identifier: sorted({today[s] for s in sources}) for identifier, sources in files.items()
    }
    return {
        identifier: names for identifier, names in sorted(named.items()) if names != [identifier]
    }


# --- instrument catalog ---------------------------------------------------------------------


def calibrations_for_deployment(
    deployment: Deployment, *, component: Component | None = None
) -> tuple[Calibration | None, Calibration | None]:
    """The (pre, post) calibrations of a deployment's instrument (or of one of its parts).

    The rule: the pre-calibration is the latest one at or before the deployment starts, the
    post-calibration the earliest one at or after it ends (none while it has not ended).
    """
    target = component or deployment.instrument
    calibrations = Calibration.objects.filter(component=target)
    pre = calibrations.filter(time__lte=deployment.time_start).order_by("-time").first()
    post = None
    if deployment.time_end is not None:
        post = calibrations.filter(time__gte=deployment.time_end).order_by("time").first()
    return pre, post


def deployment_at(instrument: Component, when: datetime) -> Deployment | None:
    """The deployment of ``instrument`` that covers the instant ``when``, if any."""
    return (
        Deployment.objects.filter(instrument=instrument, time_start__lte=when)
        .filter(Q(time_end__isnull=True) | Q(time_end__gt=when))
        .first()
    )


Period = tuple[Component, datetime | None, datetime | None]


def _ancestors(component: Component) -> list[Period]:
    """Every component that contained ``component`` (itself included) and when it did."""
    out: list[Period] = [(component, None, None)]
    frontier: list[Period] = [(component, None, None)]
    while frontier:
        nxt: list[Period] = []
        for child, start, end in frontier:
            for inst in Installation.objects.filter(component=child).select_related("parent"):
                lo = _later(start, inst.installed_from)
                hi = _earlier(end, inst.installed_to)
                if lo is None or hi is None or lo < hi:
                    nxt.append((inst.parent, lo, hi))
        out.extend(nxt)
        frontier = nxt
    return out


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _overlapping(start: datetime | None, end: datetime | None) -> Q:
    q = Q()
    if start is not None:
        q &= Q(time_end__isnull=True) | Q(time_end__gte=start)
    if end is not None:
        q &= Q(time_start__isnull=True) | Q(time_start__lt=end)
    return q


def series_affected_by(component: Component) -> QuerySet[Series]:
    """Every series a (defective) component may have affected.

    A series is affected when the component measured it directly, or when the component was
    part of the series' instrument (at any depth of the instrument tree) while the series was
    measured.
    """
    q = Q(component=component) | Q(instrument=component)
    for ancestor, start, end in _ancestors(component)[1:]:
        q |= Q(instrument=ancestor) & _overlapping(start, end)
    return Series.objects.filter(q).distinct().order_by("id")


def components_of_series(series: Series) -> list[Component]:
    """The components behind a series: its instrument and every part installed while measured.

    The inverse of :func:`series_affected_by`.
    """
    roots = [c for c in (series.instrument, series.component) if c is not None]
    found: dict[int, Component] = {c.pk: c for c in roots}
    frontier = [c.pk for c in roots]
    window = Q()
    if series.time_start is not None:
        window &= Q(installed_to__isnull=True) | Q(installed_to__gt=series.time_start)
    if series.time_end is not None:
        window &= Q(installed_from__lte=series.time_end)
    while frontier:
        parts = Installation.objects.filter(window, parent_id__in=frontier).select_related(
            "component__component_type"
        )
        new = [i.component for i in parts if i.component_id not in found]
        found.update({c.pk: c for c in new})
        frontier = [c.pk for c in new]
    return list(found.values())
