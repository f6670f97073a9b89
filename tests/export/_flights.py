"""Helpers of the export tests: sample flights through the real import path, PI approval."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stratoflow import write_dataset
from stratoflow.samples import generate_flight


@dataclass(frozen=True)
class Imported:
    """A sample flight imported (with QC) through the real import path."""

    identifier: str
    path: Path
    series_ids: list[int]


def import_sample(
    directory: Path, *, seed: int, hours: float = 0.5, step_s: int = 1, name: str | None = None
) -> Imported:
    """Generate a flight, write it as an IAGOS netCDF file, import it with QC."""
    from stratoflow.importers.series import import_file

    # A short route: ground speeds stay plausible, so QC keeps the positions (FRA -> MUC).
    flight = generate_flight(seed=seed, hours=hours, step_s=step_s, origin="FRA", destination="MUC")
    path = directory / (name or flight.file_name)
    write_dataset(flight.dataset, path, writer="netcdf", layout="iagos")
    result = import_file(path, identity=f"portal/{name or flight.file_name}")
    return Imported(result.flight, path, result.series_ids)


def approve(identifier: str, level: str = "L1") -> None:
    """The PI releases the flight's current data to ``level``."""
    from stratoflow.server.catalog.models import Flight
    from stratoflow.server.review.services import flight_approve

    flight_approve(Flight.objects.get(identifier=identifier), user=None, level=level)
