"""CSV writer: one row per time step, a commented metadata header, ISO 8601 UTC times.

CSV is what people open in a spreadsheet or read with one line of pandas, so the file keeps
to what every tool understands: a header of ``#`` comment lines (global attributes, then one
line per column with its units and long name, then the flag scheme), one line of column
names, and data rows. Times are ISO 8601 in UTC with a ``Z`` suffix, at the coarsest precision
that keeps every time exact; numbers are written with full precision, so reading the file back
gives the same values; missing values are empty fields.

Example::

    >>> import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the venv
    >>> CsvWriter().write(ds, "flight.csv")                                  # doctest: +SKIP
    >>> pd.read_csv("flight.csv", comment="#", parse_dates=["time"])         # doctest: +SKIP
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the venv
import xarray as xr

from stratoflow import __version__
from stratoflow.csv_metadata import TEXT_MARK, encode, encode_attrs, encode_key
from stratoflow.dataset import FLAG_SUFFIX, TIME
from stratoflow.errors import ConfigError
from stratoflow.flags import Flag
from stratoflow.writers.base import Writer

__all__ = ["CsvWriter", "iso_times"]

_UNITS = (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1))


def iso_times(times: npt.NDArray[np.datetime64]) -> npt.NDArray[np.str_]:
    """ISO 8601 UTC strings (``...Z``) at the coarsest precision that is still exact."""
    ns = times.astype("datetime64[ns]")
    offsets = ns.view(np.int64)
    unit: Any = next(u for u, factor in _UNITS if not (offsets % factor).any())
    text: npt.NDArray[np.str_] = np.asarray(
        np.datetime_as_string(ns.astype(f"datetime64[{unit}]"), unit=unit, timezone="UTC")
    )
    return text


class CsvWriter(Writer):
    """Comma-separated values with a ``#`` metadata header.

    ``delimiter`` separates fields (``","`` or ``";"`` or tab); ``header`` can switch the
    metadata header off for tools that cannot skip comment lines.
    """

    name: ClassVar[str] = "csv"
    description: ClassVar[str] = "CSV with a commented metadata header and ISO 8601 UTC times"
    suffix: ClassVar[str] = ".csv"

    def __init__(self, *, delimiter: str = ",", header: bool = True) -> None:
        if delimiter not in {",", ";", "\t"}:
            raise ConfigError(f"csv writer: delimiter must be ',', ';' or a tab, not {delimiter!r}")
        self.delimiter = delimiter
        self.header = header

    def __repr__(self) -> str:
        return f"CsvWriter(delimiter={self.delimiter!r}, header={self.header})"

    def _write(self, ds: xr.Dataset, path: Path) -> None:
        columns: dict[str, Any] = {TIME: iso_times(np.asarray(ds[TIME].values))}
        for name, var in ds.data_vars.items():
            values = np.asarray(var.values)
            # 1/0 as the other text writers write them: pandas' True/False reads back as text
            columns[str(name)] = values.astype(np.uint8) if values.dtype.kind == "b" else values
        frame = pd.DataFrame(columns)
        # A "#" in a text field would start a comment for readers told to skip the header
        # (pandas' ``comment="#"``), cutting the row there; quoted, it is data. The column
        # names stay as they are (quoted names would hide the delimiter from sniffers).
        hashed = any(
            (np.char.find(np.asarray(v).astype(str), "#") >= 0).any()
            for name, v in columns.items()
            if name != TIME and np.asarray(v).dtype.kind in "USO"
        )
        with open(path, "w", encoding="utf-8", newline="") as fh:
            if self.header:
                fh.writelines(f"# {line}\n" for line in self._header(ds))
            csv.writer(fh, delimiter=self.delimiter, lineterminator="\n").writerow(columns)
            frame.to_csv(
                fh,
                header=False,
                index=False,
                sep=self.delimiter,
                na_rep="",
                lineterminator="\n",
                quoting=csv.QUOTE_NONNUMERIC if hashed else csv.QUOTE_MINIMAL,
            )

    def _header(self, ds: xr.Dataset) -> list[str]:
        """``#`` lines that give back every attribute exactly (see :mod:`stratoflow.csv_metadata`).

        Global attributes are ``key: value`` lines, plain where plain text reads back the same;
        each column's attributes are one JSON object, so a ``"; "`` in a long name, a newline,
        a number or an array comes back as it was. Text columns are marked, so ``"01"`` stays
        text. Flag columns are named only: their attributes are the CF flag attributes.
        """
        lines = [f"stratoflow {__version__} CSV export; times are ISO 8601 UTC"]
        for key, value in ds.attrs.items():
            lines.append(f"{encode_key(str(key))}: {encode(value)}")
        lines.append("columns:")
        lines.append(f"  {TIME}: time (UTC), ISO 8601")
        for name, var in ds.data_vars.items():
            key = str(name)
            if key.endswith(FLAG_SUFFIX) and key[: -len(FLAG_SUFFIX)] in ds.data_vars:
                lines.append(f"  {key}: validity flag of {key[: -len(FLAG_SUFFIX)]}")
                continue
            attrs = dict(var.attrs)
            if var.dtype.kind in "USO":
                attrs[TEXT_MARK] = True  # not an attribute: read back as text, not numbers
            lines.append(f"  {key}: {encode_attrs(attrs)}")
        codes = ", ".join(f"{int(f)} {f.label}" for f in Flag)
        lines.append(f"flags: {codes}")
        # the reader checks it: a file cut short at a line break still parses, silently short
        lines.append(f"records: {ds.sizes[TIME]}")
        return lines
