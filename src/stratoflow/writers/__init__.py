"""Writers: one module per output format, each consuming the standardized Dataset.

Writers are plugins in the ``stratoflow.writers`` entry-point group.
"""

from __future__ import annotations

from stratoflow import plugins
from stratoflow.writers.base import Writer
from stratoflow.writers.csv import CsvWriter
from stratoflow.writers.icartt import IcarttWriter
from stratoflow.writers.nasa_ames import NasaAmesWriter
from stratoflow.writers.netcdf import NetcdfWriter

__all__ = ["CsvWriter", "IcarttWriter", "NasaAmesWriter", "NetcdfWriter", "Writer", "get_writer"]


def get_writer(name: str) -> type[Writer]:
    """The writer class registered as ``name`` (raises PluginNotFound listing the others)."""
    cls: type[Writer] = plugins.load("writers", name)
    return cls
