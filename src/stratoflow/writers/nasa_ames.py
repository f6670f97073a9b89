"""NASA Ames FFI 1001 writer (Gaines & Hipskind), read back identically by nappy and our reader.

Layout choices, so that a file round-trips through :class:`~stratoflow.readers.NasaAmesReader`:

* the independent variable is time in seconds since 0000 UTC of the first day (line 7), written
  with the shortest representation that reads back to the same nanosecond;
* every value is written with Python's shortest round-trip float representation; one missing
  value (``9...9``, at least ten times larger than any value) serves all variables and scale
  factors are 1, so nothing is lost to rounding;
* variable lines read ``name; long_name; [units]`` (the CARIBIC form) with UDUNITS units;
* flag variables are written as ``<var>_flag`` columns holding IAGOS codes, which the reader
  turns back into flags;
* standard names and ``ancillary_variables`` (which variable is the error, process flag...
  of which) are kept in CARIBIC-style tab-separated normal comments ``CF_StandardNames:`` and
  ``CF_AncillaryVariables:``, one entry per column after the independent variable, so the
  reader ties an error variable to its variable again instead of taking it for data;
* global attributes become ``key: value`` normal comments after a
  ``FileFormatVersionInfo: stratoflow NASA Ames 1001`` line, text as it is, anything else
  (numbers, lists, numpy arrays) as JSON and named in a ``TypedAttributes:`` line, so that it
  reads back with its type; the last normal comment line holds the column names.

Example::

    >>> NasaAmesWriter().write(ds, "flight.na")          # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]
import xarray as xr

from stratoflow.csv_metadata import encode
from stratoflow.dataset import TIME, flag_name
from stratoflow.errors import ConfigError, WriterError
from stratoflow.readers.nasa_ames import TYPED_ATTRIBUTES
from stratoflow.writers.base import Writer
from stratoflow.writers.names import renamed_variables

__all__ = [
    "Columns",
    "NasaAmesWriter",
    "TextPolicy",
    "ancillary_links",
    "check_text_policy",
    "columns_of",
    "number",
    "write_block",
]

logger = logging.getLogger(__name__)

_HEADER_ATTRS = {
    "pi", "organisation", "source", "mission", "special_comments", "normal_comments",
    "file_format", "file_convention", "file_volume", "data_date", "revision_date",
    "independent_variable", "header_encoding", "reader", "source_checksum",
}  # fmt: skip
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Columns:
    """What goes into an FFI 1001 data block: time offsets, names, attributes, values."""

    date: dt.date
    seconds: npt.NDArray[np.float64]
    names: list[str]
    attrs: list[dict[str, Any]]
    values: list[npt.NDArray[Any]]
    digits: int  # the missing value is 9...9 with this many digits: >= 10x any value
    left_out: tuple[str, ...] = ()  # text variables left out (``text_variables="drop"``)

    @property
    def dx(self) -> float:
        """The constant time step in seconds, 0 when irregular (per Gaines & Hipskind)."""
        if self.seconds.size < 2:
            return 0.0
        steps = np.diff(self.seconds)
        return float(steps[0]) if np.all(steps == steps[0]) else 0.0


def _clean(text: object, what: str, forbidden: str) -> str:
    value = _FORBIDDEN.sub(" ", str(text)).strip()
    for char in forbidden:
        value = value.replace(char, " ")
    return value or what


TextPolicy = Literal["error", "drop"]


def check_text_policy(writer: str, text_variables: str) -> None:
    """Refuse an unknown ``text_variables`` option when the writer is configured."""
    if text_variables not in ("error", "drop"):
        raise ConfigError(
            f"{writer} writer: text_variables must be 'error' or 'drop', got {text_variables!r}"
        )


def columns_of(
    ds: xr.Dataset, *, path: Path, text_variables: TextPolicy = "error", fmt: str = "FFI 1001"
) -> Columns:
    """Select the numeric variables of ``ds`` (flags after their variable) and check them.

    Text variables (an instrument state) cannot go into a format of numbers. They are an
    error naming all of them (``text_variables="error"``), so nothing is lost unnoticed, or
    are left out and listed in :attr:`Columns.left_out` for the header (``"drop"``).
    """
    text = [str(n) for n in ds.data_vars if ds[n].dtype.kind in "USO"]
    if text and text_variables == "error":
        raise WriterError(
            f"{path}: text variables {', '.join(map(repr, text))} cannot be written in {fmt}, "
            "which holds numbers only: leave them out (writer option text_variables='drop', "
            "named in the header), or write netCDF or CSV, which keep them"
        )
    if text:
        ds = ds.drop_vars(text)
    times = ds[TIME].values.astype("datetime64[ns]")
    if times.size == 0:
        raise WriterError(f"{path}: the Dataset has no time steps; FFI 1001 needs records")
    day = times[0].astype("datetime64[D]")
    date = dt.date.fromisoformat(str(day))
    seconds = (times - day).astype("timedelta64[ns]").astype(np.int64) / 1e9
    names: list[str] = []
    attrs: list[dict[str, Any]] = []
    values: list[npt.NDArray[Any]] = []
    flag_vars = {flag_name(str(n)) for n in ds.data_vars}
    for name in [str(n) for n in ds.data_vars if str(n) not in flag_vars]:
        for col in (name, flag_name(name)):
            if col not in ds.data_vars:
                continue
            data = np.asarray(ds[col].values)
            if data.dtype.kind not in "fiub":
                raise WriterError(f"{path}: variable {col!r} is not numeric ({data.dtype})")
            if not name or _FORBIDDEN.search(col) or any(c in col for c in ";,[] "):
                raise WriterError(f"{path}: variable name {col!r} cannot be written in FFI 1001")
            names.append(col)
            attrs.append(dict(ds[col].attrs))
            values.append(data)
    if not names:
        raise WriterError(f"{path}: the Dataset has no numeric variables to write")
    biggest = 0.0
    for data in values:
        finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
        if data.dtype.kind == "f" and np.isinf(data).any():
            raise WriterError(f"{path}: infinite values cannot be written in FFI 1001")
        if finite.size:
            biggest = max(biggest, float(np.abs(finite.astype(np.float64)).max()))
    if biggest >= 1e290:
        raise WriterError(f"{path}: values up to {biggest:g} leave no room for a missing value")
    digits = max(4, math.floor(math.log10(biggest)) + 2 if biggest >= 1 else 4)
    return Columns(date, seconds, names, attrs, values, digits, tuple(text))


#: Characters a FFI 1001 variable name cannot hold: ``name; long name; [units]`` lines and
#: the blank-separated name line of the normal comments would split it.
_NAME_BREAKS = re.compile(r"[\x00-\x20\x7f;,\[\]]+")
_NAME_EDGES = re.compile(r"^[\x00-\x20\x7f;,\[\]]+|[\x00-\x20\x7f;,\[\]]+$")


def _safe_names(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with names a variable line can hold: blanks, ``;``, ``,`` and brackets become
    ``_`` (``O3 (ppb)`` -> ``O3_(ppb)``), the source's name kept as the long name.

    Names that then become one are told apart
    (:func:`~stratoflow.writers.names.unique_names`: ``O3_(ppb)_2``), the long name saying
    which source name it was; a flag follows its variable's new name.
    """

    def fit(key: str) -> str:
        inner = _NAME_BREAKS.sub("_", _NAME_EDGES.sub("", key))
        return key if inner == key else inner or "var"

    return renamed_variables(ds, fit, avoid=(TIME,))[0]


def number(value: float) -> str:
    """The shortest text that reads back as exactly ``value`` (used for header and data)."""
    return repr(float(value))


def _missing_as(data: npt.NDArray[Any], missing: float) -> npt.NDArray[Any]:
    """``data`` with NaN replaced by ``missing``, in a float type that holds ``missing`` exactly.

    A float32 column above 2**24 (1.5e7) gets a missing value of nine digits, which float32
    rounds (999999999 -> 1e9): written as is, a gap would read back as a value. Such a column
    is written as float64, whose shortest repr still reads back to the same float32.
    """
    if data.dtype.kind == "b":  # numbers, not pandas' True/False, which no reader parses
        return data.astype(np.uint8)
    if data.dtype.kind != "f":
        return data
    # beyond float32's range (a column next to one of values up to 1e200) the cast gives
    # inf: compare against the type's range instead of casting and warning of an overflow
    if abs(missing) > float(np.finfo(data.dtype).max) or float(data.dtype.type(missing)) != missing:
        data = data.astype(np.float64)
    return np.where(np.isnan(data), missing, data)


_CHUNK_VALUES = 20_000


def write_block(
    columns: Columns, path: Path, header: str, *, sep: str, missing: float, encoding: str
) -> None:
    """Write ``header`` and then the data block to ``path``: shortest round-trip reprs, NaN
    written as ``missing``.

    The block goes straight into the file, in pandas' chunks: built as one string first (and
    joined to the header), a long high-rate flight was held in memory three times over, as
    text several times the size of its numbers.
    """
    # one DataFrame from all columns at once: inserting 100+ columns one by one fragments it
    frame = pd.DataFrame(
        {
            "time": columns.seconds,
            **{str(i): _missing_as(data, missing) for i, data in enumerate(columns.values)},
        }
    )
    with open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(header)
        frame.to_csv(
            fh,
            sep=sep,
            header=False,
            index=False,
            lineterminator="\n",
            # each value of a chunk is a Python string while it is formatted: ~20000 at a time
            chunksize=max(1, _CHUNK_VALUES // frame.shape[1]),
        )


def ancillary_links(cols: Columns) -> list[str]:
    """Each written column's ``ancillary_variables``, restricted to columns written too.

    A name that is not a column of the file (a variable left out of the export) would point
    nowhere after reading, so it is dropped; an empty string means "no ancillary variables".
    """
    written = set(cols.names)
    return [
        " ".join(n for n in str(a.get("ancillary_variables", "")).split() if n in written)
        for a in cols.attrs
    ]


def _tab_line(key: str, entries: list[str]) -> str | None:
    """A CARIBIC-style ``Key:\ttime\tentry1\t...`` line, or None when every entry is empty."""
    if not any(entries):
        return None
    return "\t".join([f"{key}:", "time", *(_FORBIDDEN.sub(" ", e).strip() for e in entries)])


#: Joins the lines of a multi-line attribute on its one ``key: value`` line.
LINE_JOIN = " | "


def _attr_lines(ds: xr.Dataset) -> list[str]:
    """``key: value`` normal comments, one per global attribute, and the line naming those
    written as JSON.

    A value of several lines (an export's ``history``: which series versions and QC runs
    went out; a source's ``summary``) was left out, losing the provenance of the file; its
    lines are now joined with :data:`LINE_JOIN`, blank ones dropped.

    A value that is not text (a number, NaN, a list or numpy array of numbers) came back as
    text (``"3"``), or was left out (a list): it is written as JSON
    (:func:`~stratoflow.csv_metadata.encode`, numpy types tagged with their dtype), and its key
    listed in a ``TypedAttributes:`` line, from which the reader decodes it again. Text stays
    as it is, readable, and is read back as text, whatever it looks like (``"1"``).

    A key the ``key: value`` line would cut or change (one with a ``:``, like
    ``geospatial:note``, a line break, padding) was left out without a word; it is written
    as a JSON string with the ``:`` escaped (``"geospatial\\u003anote": ...``), so it stays in
    the file and ``json.loads`` of the key read back gives it exactly. What still cannot be
    written (a key too long for a reader to take it for one, a value that is no text,
    number or list) is named in an ``AttributesLeftOut:`` line and logged, never dropped
    unsaid.
    """
    lines: list[str] = []
    typed: list[str] = []
    left_out: list[str] = []
    for key, value in ds.attrs.items():
        if key in _HEADER_ATTRS:
            continue
        name = _attribute_key(key)
        if isinstance(value, str):
            text = LINE_JOIN.join(line.strip() for line in value.splitlines() if line.strip())
        elif isinstance(value, bool | int | float | np.generic | np.ndarray | list | tuple):
            text = encode(value)
        else:
            text = None
        if name is None or text is None:
            left_out.append(json.dumps(str(key))[1:-1].replace(",", "\\u002c"))
            continue
        if not isinstance(value, str):
            typed.append(name)
        lines.append(f"{name}: {_clean(text, '', '')}")
    if left_out:
        logger.warning("NASA Ames writer: global attributes left out: %s", ", ".join(left_out))
    return [
        *(["\t".join([f"{TYPED_ATTRIBUTES}:", *typed])] if typed else []),
        *([f"{ATTRIBUTES_LEFT_OUT}: {', '.join(left_out)}"] if left_out else []),
        *lines,
    ]


#: Normal comment naming the global attributes that could not be written (see _attr_lines).
ATTRIBUTES_LEFT_OUT = "AttributesLeftOut"
#: Longest key a reader takes for one in a ``key: value`` line (stratoflow's reads < 60).
_KEY_LENGTH = 59


def _attribute_key(key: object) -> str | None:
    """``key`` as a ``key: value`` normal comment can hold it: as it is where that reads
    back the same, else JSON with ``:`` escaped; None when no line can hold it."""
    if not isinstance(key, str) or not key.strip():
        return None
    if key == key.strip() and ":" not in key and not _FORBIDDEN.search(key):
        name = key
    else:
        name = json.dumps(key, ensure_ascii=False).replace(":", "\\u003a")
        name = _FORBIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", name)
    return name if len(name) <= _KEY_LENGTH else None


class NasaAmesWriter(Writer):
    """Standardized Dataset -> NASA Ames FFI 1001 (one file, one volume).

    Options override the header lines that otherwise come from the Dataset attributes
    ``pi``, ``organisation``, ``source`` and ``mission``. ``text_variables``: ``"error"``
    (default) refuses a Dataset with text variables, naming them; ``"drop"`` leaves them out
    and names them in a ``TextVariablesLeftOut:`` normal comment.
    """

    name: ClassVar[str] = "nasa_ames"
    description: ClassVar[str] = "NASA Ames FFI 1001 text file (Gaines & Hipskind)"
    suffix: ClassVar[str] = ".na"

    def __init__(
        self,
        *,
        originator: str | None = None,
        organisation: str | None = None,
        source: str | None = None,
        mission: str | None = None,
        text_variables: TextPolicy = "error",
    ) -> None:
        check_text_policy(self.name, text_variables)
        self.originator = originator
        self.organisation = organisation
        self.source = source
        self.mission = mission
        self.text_variables: TextPolicy = text_variables

    def _write(self, ds: xr.Dataset, path: Path) -> None:
        ds = _safe_names(ds)
        cols = columns_of(ds, path=path, text_variables=self.text_variables, fmt="NASA Ames")
        nv = len(cols.names)
        today = dt.datetime.now(dt.UTC).date()
        rdate = max(today, cols.date)
        vnames = [
            f"{name}; {_clean(a.get('long_name', name), name, ';[]')}; "
            f"[{_clean(a.get('units', '1'), '1', ';[]')}]"
            for name, a in zip(cols.names, cols.attrs, strict=True)
        ]
        scom = [
            _clean(line, "", "") for line in str(ds.attrs.get("special_comments", "")).split("\n")
        ]
        scom = [line for line in scom if line]
        standard = [str(a.get("standard_name", "")) for a in cols.attrs]
        links = [
            line
            for line in (
                _tab_line("CF_StandardNames", standard),
                _tab_line("CF_AncillaryVariables", ancillary_links(cols)),
            )
            if line is not None
        ]
        ncom = [
            "FileFormatVersionInfo: stratoflow NASA Ames 1001",
            *links,
            *([f"TextVariablesLeftOut: {' '.join(cols.left_out)}"] if cols.left_out else []),
            *_attr_lines(ds),
            " ".join(["time", *cols.names]),
        ]

        def line(key: str, option: str | None) -> str:
            return _clean(
                option if option is not None else ds.attrs.get(key, "unknown"), "unknown", ""
            )

        head = [
            line("pi", self.originator),
            line("organisation", self.organisation),
            line("source", self.source),
            line("mission", self.mission),
            "1 1",
            cols.date.strftime("%Y %m %d ") + rdate.strftime("%Y %m %d"),
            repr(cols.dx),
            "time; seconds since 0000 UTC on the date in line 7; [s]",
            str(nv),
            " ".join(["1"] * nv),
            " ".join([number(float("9" * cols.digits))] * nv),
            *vnames,
            str(len(scom)),
            *scom,
            str(len(ncom)),
            *ncom,
        ]
        nlhead = len(head) + 1
        text = "\n".join([f"{nlhead} 1001", *head]) + "\n"
        write_block(cols, path, text, sep=" ", missing=float("9" * cols.digits), encoding="utf-8")
