"""Configurable delimited text (CSV, TSV, instrument logs) -> standardized Dataset.

Instrument logs differ in separator, decimal mark, line endings, header lines and time format,
so everything is an explicit option. Named *presets* bundle the options for known instruments;
explicit options given together with a preset override it. The raw FAIRO logs are the worked
example (tab separated, CRLF, an empty first column, ``dd.mm.yy HH:MM:SS.ff`` timestamps)::

    >>> ds = DelimitedReader(preset="fairo_omc").read("11_30_04.OMC")   # doctest: +SKIP
    >>> ds["O3"].attrs["units"]                                          # doctest: +SKIP
    '1e-9'

================  ==========================================================================
preset            file
================  ==========================================================================
``fairo_omc``     ``*.OMC`` UV-photometer ozone (~4 s): time ``Time``
``fairo_hal``     ``*.HAL`` aircraft data (1 Hz): time ``V25_Time`` (instrument clock);
                  ``HALO_Time`` (aircraft clock) kept as seconds since 1970 for clock sync
``fairo_tp``      ``*.T_P`` housekeeping pressures, temperatures, flows (2 s): time ``T_pTime``
``fairo_dat``     ``*.DAT`` instrument state and valve flags (2 s): time ``DateTime``
================  ==========================================================================

A file written by stratoflow's CSV writer (first line ``# stratoflow ... CSV export``) is
recognised without options: its ``#`` header gives back the separator, every attribute of the
dataset and of each column exactly as written (see :mod:`stratoflow.csv_metadata`), text
columns as text, and the flags (from the ``*_flag`` columns).

A table without flag columns gives no flags: the reader does not make up "not validated"
flags of its own (:func:`stratoflow.dataset.flags_of` reads a variable without flags so).

Times are taken as UTC. Columns that are neither time nor numeric (FAIRO ``State``) are kept as
text variables with units ``1``; numeric columns whose units neither a preset nor the ``units``
option gives have units ``unknown`` (see :data:`~stratoflow.readers.base.UNKNOWN_UNITS`). A
row with missing fields, a value that is not a number in a numeric column, a time that does not
match the format or does not increase is an error naming the line; nothing is returned
partially.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]
import xarray as xr

from stratoflow.csv_metadata import TEXT_MARK, decode, decode_attrs
from stratoflow.dataset import FLAG_SUFFIX, make_dataset
from stratoflow.errors import ConfigError, ReaderError, TimeUnitsError
from stratoflow.flags import Flag
from stratoflow.readers.base import UNKNOWN_UNITS, Reader, without_bom
from stratoflow.readers.text_table import check_last_line
from stratoflow.timeunits import zone_offset

__all__ = ["PRESETS", "DelimitedConfig", "DelimitedReader"]

_EPOCH_UNITS = "seconds since 1970-01-01 00:00:00"
#: A number written with a decimal comma ("1,5", "-0,25", "3,1e-9"); no thousands separators.
_DECIMAL_COMMA = r"[+-]?(?:\d+,\d*|,\d+)(?:[eE][+-]?\d+)?"


def _without_trailing_blank_lines(raw: bytes) -> bytes:
    """``raw`` ending with its last record's line break: later empty or blank lines dropped.

    Only whole lines go: a last record's trailing separator or blank is a field.
    """
    end = len(raw)
    while True:
        j = end
        while j > 0 and raw[j - 1] in b" \t":
            j -= 1
        if j == 0 or raw[j - 1] != ord("\n"):
            break
        end = j - 1 - (j > 1 and raw[j - 2] == ord("\r"))
    ending = b"\r\n" if raw[end : end + 2] == b"\r\n" else b"\n"
    return raw[:end] + ending if end < len(raw) else raw


#: a timestamp that ends in its own zone: a time of day, then Z, UTC, GMT or an offset
_OWN_ZONE = r"\d:\d{2}(?::\d{2}(?:[.,]\d*)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?|UTC|GMT)\s*$"


def _utc_offset(text: str | None) -> np.timedelta64 | None:
    """``"+01:00"`` (``"+0100"``, ``"-05"``) -> the offset; ConfigError for anything else.

    Read like the zone of a time units string (:func:`stratoflow.timeunits.zone_offset`), so
    ``"UTC+1"`` is refused as ambiguous here too (POSIX reads its sign the other way)."""
    if text is None:
        return None
    try:
        return zone_offset(text)
    except TimeUnitsError as exc:
        raise ConfigError(
            f"utc_offset {text!r}: {exc} (zone names are not accepted: daylight-saving time "
            "makes their local times ambiguous)"
        ) from None


def _markers(values: Sequence[str] | None) -> tuple[str, ...] | None:
    """The ``missing_values`` option as a tuple of non-empty texts (None when not given)."""
    if values is None:
        return None
    if isinstance(values, str | bytes) or not all(isinstance(v, str | int | float) for v in values):
        raise ConfigError(
            f"missing_values must be a list of the texts that mark a missing value "
            f"(e.g. ['-9999', 'NA']), got {values!r}"
        )
    markers = tuple(str(v).strip() for v in values)
    if not all(markers):
        raise ConfigError("missing_values must not hold an empty text (blanks are missing)")
    return markers


def _is_marker(stripped: pd.Series, cfg: DelimitedConfig) -> npt.NDArray[np.bool_]:
    """Where a field is one of the ``missing_values``: as written, or as the same number
    (``-9999`` marks ``-9999.0`` and ``-9.999e3`` too)."""
    hit: npt.NDArray[np.bool_] = np.array(stripped.isin(cfg.missing_values), dtype=bool)
    numbers: list[float] = []
    for marker in cfg.missing_values:
        try:
            numbers.append(float(marker.replace(cfg.decimal, ".")))
        except ValueError:
            continue
    if numbers:
        as_number = pd.to_numeric(stripped.str.replace(cfg.decimal, ".", regex=False),
                                  errors="coerce").to_numpy(dtype=np.float64)  # fmt: skip
        hit |= np.isin(as_number, numbers)
    return hit


def _check_time_format(time_format: str) -> None:
    """ConfigError for a ``strptime`` format without a whole date (``"%H:%M:%S"``): pandas
    fills in what is missing from 1 January 1900, so every record would be dated then."""
    if time_format.upper() == "ISO8601" or "%c" in time_format:
        return
    year = re.search(r"%[YyGx]", time_format)
    day = re.search(r"%[djx]|%[VUW].*%[aAuw]|%[aAuw].*%[VUW]", time_format)
    if year is None or day is None:
        raise ConfigError(
            f"time_format {time_format!r} has no whole date (a year and a day of it): the "
            "missing parts would be taken from 1 January 1900 for every record"
        )


def _utf16_as_utf8(raw: bytes, path: Path) -> bytes:
    """A UTF-16 file (Excel's "Unicode Text", marked by its BOM) as UTF-8; others unchanged.

    UTF-16 puts a NUL byte beside every ASCII character: read as bytes, such a file was
    refused as "NUL byte in a text file".
    """
    if not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw
    try:
        return raw.decode("utf-16").encode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReaderError(f"starts with a UTF-16 byte order mark but is not UTF-16: {exc}",
                          path=path) from exc  # fmt: skip


def _encoding(raw: bytes) -> str:
    """``utf-8``, or ``latin-1`` when the bytes are not UTF-8.

    Instrument PCs running German or French Windows write ``°C`` or ``Küvette`` in their
    code page; Latin-1 decodes any byte, so such a file is read instead of refused.
    """
    if not (np.frombuffer(raw, dtype=np.uint8) >= 0x80).any():
        return "utf-8"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


@dataclass(frozen=True)
class DelimitedConfig:
    """All options of :class:`DelimitedReader`; a preset is one of these."""

    separator: str = ","
    decimal: str = "."
    line_ending: str | None = None
    header_lines: int = 0
    time_column: str = "time"
    time_format: str = "ISO8601"
    datetime_columns: tuple[str, ...] = ()
    units: Mapping[str, str] = field(default_factory=dict)
    long_names: Mapping[str, str] = field(default_factory=dict)
    columns: tuple[str, ...] | None = None
    suffix: str = ""
    utc_offset: str | None = None
    utc_columns: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = ()


_FAIRO = DelimitedConfig(separator="\t", line_ending="\r\n", time_format="%d.%m.%y %H:%M:%S.%f")
PRESETS: dict[str, DelimitedConfig] = {
    "fairo_omc": replace(
        _FAIRO,
        time_column="Time",
        suffix=".OMC",
        units={
            "O3": "1e-9",
            "p": "hPa",
            "Temp": "degC",
            "T_C1": "degC",
            "T_C2": "degC",
            "t_PC_ans": "ms",
        },
        long_names={
            "O3": "ozone volume mixing ratio (UV photometer)",
            "p": "cuvette pressure",
            "I_C1": "intensity cuvette 1",
            "I_C2": "intensity cuvette 2",
        },
    ),
    "fairo_hal": replace(
        _FAIRO,
        time_column="V25_Time",
        datetime_columns=("HALO_Time",),
        utc_columns=("HALO_Time",),  # the aircraft's clock is UTC whatever the PC's is
        suffix=".HAL",
        units={
            "Lat": "degree_north",
            "Lon": "degree_east",
            "GPS_Alt": "m",
            "T_Airspeed": "m s-1",
            "Mach": "1",
            "Vert_Speed": "m s-1",
            "Temp": "degC",
            "Dew_Point": "degC",
            "Total_Temp": "degC",
            "Stat_Press": "hPa",
            "Dyn_Press": "hPa",
            "CabinPress": "hPa",
            "Wind": "m s-1",
        },
        long_names={"HALO_Time": "aircraft (HALO) clock time of the record"},
    ),
    "fairo_tp": replace(
        _FAIRO,
        time_column="T_pTime",
        suffix=".T_P",
        units={
            "p_Inlet": "hPa",
            "p_Cuev": "hPa",
            "p_preOSC": "hPa",
            "dp_Oscar": "hPa",
            "f_OMCAL": "L min-1",
            "f_Bypas": "L min-1",
            "T_LED": "degC",
            "T_C1_In": "degC",
            "T_C2_In": "degC",
            "T_Cuev1": "degC",
            "T_Cuev2": "degC",
            "T_H_In1": "degC",
            "T_H_In2": "degC",
            "T_O3Scr": "degC",
            "T_Pump1": "degC",
            "T_Pump2": "degC",
            "T_In": "degC",
            "T_Van": "degC",
        },
    ),
    "fairo_dat": replace(_FAIRO, time_column="DateTime", suffix=".DAT"),
}


_EXPORT_MARK = b"# stratoflow "
_NOT_RESTORED = frozenset({"source_file", "source_checksum", "reader", "file_format"})


@dataclass(frozen=True)
class _CsvExport:
    """The ``#`` header of a file written by stratoflow's CSV writer, read back.

    The writer puts the dataset's attributes, each column's units, long_name and standard_name,
    and the flag code table in ``#`` lines above the column names. Read with the plain
    delimited options, the comment lines would not parse and every column would lose its
    units; with this, ``convert x.nc x.csv`` and reading ``x.csv`` give back the same values,
    units and flags.
    """

    header_lines: int
    separator: str
    attrs: Mapping[str, Any]
    columns: Mapping[str, Mapping[str, Any]]
    text_columns: frozenset[str] = frozenset()
    records: int | None = None  # the number of data rows written (exports since it was added)

    @classmethod
    def parse(cls, raw: bytes) -> _CsvExport | None:
        raw = without_bom(raw)
        if not raw.startswith(_EXPORT_MARK):  # every delimited file is asked: bytes first
            return None
        text = raw[: 1 << 20].decode("utf-8", errors="replace")
        if "CSV export" not in text.split("\n", 1)[0]:
            return None
        lines = text.split("\n")
        n = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
        names = lines[n].rstrip("\r") if n < len(lines) else ""
        separator = names[4] if names.startswith("time") and len(names) > 4 else ","
        attrs: dict[str, Any] = {}
        columns: dict[str, dict[str, Any]] = {}
        text_columns: set[str] = set()
        in_columns = seen_columns = False
        records: int | None = None
        for line in lines[1:n]:
            body = line.rstrip("\r")[1:]
            if in_columns and body.startswith("   "):  # "#   NAME: {json}" (or k=v; k=v)
                name, _, spec = body.strip().partition(": ")
                decoded = decode_attrs(spec)
                if decoded is None:  # exports written before attributes were JSON
                    decoded = dict(
                        part.partition("=")[::2] for part in spec.split("; ") if "=" in part
                    )
                if decoded.pop(TEXT_MARK, False):
                    text_columns.add(name)
                columns[name] = decoded
                continue
            key, _, value = body[1:].partition(": ") if body[:1] == " " else ("", "", "")
            if key.startswith('"'):
                key = str(decode(key))
            in_columns = key.rstrip(":") == "columns" and not value
            seen_columns |= in_columns
            if seen_columns and key == "records" and value.strip().isdigit():
                records = int(value)
            elif key and not in_columns and key != "flags" and key not in _NOT_RESTORED:
                attrs[key] = decode(value)
        return cls(n, separator, attrs, columns, frozenset(text_columns), records)

    def config(self) -> DelimitedConfig:
        return DelimitedConfig(
            separator=self.separator,
            header_lines=self.header_lines,
            time_column="time",
            time_format="ISO8601",
            units={k: v["units"] for k, v in self.columns.items() if v.get("units")},
            long_names={k: v["long_name"] for k, v in self.columns.items() if "long_name" in v},
        )

    @staticmethod
    def flag_columns(names: Sequence[str]) -> set[str]:
        present = set(names)
        return {n for n in present if n.endswith(FLAG_SUFFIX) and n[: -len(FLAG_SUFFIX)] in present}

    def restore(
        self,
        frame: pd.DataFrame,
        variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]],
        flags: dict[str, npt.NDArray[np.uint8]],
        attrs: dict[str, Any],
        path: Path,
        first: int,
    ) -> None:
        """Flags from the flag columns, standard names and the dataset's attributes."""
        valid = np.array(sorted(int(f) for f in Flag))
        with_flags = self.flag_columns(frame.columns)
        for column in [str(c) for c in frame.columns if c in with_flags]:  # in file order
            name = column[: -len(FLAG_SUFFIX)]
            if name not in variables:
                continue
            codes = pd.to_numeric(frame[column].str.strip(), errors="coerce").to_numpy(float)
            bad = ~np.isin(codes, valid)
            if bad.any():
                row = int(np.argmax(bad))
                raise ReaderError(
                    f"column {column!r}: not a validity flag code: {frame[column].iloc[row]!r}",
                    path=path,
                    line=first + int(frame.index[row]),
                )
            flags[name] = codes.astype(np.uint8)
        for name, (_, var_attrs) in variables.items():
            var_attrs.update(self.columns.get(name, {}))  # every attribute, as written
        attrs.update(self.attrs)
        attrs["file_format"] = "stratoflow CSV export"


class DelimitedReader(Reader):
    """Delimited text with configurable layout; ``preset`` names a known instrument layout.

    Options (each overrides the preset's value when given):
        separator, decimal: field separator and decimal mark (one character each). When
            ``decimal`` is not given and the separator is not ``,``, a column whose values
            only parse with a decimal comma (``1,5``) is read with one; with ``decimal='.'``
            given, such a value is an error naming the column and line.
        line_ending: ``"\\r\\n"`` or ``"\\n"`` to insist on one; ``None`` accepts both.
        header_lines: lines to skip before the line of column names.
        time_column, time_format: the UTC time column and its ``strptime`` format
            (``"ISO8601"`` for ISO timestamps).
        datetime_columns: further timestamp columns, kept as seconds since 1970.
        units, long_names: per column; columns without units get ``"unknown"``
            (:data:`~stratoflow.readers.base.UNKNOWN_UNITS`: a table does not say them).
        columns: keep only these columns (besides time).
        utc_offset: the fixed offset from UTC (``"+01:00"``) of timestamps written in local
            standard time without a zone (an instrument PC kept on CET all year); the time
            and datetime columns are moved to UTC, except ``utc_columns``. Zone names are
            refused: their daylight-saving jumps make local times ambiguous; so is
            ``"UTC+1"``, whose sign POSIX reads the other way. Timestamps that carry their
            own zone (``Z``, ``+02:00``) with this option given are an error.
        utc_columns: time or datetime columns that are UTC already, which ``utc_offset``
            leaves alone: a log often carries the PC's local clock beside a UTC clock (GPS,
            the aircraft's: ``HALO_Time`` in the ``fairo_hal`` preset), and moving that one
            too would put it an offset off.
        missing_values: the texts that mark "no value" in the numeric columns (``["-9999",
            "NA"]``); a number matches however it is written (``-9999.0``). A table does not
            say its markers, so without this option ``-9999`` is a value like any other;
            blanks and ``nan`` are always missing. Kept with a preset (also one chosen by the
            file's suffix), and named in each column's ``missing_values_original``.
    """

    name: ClassVar[str] = "delimited"
    description: ClassVar[str] = "Delimited text (CSV/TSV/instrument logs) with presets (FAIRO)"
    suffixes: ClassVar[tuple[str, ...]] = (".csv", ".tsv", ".omc", ".hal", ".t_p", ".dat")
    priority: ClassVar[int] = -10

    def __init__(
        self,
        *,
        preset: str | None = None,
        separator: str | None = None,
        decimal: str | None = None,
        line_ending: str | None = None,
        header_lines: int | None = None,
        time_column: str | None = None,
        time_format: str | None = None,
        datetime_columns: Sequence[str] | None = None,
        units: Mapping[str, str] | None = None,
        long_names: Mapping[str, str] | None = None,
        columns: Sequence[str] | None = None,
        utc_offset: str | None = None,
        utc_columns: Sequence[str] | None = None,
        missing_values: Sequence[str] | None = None,
    ) -> None:
        if preset is not None and preset not in PRESETS:
            raise ConfigError(f"unknown delimited preset {preset!r}; known: {sorted(PRESETS)}")
        base = PRESETS[preset] if preset else DelimitedConfig()
        given: dict[str, Any] = {
            "separator": separator, "decimal": decimal, "line_ending": line_ending,
            "header_lines": header_lines, "time_column": time_column,
            "time_format": time_format,
            "datetime_columns": tuple(datetime_columns) if datetime_columns is not None else None,
            "units": dict(units) if units is not None else None,
            "long_names": dict(long_names) if long_names is not None else None,
            "columns": tuple(columns) if columns is not None else None,
            "utc_offset": utc_offset,
            "utc_columns": tuple(utc_columns) if utc_columns is not None else None,
        }  # fmt: skip
        self.preset = preset
        # a decimal mark nobody chose may be detected: ';'-separated files from European
        # spreadsheets write "1,5"; one that was chosen is enforced, with a clear error
        self._decimal_chosen = decimal is not None
        # With no preset and no layout option, a file whose suffix belongs to exactly one preset
        # is read with that preset (``stratoflow inspect 11_30_04.OMC`` just works).
        self._auto = preset is None and all(v is None for v in given.values())
        given["missing_values"] = _markers(missing_values)  # not layout: kept with a preset
        self.config = replace(base, **{k: v for k, v in given.items() if v is not None})
        cfg = self.config
        if len(cfg.separator) != 1 or len(cfg.decimal) != 1 or cfg.separator == cfg.decimal:
            raise ConfigError("separator and decimal must be single, different characters")
        if cfg.line_ending not in (None, "\n", "\r\n"):
            raise ConfigError(
                f"line_ending must be '\\n', '\\r\\n' or None, got {cfg.line_ending!r}"
            )
        if cfg.header_lines < 0:
            raise ConfigError("header_lines must not be negative")
        self._offset = _utc_offset(cfg.utc_offset)
        _check_time_format(cfg.time_format)
        stray = sorted(set(cfg.utc_columns) - {cfg.time_column, *cfg.datetime_columns})
        if stray:
            raise ConfigError(
                f"utc_columns {stray} are not time columns (time_column {cfg.time_column!r}, "
                f"datetime_columns {list(cfg.datetime_columns)})"
            )

    def __repr__(self) -> str:
        return f"DelimitedReader(preset={self.preset!r})"

    def _config_for(
        self, path: Path, raw: bytes
    ) -> tuple[DelimitedConfig, str | None, _CsvExport | None]:
        if self._auto:
            export = _CsvExport.parse(raw)
            markers = self.config.missing_values
            if export is not None:
                return replace(export.config(), missing_values=markers), None, export
            name = path.name.upper()
            matches = [
                n for n, c in PRESETS.items() if c.suffix and name.endswith(c.suffix.upper())
            ]
            if len(matches) == 1:
                return replace(PRESETS[matches[0]], missing_values=markers), matches[0], None
        return self.config, self.preset, None

    def _read(self, path: Path) -> xr.Dataset:
        raw = _utf16_as_utf8(path.read_bytes(), path)
        if b"\r" in raw and b"\n" not in raw:  # bare CR throughout (classic Mac): one convention
            raw = raw.replace(b"\r", b"\n")
        cfg, preset, export = self._config_for(path, raw)
        self._check_line_endings(cfg, raw, path)
        if b"\x00" in raw:
            line = raw[: raw.index(b"\x00")].count(b"\n") + 1
            raise ReaderError("NUL byte in a text file", path=path, line=line)
        # Blank lines after the last record (an editor's or a logger's) end the table; a blank
        # line between records is still an error naming it.
        raw = _without_trailing_blank_lines(raw)
        first = cfg.header_lines + 2  # line number of the first record
        encoding = _encoding(raw)
        try:
            frame = pd.read_csv(
                io.BytesIO(raw), sep=cfg.separator, decimal=cfg.decimal,
                skiprows=cfg.header_lines, header=0, dtype=str, na_filter=False,
                engine="c", skip_blank_lines=False, encoding=encoding,
            )  # fmt: skip
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            if isinstance(exc, pd.errors.ParserError):  # a long row: say so, naming its line
                self._check_field_counts(cfg, raw, path)
            raise ReaderError(f"not a {cfg.separator!r}-separated table: {exc}", path=path) from exc
        repeated = self._repeated_header_rows(frame)
        if repeated.any():  # a logger restarted and appended: its column names again
            skipped_lines = first + np.flatnonzero(repeated)
            frame = frame.loc[~repeated]  # the index keeps each record's row (line numbers)
        frame = frame.loc[:, [not (str(c).startswith("Unnamed:") and (frame[c] == "").all())
                              for c in frame.columns]]  # fmt: skip
        frame.columns = [str(c).strip() for c in frame.columns]
        if export is not None and export.records not in (None, len(frame)):
            raise ReaderError(
                f"the header says {export.records} records, the file has {len(frame)}: "
                "truncated or damaged export",
                path=path,
                line=first + len(frame),
            )
        # our own export of an empty selection is valid, when its header says so (records: 0);
        # an export header damaged so that its count is lost proves nothing
        if frame.empty and (export is None or export.records != 0):
            raise ReaderError("no data records", path=path, line=first)
        self._check_field_counts(cfg, raw, path)
        check_last_line(raw, path=path, first_line=1, delimiter=cfg.separator.encode())
        if cfg.time_column not in frame.columns:
            raise ReaderError(
                f"time column {cfg.time_column!r} not found; columns: {list(frame.columns)}",
                path=path,
                line=cfg.header_lines + 1,
            )
        times = self._times(cfg, frame[cfg.time_column], path, first, cfg.time_column)
        steps = np.diff(times.view(np.int64))
        if (steps <= 0).any():
            row = int(np.argmax(steps <= 0)) + 1
            raise ReaderError(
                f"time {frame[cfg.time_column].iloc[row]!r} does not increase",
                path=path,
                line=first + int(frame.index[row]),
            )
        wanted = cfg.columns if cfg.columns is not None else tuple(frame.columns)
        if export is not None:  # flag columns are the flags of their variable, not variables
            wanted = tuple(n for n in wanted if n not in export.flag_columns(frame.columns))
        variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]] = {}
        flags: dict[str, npt.NDArray[np.uint8]] = {}
        for name in wanted:
            if name == cfg.time_column:
                continue
            if name not in frame.columns:
                raise ReaderError(f"configured column {name!r} not found", path=path)
            attrs = {
                "long_name": cfg.long_names.get(name, name),
                "units": cfg.units.get(name, UNKNOWN_UNITS),
            }
            text = frame[name]
            if export is not None and name in export.text_columns:
                values: npt.NDArray[Any] = np.asarray(text, dtype=str)  # "01" stays text
            elif name in cfg.datetime_columns:
                # a blank is a missing value (the aircraft feed dropped a record), as in a
                # numeric column; only the time column itself must be complete
                blank = (text.str.strip() == "").to_numpy()
                epoch_ns = self._times(cfg, text[~blank], path, first, name).view(np.int64)
                values = np.full(blank.size, np.nan)
                values[~blank] = epoch_ns / 1e9
                attrs["units"] = _EPOCH_UNITS
            else:
                values = self._numbers(cfg, text, name, path, first)
                if cfg.missing_values and values.dtype.kind == "f":
                    attrs["missing_values_original"] = " ".join(cfg.missing_values)
            variables[name] = (values, attrs)
        attrs = {"source_file": path.name, "file_format": "delimited text",
                 "delimited_preset": preset or ""}  # fmt: skip
        if encoding != "utf-8":
            attrs["file_encoding"] = encoding
        if self._offset is not None:
            attrs["time_moved_from_utc_offset"] = str(cfg.utc_offset)
            kept = [n for n in cfg.utc_columns if n == cfg.time_column or n in variables]
            if kept:
                attrs["time_kept_in_utc"] = " ".join(kept)
        if repeated.any():
            attrs["reader_skipped_lines"] = " ".join(str(n) for n in skipped_lines)
        if export is not None:
            export.restore(frame, variables, flags, attrs, path, first)
        return make_dataset(times, variables, flags=flags, attrs=attrs)

    @staticmethod
    def _repeated_header_rows(frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """Rows that repeat the column-name line (blank where a column has no name)."""
        same = np.ones(len(frame), dtype=bool)
        for column in frame.columns:
            name = "" if str(column).startswith("Unnamed:") else str(column).strip()
            same &= (frame[column].str.strip() == name).to_numpy()
        if len(frame.columns) < 2 or not any(str(c).strip() for c in frame.columns):
            same[:] = False
        return same

    @staticmethod
    def _check_line_endings(cfg: DelimitedConfig, raw: bytes, path: Path) -> None:
        """Mixed line endings are an error; one convention throughout is read.

        ``line_ending`` says what the instrument writes, but a file converted as a whole on
        its way (FTP in ASCII mode, git, an editor, a Mac) keeps every record intact, so a
        FAIRO log with LF (or bare CR, read as LF) throughout reads exactly like the original.
        A file where both occur was pieced together or damaged: the error names the first
        line that breaks the rule.
        """
        if cfg.line_ending is None:
            return
        lf, crlf, cr = raw.count(b"\n"), raw.count(b"\r\n"), raw.count(b"\r")
        if crlf in (0, lf) and cr == crlf:  # one convention throughout
            return
        expected = "CRLF" if cfg.line_ending == "\r\n" else "LF"
        arr = np.frombuffer(raw, dtype=np.uint8)
        ends = np.flatnonzero(arr == ord("\n"))
        crlf_at = arr[np.maximum(ends - 1, 0)] == ord("\r")
        crlf_at[ends == 0] = False
        if 0 < crlf < lf:  # both kinds: point at the first line of the rarer one
            rare_lf = 2 * crlf >= lf
            odd = np.flatnonzero(~crlf_at if rare_lf else crlf_at)
            line = int(odd[0]) + 1
            raise ReaderError(
                f"mixed line endings: {crlf} of {lf} lines end in CRLF, the others in bare LF; "
                f"this one ends in {'bare LF' if rare_lf else 'CRLF'} "
                f"(expected {expected} throughout)",
                path=path,
                line=line,
            )
        stray = np.flatnonzero(arr == ord("\r"))
        after = np.append(arr, 0)[stray + 1]
        stray = stray[after != ord("\n")]
        raise ReaderError(
            f"a CR inside a line (expected {expected} line endings)",
            path=path,
            line=int(np.count_nonzero(ends < stray[0])) + 1,
        )

    def _check_field_counts(self, cfg: DelimitedConfig, raw: bytes, path: Path) -> None:
        """Every line must have as many separators as the column-name line (vectorised).

        Separators and line breaks inside double-quoted fields (``"O3, ppb"``) do not count:
        a character is inside quotes when an odd number of quotes precede it (an escaped
        ``""`` flips twice).
        """
        arr = np.frombuffer(raw, dtype=np.uint8)
        is_newline, is_sep = arr == ord("\n"), arr == ord(cfg.separator)
        quotes = arr == ord('"')
        if quotes.any():
            quoted = (np.cumsum(quotes) % 2).astype(bool)
            is_newline &= ~quoted
            is_sep &= ~quoted
        newlines = np.flatnonzero(is_newline)
        seps = np.flatnonzero(is_sep)
        counts = np.bincount(np.searchsorted(newlines, seps), minlength=newlines.size + 1)
        lengths = np.diff(np.concatenate([[-1], newlines, [arr.size]])) - 1
        names = cfg.header_lines
        last = int(np.flatnonzero(lengths > (raw.endswith(b"\r\n") * 1))[-1])
        wrong = np.flatnonzero(counts[names : last + 1] != counts[names])
        if wrong.size:
            line = names + int(wrong[0])
            cr = line < newlines.size and raw[newlines[line] - 1 : newlines[line]] == b"\r"
            if lengths[line] <= cr:
                raise ReaderError("blank line between records", path=path, line=line + 1)
            raise ReaderError(
                f"record has {counts[line] + 1} fields, the column names line has "
                f"{counts[names] + 1} (short or long row)",
                path=path,
                line=line + 1,
            )

    def _times(
        self, cfg: DelimitedConfig, text: pd.Series, path: Path, first: int, name: str
    ) -> npt.NDArray[np.datetime64]:
        try:
            parsed = pd.to_datetime(text.str.strip(), format=cfg.time_format, utc=True)
        except (ValueError, TypeError) as exc:
            bad = pd.to_datetime(text.str.strip(), format=cfg.time_format, errors="coerce")
            row = int(np.argmax(bad.isna().to_numpy()))
            raise ReaderError(
                f"time {text.iloc[row]!r} does not match format {cfg.time_format!r}",
                path=path,
                line=first + int(text.index[row]),
            ) from exc
        if parsed.isna().any():
            row = int(np.argmax(parsed.isna().to_numpy()))
            raise ReaderError(
                f"empty time in the time column {name!r}",
                path=path,
                line=first + int(text.index[row]),
            )
        out: npt.NDArray[np.datetime64] = np.asarray(
            parsed.dt.tz_localize(None).to_numpy(), dtype="datetime64[ns]"
        )
        zoned = text.str.contains(_OWN_ZONE).to_numpy()
        if zoned.any() and not zoned.all():
            # zone-less stamps are taken as UTC: beside zoned ones they are most likely local
            # times, and a jump by the offset that happens to increase would go unnoticed
            row = int(np.argmax(zoned != zoned[0]))
            raise ReaderError(
                f"time {text.iloc[row]!r} {'has' if zoned[row] else 'has no'} zone, and the "
                f"first time {text.iloc[0]!r} {'has none' if zoned[row] else 'has one'}: a "
                f"column {name!r} that mixes the two cannot be put on one clock",
                path=path,
                line=first + int(text.index[row]),
            )
        if self._offset is not None and name not in cfg.utc_columns:  # local time -> UTC
            if zoned.any():
                row = int(np.argmax(zoned))
                raise ReaderError(
                    f"time {text.iloc[row]!r} carries its own zone, and utc_offset="
                    f"{cfg.utc_offset!r} was given: drop one",
                    path=path,
                    line=first + int(text.index[row]),
                )
            out = out - self._offset
        return out

    def _numbers(
        self, cfg: DelimitedConfig, text: pd.Series, name: str, path: Path, first: int
    ) -> npt.NDArray[Any]:
        stripped = text.str.strip()
        if cfg.missing_values:  # the file's "no value" markers: blanks, so NaN
            stripped = stripped.mask(_is_marker(stripped, cfg), "")
        if cfg.decimal != ".":
            stripped = stripped.str.replace(cfg.decimal, ".", regex=False)
        numeric: npt.NDArray[np.float64] = np.asarray(
            pd.to_numeric(stripped, errors="coerce"), dtype=np.float64
        )
        bad = np.isnan(numeric) & ~stripped.str.lower().isin(["nan", ""]).to_numpy()
        comma = (
            bad.any()
            and cfg.decimal == "."
            and cfg.separator != ","
            and bool(stripped[bad].str.fullmatch(_DECIMAL_COMMA).all())
        )
        if comma and self._decimal_chosen:
            row = int(np.argmax(bad))
            raise ReaderError(
                f"column {name!r}: {text.iloc[row]!r} has a decimal comma, but decimal='.' "
                "was given; pass decimal=',' to read such numbers",
                path=path,
                line=first + int(text.index[row]),
            )
        if comma:  # every value that did not parse is a decimal-comma number: that is the mark
            stripped = stripped.str.replace(",", ".", regex=False)
            numeric = np.asarray(pd.to_numeric(stripped, errors="coerce"), dtype=np.float64)
            bad = np.isnan(numeric) & ~stripped.str.lower().isin(["nan", ""]).to_numpy()
        blank = (stripped == "").to_numpy()
        if bad.any() and (bad | blank).all():
            # a text column (e.g. an instrument state), blanks where a record has no state:
            # a blank once made it "numeric" and the file failed on its first word
            return np.asarray(text, dtype=str)
        if bad.any():
            row = int(np.argmax(bad))
            raise ReaderError(
                f"column {name!r}: not a number: {text.iloc[row]!r}",
                path=path,
                line=first + int(text.index[row]),
            )
        if (np.abs(numeric) > 2.0**53).any() and stripped.str.fullmatch(r"[+-]?\d+").all():
            # integers beyond float64's exact range (counters, ids): exact as int64, or refused
            exact = np.asarray(pd.to_numeric(stripped))
            if exact.dtype.kind not in "iu":
                raise ReaderError(f"column {name!r}: integers beyond 64 bits", path=path)
            return exact
        return numeric
