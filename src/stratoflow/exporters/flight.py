"""The flight exporter: the series of one flight from the database, written in one file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratoflow import write_dataset
from stratoflow.dataset import data_variables, flags_of
from stratoflow.errors import ExportError
from stratoflow.flags import count_flags
from stratoflow.readers.base import file_checksum
from stratoflow.server.catalog.models import Flight, Series
from stratoflow.server.catalog.selectors import flight_dataset
from stratoflow.writers import get_writer

__all__ = ["ExportedFile", "export_flight"]


@dataclass
class ExportedFile:
    """A written export file and what it holds."""

    path: Path
    sha256: str
    points: int
    flag_counts: dict[str, int] = field(default_factory=dict)


def export_flight(
    flight_id: int,
    *,
    series_ids: Sequence[int],
    directory: Path,
    writer: str = "netcdf",
    writer_options: Mapping[str, Any] | None = None,
) -> ExportedFile:
    """Write the given series of a flight (values and final flags) into ``directory``."""
    flight = Flight.objects.select_related("platform").get(pk=flight_id)
    series = list(Series.objects.filter(pk__in=series_ids, flight=flight).order_by("id"))
    if len(series) != len(set(series_ids)):
        raise ExportError(f"flight {flight.identifier}: some series to export no longer exist")
    ds = flight_dataset(flight, series=series)
    ds.attrs.update(
        {
            "title": f"Flight {flight.identifier}",
            "series_versions": ", ".join(f"{s.variable} v{s.version}" for s in series),
            "history": "; ".join(
                f"{s.variable}: {s.provenance.get('source_file', '')} read by "
                f"{s.provenance.get('reader', '')}, stratoflow {s.provenance.get('stratoflow_version')}"
                for s in series[:1]
            ),
        }
    )
    suffix = get_writer(writer).suffix or ".dat"
    path = directory / f"{flight.identifier}{suffix}"
    write_dataset(ds, path, writer=writer, **dict(writer_options or {}))
    counts = count_flags([])
    for name in data_variables(ds):
        for key, n in count_flags(flags_of(ds, name)).items():
            counts[key] += n
    return ExportedFile(
        path=path,
        sha256=file_checksum(path),
        points=int(ds.sizes["time"]) * len(series),
        flag_counts=counts,
    )
