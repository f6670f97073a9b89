"""Exporters: database -> standardized Dataset (selected, synchronised, resampled) -> Writer.

:mod:`stratoflow.exporters.resample` is plain numpy/xarray and works without Django; the rest
reads the database and needs the server set up (:func:`stratoflow.server.setup`), so it is
imported lazily.
"""

from __future__ import annotations

from importlib import import_module

from stratoflow.exporters.resample import (
    AGGREGATES,
    Aggregate,
    Resampled,
    parse_resolution,
    resample_dataset,
    resample_series,
    synchronise,
)

__all__ = [
    "AGGREGATES",
    "Aggregate",
    "ExportIncomplete",
    "ExportOptions",
    "FlightSelection",
    "Resampled",
    "Selection",
    "SeriesVersion",
    "export",
    "export_one",
    "fingerprint",
    "flight_dataset",
    "parse_resolution",
    "resample_dataset",
    "resample_series",
    "select",
    "synchronise",
]

# Lazy: Django models need configured settings, which plain library users lack.
_LAZY = {
    "ExportIncomplete": "export",
    "ExportOptions": "export",
    "export": "export",
    "export_one": "export",
    "fingerprint": "export",
    "flight_dataset": "assemble",
    "FlightSelection": "selection",
    "Selection": "selection",
    "SeriesVersion": "selection",
    "select": "selection",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(f"stratoflow.exporters.{_LAZY[name]}"), name)
    raise AttributeError(name)
