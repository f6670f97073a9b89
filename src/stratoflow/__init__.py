"""stratoflow: the data workflow of an atmospheric observation programme.

Scheduled jobs fetch measurements from external providers, read them into a standardized
Dataset, import them into a database, quality-control them, let the PI review the result and
export validated data. The libraries below work without the server, in a notebook::

    import stratoflow
    ds = stratoflow.open_dataset("IAGOS_timeseries_2019010510370802_L2_3.1.0.nc4")
    stratoflow.write_dataset(ds, "flight.nc", writer="netcdf")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratoflow.errors import StratoflowError

if TYPE_CHECKING:  # imported where used: ``stratoflow --help`` need not load xarray and pandas
    import xarray as xr

__all__ = ["StratoflowError", "__version__", "open_dataset", "write_dataset"]

__version__ = "0.1.0"


def open_dataset(
    path: str | os.PathLike[str], reader: str | None = None, **options: Any
) -> xr.Dataset:
    """Read ``path`` into a standardized Dataset.

    ``reader`` names the reader plugin (see ``stratoflow inspect --help``); when omitted, the
    reader is guessed from the file's magic bytes and name. ``options`` are the reader's
    keyword options, checked against its signature.
    """
    from stratoflow.readers import check_options, get_reader, guess_reader

    cls = get_reader(reader) if reader else guess_reader(path)
    check_options(cls, options)
    return cls(**options).read(Path(path))


def write_dataset(
    dataset: xr.Dataset, path: str | os.PathLike[str], writer: str = "netcdf", **options: Any
) -> Path:
    """Write a standardized Dataset to ``path`` with the named writer plugin (atomically)."""
    from stratoflow.writers import get_writer

    cls = get_writer(writer)
    return cls(**options).write(dataset, Path(path))
