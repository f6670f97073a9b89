"""Set-up the import tests share: a flight file of pressure and temperature, the processing
configuration that calibrates its pressure, and a calibrated instrument in the catalog.

The re-processing tests (one file through ``import_file``, a job through ``stratoflow job
reprocess``) turn on the same calibration and the same kind of file; written once, a change to
the calibration step's parameters or to the dataset builder is made once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stratoflow import write_dataset
from stratoflow.dataset import make_dataset


def calibrated(offset: float) -> list[dict[str, Any]]:
    """Processing of one step: ``p`` calibrated linearly (``offset`` hPa, slope 1) from a
    calibration dated 2024-01-01 given in the configuration (not the catalog)."""
    pre = {
        "time": "2024-01-01T00:00:00",
        "function": "linear",
        "parameters": {
            "offset": {"value": offset, "units": "hPa"},
            "slope": {"value": 1.0, "units": "1"},
        },
    }
    return [{"step": "calibration", "params": {"variable": "p", "pre": pre}}]


def write_pressure_flight(
    path: Path, flight: str, start: str, n: int, p: tuple[float, float] = (800.0, 900.0)
) -> Path:
    """A netCDF flight ``flight`` of ``n`` 1 Hz points from ``start``: ``p`` rising linearly
    over the range ``p`` (hPa), ``T`` from 250 to 260 K."""
    t = np.datetime64(start, "ns") + np.arange(n) * np.timedelta64(1, "s")
    ds = make_dataset(
        t,
        {
            "p": (np.linspace(p[0], p[1], n), {"units": "hPa", "long_name": "pressure"}),
            "T": (np.linspace(250.0, 260.0, n), {"units": "K", "long_name": "temperature"}),
        },
        attrs={"flight_id": flight},
    )
    return write_dataset(ds, path, writer="netcdf")


def catalog_instrument(
    instrument: str,
    component_class: str,
    *,
    aircraft: str,
    deployed: str,
    calibrated: str,
    offset: float,
    units: str,
) -> None:
    """Put in the catalog the ``instrument`` (``type/serial``, of ``component_class``),
    deployed on ``aircraft`` from the date ``deployed``, with one linear calibration dated
    ``calibrated``: ``offset`` in ``units``, slope 1. Needs the database."""
    from stratoflow.server.catalog.metadata import metadata_import

    kind, serial = instrument.rsplit("/", 1)
    metadata_import(
        {
            "aircraft": [{"registration": aircraft}],
            "component_types": [{"name": kind}],
            "component_classes": [{"name": component_class}],
            "components": [{"type": kind, "class": component_class, "serial": serial}],
            "deployments": [{"instrument": instrument, "aircraft": aircraft, "start": deployed}],
            "calibrations": [
                {
                    "component": instrument,
                    "time": calibrated,
                    "function": "linear",
                    "parameters": {
                        "offset": {"value": offset, "units": units},
                        "slope": {"value": 1.0, "units": "1"},
                    },
                }
            ],
        },
        source="test",
        who="test",
    )
