"""Spreadsheet front end of the metadata import: a workbook -> the data a YAML file gives.

Data managers keep instrument lists in spreadsheets, so the catalog can be filled from an
``.xlsx`` workbook (or a folder of CSV files, one per section) as well as from YAML. This module
only *reads*: it turns the workbook into exactly the plain mapping :func:`yaml.safe_load` would
return for the equivalent YAML file, and :func:`~stratoflow.server.catalog.metadata.
metadata_import` does the validation, the upsert and the audit trail for both. Re-importing the
same content changes nothing, even when Excel re-saved the file with different bytes.

How a workbook is laid out (``stratoflow import-metadata --template catalog.xlsx`` writes an
empty one with every sheet, header, required-column note and cell format in place):

- **One sheet per section**, named like the section: ``projects``, ``campaigns``, ``aircraft``,
  ``locations``, ``component_types``, ``component_classes``, ``components``, ``installations``,
  ``deployments``, ``calibrations``. Sheets may be missing or in any order.
- **Row 1 holds the column headers, which are the field names** of the YAML format
  (``registration``, ``start``, ``serial``...). Sheet names and headers are compared
  case-insensitively and with spaces read as ``_`` (``Component types``, ``Active from``).
- **Every following row is one entry**; empty rows are skipped, an empty cell is an absent
  field (the field's default), text is stripped of surrounding blanks.
- **Typos are errors, not silence**: a sheet that is not a section, an unknown or duplicated
  header, a missing required column (the natural key, e.g. ``instrument``/``aircraft``/``start``
  of a deployment) or a value under an empty header rejects the whole file. Sheets whose name
  starts with ``_`` (``_notes``, ``_readme``) are ignored, as are completely empty sheets (the
  ``Sheet1`` a new workbook comes with).
- **Times** are date or date-time cells, or ISO 8601 text (``2019-01-02``,
  ``2019-01-02T06:00:00Z``, ``2019-01-02 06:00+02:00``). A spreadsheet has no time zone: a
  date cell, or text without an offset, is UTC. A plain number in a time column is an error
  (it is a date cell that lost its format, or a mistake).
- **Text** columns take numbers as the text they show: a serial typed as ``354`` is ``"354"``
  (never ``"354.0"``) and ``1E-09`` in a units column is ``"1e-9"``. A leading zero is lost by
  the spreadsheet program itself, so format such columns as Text (the template does) or type
  ``'0354``.
- **Calibration parameters**, nested in YAML (``{offset: {value: 0.5, units: 1e-9}}``), are
  spelled flat, one column per coefficient and one for its units: ``offset``,
  ``offset_units``, ``slope``, ``slope_units``, ``factor``, ``factor_units``, ``c0``,
  ``c0_units``, ``c1``... (the coefficients of :mod:`stratoflow.processing.calibration`). An
  empty value cell means the calibration has no such coefficient; units without a value are an
  error. Any other shape goes in a ``parameters`` column as a YAML/JSON mapping, e.g.
  ``{gain: {value: 2, units: "1"}}``; a coefficient may not be given both ways.
- Formulas are read by their saved result; an error cell (``#N/A``) or a formula never
  computed (a file written by a script) is an error.

Errors name the file, the sheet, the row as the spreadsheet program numbers it, and the
column: ``catalog.xlsx: sheet deployments, row 4, column start: not a date: 'next week'``.
Errors found later, against the database (an unknown aircraft, an overlapping deployment), are
located the same way.

A folder of CSV files (``deployments.csv``...) follows the same rules, one file per sheet,
UTF-8 (with or without the BOM Excel writes), comma, semicolon or tab separated. Other files in
the folder are ignored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import yaml

from stratoflow.errors import CatalogError
from stratoflow.plain_yaml import load_plain_yaml
from stratoflow.server.catalog.metadata_schema import FIELDS, REQUIRED, FieldKind

__all__ = ["SheetDocument", "read_csv_folder", "read_workbook", "write_template"]

#: Flat spelling of calibration coefficients: ``offset`` (value) and ``offset_units``.
_PARAMETER = re.compile(r"(offset|slope|factor|c\d+)(_units)?")
#: The coefficient columns a template offers (c0, c1... are accepted too).
_TEMPLATE_PARAMETERS = ("offset", "slope", "factor")
_TIME_EXAMPLE = "ISO 8601 text such as 2019-01-02T06:00:00Z"


@dataclass
class SheetDocument:
    """A workbook read as metadata: the plain ``doc`` plus where each entry came from."""

    doc: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: section -> how messages name its table (``sheet deployments``, ``deployments.csv``)
    tables: dict[str, str] = field(default_factory=dict)
    #: section -> the row number of each entry, as a spreadsheet program shows it
    rows: dict[str, list[int]] = field(default_factory=dict)
    #: section -> field -> the column header as written
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    #: SHA-256 of what was read (the CSV files of a folder; a workbook's caller hashes its bytes)
    checksum: str = ""

    def locate(self, section: str, index: int, column: str | None) -> str:
        """Where entry ``index`` of ``section`` (and one of its fields) is: sheet, row, column."""
        where = f"{self.tables[section]}, row {self.rows[section][index]}"
        header = self.columns[section].get(column) if column else None
        return f"{where}, column {header}" if header else where


class _Bad(Exception):
    """A cell whose value cannot be read as its column's kind; the caller adds the location."""


@dataclass(frozen=True)
class _Invalid:
    """A cell that holds no usable value at all (an error cell, an uncomputed formula)."""

    reason: str


@dataclass(frozen=True)
class _Table:
    """One sheet (or CSV file) before interpretation: its name and its rows of raw values."""

    title: str
    label: str
    rows: Sequence[tuple[int, Sequence[Any]]]


@dataclass(frozen=True)
class _Column:
    header: str
    field: str
    kind: FieldKind | None = None  # a field of the section
    part: str | None = None  # "value" or "units" of a calibration coefficient


def _normal(name: Any) -> str:
    return "_".join(str(name).strip().lower().split())


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index + 1))


def _number_text(value: float) -> str:
    """A number as the text a cell shows: ``354.0`` -> ``354``, ``1e-09`` -> ``1e-9``."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return re.sub(r"e([+-]?)0*(\d)", lambda m: f"e{m[1].lstrip('+')}{m[2]}", repr(value))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        raise _Bad(f"expected text, got the logical value {str(value).upper()}")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, datetime | date | time):
        raise _Bad(
            f"expected text, got the date {value}; format the column as Text "
            "(or start the cell with an apostrophe)"
        )
    raise _Bad(f"expected text, got {value!r}")


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, time):
        raise _Bad(f"not a date: {value} is a time of day without a date")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Bad(
                f"not a date: {value.strip()!r} (use a date cell or {_TIME_EXAMPLE})"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _Bad(
            f"not a date: {_number_text(float(value))} is a plain number "
            f"(format the cell as a date, or write {_TIME_EXAMPLE})"
        )
    raise _Bad(f"not a date: {value!r}")


def _number(value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number: int | float = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                hint = " (use a point as the decimal separator)" if "," in text else ""
                raise _Bad(f"not a number: {text!r}{hint}") from None
    else:
        raise _Bad(f"not a number: {value!r}")
    if not math.isfinite(number):
        raise _Bad(f"not a finite number: {value!r}")
    return number


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, str):
        raise _Bad(f"expected a YAML/JSON mapping such as {{gain: {{value: 2}}}}, got {value!r}")
    try:
        parsed = load_plain_yaml(value)
    except yaml.YAMLError as exc:
        raise _Bad(f"not valid YAML/JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise _Bad(f"expected a mapping such as {{gain: {{value: 2}}}}, got {value.strip()!r}")
    return parsed


_CONVERT: dict[FieldKind, Callable[[Any], Any]] = {
    "text": _text,
    "time": _time,
    "mapping": _mapping,
}


def _known_columns(section: str) -> list[str]:
    known = list(FIELDS[section])
    if section == "calibrations":
        known += ["offset", "offset_units", "slope", "slope_units", "factor", "c0", "c1", "..."]
    return known


def _column(section: str, header: str) -> _Column | None:
    key = _normal(header)
    kind = FIELDS[section].get(key)
    if kind is not None:
        return _Column(header, key, kind=kind)
    if section == "calibrations" and (match := _PARAMETER.fullmatch(key)):
        return _Column(header, match[1], part="units" if match[2] else "value")
    return None


def _header(section: str, table: _Table, name: str) -> list[_Column | None]:
    number, cells = table.rows[0]
    if number != 1 or all(_empty(c) for c in cells):
        raise CatalogError(f"{name}: {table.label}: row 1 must hold the column headers")
    columns: list[_Column | None] = []
    seen: dict[str, str] = {}
    for j, cell in enumerate(cells):
        if _empty(cell):
            columns.append(None)
            continue
        where = f"{name}: {table.label}, row 1, column {_letter(j)}"
        if isinstance(cell, _Invalid):
            raise CatalogError(f"{where}: {cell.reason}")
        header = str(cell).strip()
        column = _column(section, header)
        if column is None:
            known = ", ".join(_known_columns(section))
            raise CatalogError(
                f"{name}: {table.label}, row 1, column {header}: unknown column; "
                f"the {section} columns are: {known}"
            )
        key = _normal(header)
        if key in seen:
            raise CatalogError(f"{where}: column {header} appears twice (also {seen[key]})")
        seen[key] = header
        columns.append(column)
    missing = [f for f in REQUIRED[section] if f not in seen]
    if missing:
        raise CatalogError(
            f"{name}: {table.label}: missing column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED[section])})"
        )
    return columns


def _entry(columns: list[_Column | None], cells: Sequence[Any], where: str) -> dict[str, Any]:
    """One row as the mapping a YAML entry would be (coefficient columns nested back)."""
    entry: dict[str, Any] = {}
    coefficients: dict[str, dict[str, Any]] = {}
    unit_headers: dict[str, str] = {}
    for j, cell in enumerate(cells):
        if _empty(cell):
            continue
        column = columns[j] if j < len(columns) else None
        if column is None:
            raise CatalogError(
                f"{where}, column {_letter(j)}: a value ({cell!r}) under an empty header; "
                "name the column or clear it"
            )
        at = f"{where}, column {column.header}"
        try:
            if isinstance(cell, _Invalid):
                raise _Bad(cell.reason)
            if column.kind is not None:
                value = _CONVERT[column.kind](cell)
                if value != "":
                    entry[column.field] = value
            else:
                part = _number(cell) if column.part == "value" else _text(cell)
                coefficients.setdefault(column.field, {})[str(column.part)] = part
                if column.part == "units":
                    unit_headers[column.field] = column.header
        except _Bad as exc:
            raise CatalogError(f"{at}: {exc}") from None
    if coefficients:
        parameters = dict(entry.get("parameters") or {})
        for coefficient, spec in coefficients.items():
            if "value" not in spec:
                raise CatalogError(
                    f"{where}, column {unit_headers[coefficient]}: units without a value in "
                    f"column {coefficient}"
                )
            if coefficient in parameters:
                raise CatalogError(
                    f"{where}, column parameters: coefficient {coefficient!r} is also given in "
                    f"column {coefficient}"
                )
            parameters[coefficient] = spec
        entry["parameters"] = parameters
    return entry


def _read(tables: Iterable[_Table], name: str) -> SheetDocument:
    """Interpret the tables of a workbook (or CSV folder) as the sections of a metadata file."""
    book = SheetDocument()
    for table in tables:
        if table.title.strip().startswith("_"):
            continue
        if all(_empty(c) for _, cells in table.rows for c in cells):
            continue
        section = _normal(table.title)
        if section not in FIELDS:
            raise CatalogError(
                f"{name}: {table.label} is not a section of a metadata file; the sections are "
                f"{', '.join(FIELDS)} (start a notes sheet's name with '_' to have it ignored)"
            )
        if section in book.tables:
            raise CatalogError(
                f"{name}: {table.label} and {book.tables[section]} both hold {section}"
            )
        columns = _header(section, table, name)
        entries: list[dict[str, Any]] = []
        rows: list[int] = []
        for number, cells in table.rows[1:]:
            if all(_empty(c) for c in cells):
                continue
            where = f"{name}: {table.label}, row {number}"
            entries.append(_entry(columns, cells, where))
            rows.append(number)
        book.doc[section] = entries
        book.tables[section] = table.label
        book.rows[section] = rows
        book.columns[section] = {c.field: c.header for c in columns if c and c.kind}
    return book


def _load_workbook(data: bytes, name: str, *, data_only: bool) -> Any:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    with warnings.catch_warnings():
        # Unsupported extras (data validation, conditional formats) do not affect the values.
        warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
        try:
            return openpyxl.load_workbook(io.BytesIO(data), data_only=data_only, keep_links=False)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
            raise CatalogError(f"{name}: not a readable .xlsx workbook ({exc})") from exc


def read_workbook(data: bytes, *, name: str) -> SheetDocument:
    """Read the bytes of an ``.xlsx`` workbook (``name`` is used in messages)."""
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise CatalogError(f"{name}: a legacy binary .xls workbook; save it as .xlsx and retry")
    if b"opendocument" in data[:100]:
        raise CatalogError(f"{name}: an OpenDocument spreadsheet; save it as .xlsx and retry")
    book = _load_workbook(data, name, data_only=False)
    computed: list[Any] = []  # the workbook with saved formula results, loaded when needed

    def value(sheet: str, cell: Any) -> Any:
        if cell.data_type == "e":
            return _Invalid(f"the cell holds the error {cell.value}")
        if cell.data_type != "f":
            return cell.value
        if not computed:
            computed.append(_load_workbook(data, name, data_only=True))
        saved = computed[0][sheet][cell.coordinate]
        if saved.data_type == "e":
            return _Invalid(f"the formula's result is the error {saved.value}")
        if saved.value is None:
            return _Invalid(
                "a formula without a saved result (a file written by a program): open and "
                "save the workbook in a spreadsheet program, or type the value"
            )
        return saved.value

    tables = []
    for ws in book.worksheets:
        rows = [
            (number, [value(ws.title, cell) for cell in cells])
            for number, cells in enumerate(ws.iter_rows(min_row=1, min_col=1), start=1)
        ]
        tables.append(_Table(ws.title, f"sheet {ws.title}", rows or [(1, [])]))
    return _read(tables, name)


def read_csv_folder(path: Path, *, name: str) -> SheetDocument:
    """Read a folder holding one ``<section>.csv`` per section (other files are ignored)."""
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if not files:
        raise CatalogError(f"{name}: no .csv files in the folder (one per section expected)")
    digest = hashlib.sha256()
    tables = []
    for file in files:
        if file.stem.strip().startswith("_"):
            continue
        try:
            raw = file.read_bytes()
            text = raw.decode("utf-8-sig")
        except OSError as exc:
            raise CatalogError(f"{name}: {file.name}: cannot read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise CatalogError(
                f"{name}: {file.name}: not UTF-8 text (save it as 'CSV UTF-8'): {exc}"
            ) from exc
        digest.update(file.name.encode() + b"\0" + raw + b"\0")
        first = text.split("\n", 1)[0]
        delimiter = max((",", ";", "\t"), key=first.count)
        records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows: list[tuple[int, Sequence[Any]]] = [
            (number, record) for number, record in enumerate(records, start=1)
        ]
        tables.append(_Table(file.stem, file.name, rows or [(1, [])]))
    book = _read(tables, name)
    book.checksum = digest.hexdigest()
    return book


def _template_columns(section: str) -> list[tuple[str, FieldKind | None]]:
    columns: list[tuple[str, FieldKind | None]] = []
    for name, kind in FIELDS[section].items():
        if name == "parameters":
            for coefficient in _TEMPLATE_PARAMETERS:
                columns += [(coefficient, None), (f"{coefficient}_units", "text")]
        columns.append((name, kind))
    return columns


_README = (
    "stratoflow instrument catalog workbook",
    "",
    "One sheet per section; row 1 holds the column headers (field names), every further row",
    "is one entry. Empty cells are absent fields. Columns marked 'required' must be filled.",
    "Times: date cells (UTC) or ISO 8601 text such as 2019-01-02T06:00:00Z.",
    "References: a component is 'type/serial' (e.g. P1 package/P1-001); an aircraft is its",
    "registration; a project, campaign or location is its name.",
    "Calibrations: one column per coefficient (offset, slope, factor, c0, c1...) and one for",
    "its units (offset_units...); other shapes as a YAML mapping in the 'parameters' column.",
    "Unknown sheets or columns are errors; sheets named with a leading '_' (like this one)",
    "are ignored, so keep notes there.",
    "Import with: stratoflow import-metadata catalog.xlsx  (re-importing changes nothing;",
    "every change is recorded in the catalog's audit trail).",
)


def write_template(path: Path) -> None:
    """Write an empty workbook with every section's sheet, headers and cell formats.

    An existing file is never replaced: it may be the filled-in catalog itself.
    """
    if path.exists():
        raise CatalogError(f"{path}: already exists; the template is written to a new file only")
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    readme = book.active
    readme.title = "_readme"
    for line in _README:
        readme.append([line])
    readme.column_dimensions["A"].width = 90
    for section in FIELDS:
        ws = book.create_sheet(section)
        for j, (header, kind) in enumerate(_template_columns(section)):
            cell = ws.cell(row=1, column=j + 1, value=header)
            cell.font = Font(bold=True)
            notes = []
            if header in REQUIRED[section]:
                notes.append("required")
            if kind == "time":
                notes.append("a date cell (UTC) or ISO 8601 text")
            if kind == "mapping":
                notes.append("a YAML mapping, e.g. {gain: {value: 2, units: '1'}}")
            if notes:
                cell.comment = Comment("; ".join(notes), "stratoflow")
            dimension = ws.column_dimensions[_letter(j)]
            dimension.width = max(14, len(header) + 4)
            if kind == "time":
                dimension.number_format = "yyyy-mm-dd hh:mm:ss"
            elif kind is not None:
                dimension.number_format = "@"
        ws.freeze_panes = "A2"
    try:
        book.save(path)
    except OSError as exc:
        raise CatalogError(f"{path}: cannot write the template: {exc.strerror}") from exc
