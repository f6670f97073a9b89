"""Readers: one module per format, each producing the standardized Dataset.

Use :func:`stratoflow.open_dataset` to read a file with the right reader, or pick one by name
with :func:`get_reader`. Readers are plugins in the ``stratoflow.readers`` entry-point group.
"""

from __future__ import annotations

import os
from pathlib import Path

from stratoflow import plugins
from stratoflow.errors import ReaderError
from stratoflow.readers.base import Reader, check_options, file_checksum, require_file
from stratoflow.readers.delimited import DelimitedReader
from stratoflow.readers.icartt import IcarttReader
from stratoflow.readers.nasa_ames import NasaAmesReader
from stratoflow.readers.netcdf import CfNetcdfReader, IagosNetcdfReader

__all__ = [
    "CfNetcdfReader",
    "DelimitedReader",
    "IagosNetcdfReader",
    "IcarttReader",
    "NasaAmesReader",
    "Reader",
    "check_options",
    "file_checksum",
    "get_reader",
    "guess_reader",
]


def get_reader(name: str) -> type[Reader]:
    """The reader class registered as ``name`` (raises PluginNotFound listing the others)."""
    cls: type[Reader] = plugins.load("readers", name)
    return cls


def guess_reader(path: str | os.PathLike[str]) -> type[Reader]:
    """The installed reader that claims ``path`` with the highest priority."""
    require_file(path)
    candidates = [
        cls for cls in plugins.load_all("readers").values() if cls.guess_can_open(Path(path))
    ]
    if not candidates:
        available = ", ".join(plugins.names("readers")) or "none"
        raise ReaderError(
            f"no reader recognises this file; choose one with reader=... ({available})", path=path
        )
    best: type[Reader] = max(candidates, key=lambda cls: cls.priority)
    return best
