"""NASA Ames files (Gaines & Hipskind 1998), with the CARIBIC and EBAS conventions.

What is read, and why the rest is refused
------------------------------------------
A stratoflow Dataset is a time series (one ``time`` dimension), so a NASA Ames file is read
when its independent variables reduce to one time axis:

* **FFI 1001** (this module): one independent variable, time, and NV dependent variables, one
  record per line -- aircraft, station and CARIBIC/EBAS files.
* **FFI 1010 / 1020** with time as X, **2110 / 2160** with time as the bounded X1 (an NDACC
  ozonesonde: ``Time after launch [s]`` per sounding, launch time in an auxiliary variable),
  and any FFI with lines before the ``NLHEAD FFI`` line: :mod:`stratoflow.readers.nasa_ames_ffi`.

Refused with a :class:`ReaderError` naming the file, the FFI and the reason: files whose
independent variable is not a time (``valid_1001a.na`` is a pressure profile; the BISA model
examples are altitude and latitude grids), gridded FFIs 3010/4010, block start times in local
time, and several overlapping series in one file. See :mod:`~stratoflow.readers.nasa_ames_ffi`.

FFI 1001
--------
The header is self-describing: line 1 gives its length (NLHEAD) and the format index (FFI);
lines 10-12 give NV, the scale factors and missing values; NV variable names follow, then the
special and normal comments, each preceded by their line count. This reader walks that
structure line by line and checks it against NLHEAD, so a wrong count anywhere is reported at
the line where it shows, instead of silently shifting the data block (``nappy`` trusts NLHEAD).

Conventions recognised from the normal comments:

* **CARIBIC** (``FileFormatVersionInfo: CARIBIC_NAmes_v02``): variable names ``Name; long name;
  [unit]``; the ``CF_StandardNames``/``CF_Units`` lines give standard names and UDUNITS units;
  ``Key: value`` lines (FlightNo, DepartureAirport...) become attributes ``nasa_ames_<Key>``,
  the key spelt as in the file.
* **EBAS** (``Data definition: EBAS_1.1``): variable names ``name, unit, key=value, ...``;
  ``numflag`` columns hold the EBAS flags of the variables before them (see :func:`ebas_flags`);
  the ``Key: value`` metadata lines become attributes (``nasa_ames_Station code``), and the
  ``Tag=value`` of a variable name its attributes (``ebas_Statistics``), spelt as in the file.
* **stratoflow** (written by :class:`stratoflow.writers.nasa_ames.NasaAmesWriter`): like CARIBIC,
  plus ``<var>_flag`` columns carrying IAGOS validity flags and a ``CF_AncillaryVariables:``
  line tying error, process-flag and flag columns to their variable. Its ``key: value``
  lines become attributes ``<key>``, those its ``TypedAttributes:`` line names decoded from
  JSON, so numbers come back as numbers (see :func:`typed_attributes`). Only here: in any
  other file every value stays the text it is.

Flags: a variable has flags (``<var>_flag``) only where the file gives them: the EBAS
``numflag`` columns (see :func:`ebas_flags`), stratoflow's flag columns, or a ``<var>_flag``
column of IAGOS codes. A variable the file gives no flags gets none, so "no flags" stays
distinguishable from "judged good"; :func:`stratoflow.dataset.flags_of` reads it as
``not_validated`` (``missing`` where there is no value), as the IAGOS rule has it.

Example::

    >>> ds = NasaAmesReader().read("OM_20200304_591_CPT_MUC_V01.txt")   # doctest: +SKIP
    >>> ds["Ozone"].attrs["units"], ds.attrs["flight"]                   # doctest: +SKIP
    ('1e-9', '591')
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.csv_metadata import decode
from stratoflow.dataset import make_dataset
from stratoflow.errors import ReaderError, TimeUnitsError
from stratoflow.flags import Flag, worst
from stratoflow.readers.base import UNKNOWN_UNITS, PathLike, Reader, text_bytes
from stratoflow.readers.text_table import check_last_line, parse_table
from stratoflow.timeunits import TimeUnits, find_time_units, zone_offset

__all__ = [
    "FFIS",
    "Column",
    "Ffi1001Header",
    "HeaderLike",
    "NasaAmesFile",
    "NasaAmesReader",
    "build_dataset",
    "ebas_flags",
    "flag_columns_to_flags",
    "locate_header",
    "parse_ffi1001_header",
    "parse_nasa_ames",
    "snap_times",
    "time_origin",
    "time_unit_of",
    "to_udunits",
    "written_resolution",
]

_SPLIT = re.compile(r"[,\s]+")
#: Fortran's double-precision exponent letter, between a mantissa and an exponent.
_FORTRAN_D = re.compile(r"(?<=[\d.])[dD](?=[+-]?\d)")
_WRAP = 60  # a list of numbers continues on the next line only when its line is this long
_MAX_NV = 100_000
_NS = {"s": 1_000_000_000, "min": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000}
_UNIT_NAMES = {"s": "second", "min": "minute", "h": "hour", "d": "day"}

# Unit spellings seen in NASA Ames / ICARTT files -> UDUNITS. Unknown units are kept as written.
_UDUNITS = {
    "ppb": "1e-9",
    "ppbv": "1e-9",
    "nmol/mol": "1e-9",
    "nmol mol-1": "1e-9",
    "ppm": "1e-6",
    "ppmv": "1e-6",
    "umol/mol": "1e-6",
    "µmol/mol": "1e-6",
    "ppt": "1e-12",
    "pptv": "1e-12",
    "pmol/mol": "1e-12",
    "per mil": "1e-3",
    "permil": "1e-3",
    "%": "percent",
    "percent": "percent",
    "none": "1",
    "no unit": "1",
    "unitless": "1",
    "mach": "1",
    "1": "1",
    "degrees k": "K",
    "deg k": "K",
    "kelvin": "K",
    "k": "K",
    "degc": "degC",
    "deg c": "degC",
    "°c": "degC",
    "c": "degC",
    "degrees c": "degC",
    "mb": "hPa",
    "mbar": "hPa",
    "hpa": "hPa",
    "pa": "Pa",
    "m/s": "m s-1",
    "decimal degrees": "degree",
    "decimal degrees e": "degree_east",
    "decimal degrees n": "degree_north",
    "microa": "uA",
    "ms-1": "m s-1",
    "m s-1": "m s-1",
    "km/h": "km h-1",
    "deg": "degree",
    "degs": "degree",
    "degrees": "degree",
    "s": "s",
    "sec": "s",
    "seconds": "s",
    "second": "s",
    "days": "day",
    "day": "day",
    "hours": "hour",
    "h": "hour",
    "min": "minute",
    "minutes": "minute",
    "m": "m",
    "km": "km",
    "ft": "ft",
    "cm-3": "cm-3",
    "#/cm3": "cm-3",
    "g/kg": "g kg-1",
    "g kg-1": "g kg-1",
}


def to_udunits(text: str) -> str:
    """Map a unit as written in a file (``[ppb]``, ``degrees K``, ``m/s``) to a UDUNITS string.

    No unit at all is :data:`~stratoflow.readers.base.UNKNOWN_UNITS`, not ``"1"``: the file
    did not say the variable is dimensionless (``none``, ``unitless`` do).
    """
    unit = text.strip().strip("[]()").strip()
    return _UDUNITS.get(unit.lower(), unit or UNKNOWN_UNITS)


@dataclass(frozen=True)
class Ffi1001Header:
    """The FFI 1001 header, shared by NASA Ames and ICARTT (which is a profile of it)."""

    nlhead: int
    ffi: int
    version: str
    oname: str
    org: str
    sname: str
    mname: str
    ivol: int
    nvol: int
    date: dt.date
    rdate: dt.date
    dx: float
    xname: str
    vscal: tuple[float, ...]
    vmiss: tuple[float, ...]
    vname: tuple[str, ...]
    scom: tuple[str, ...]
    ncom: tuple[str, ...]
    data_line: int
    data_offset: int
    encoding: str

    @property
    def nv(self) -> int:
        """Number of dependent variables."""
        return len(self.vname)


@dataclass(frozen=True)
class NasaAmesFile:
    """A parsed FFI 1001 file exactly as written: raw (unscaled) values, missing values kept."""

    header: Ffi1001Header
    independent: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]  # shape (records, NV)


class _Cursor:
    """Reads header lines one at a time from the raw bytes, tracking line number and offset."""

    def __init__(self, raw: bytes, path: object) -> None:
        self.raw = raw
        self.path = path
        self.pos = 0
        self.line = 0
        self.encoding = "utf-8"

    def error(self, message: str, line: int | None = None) -> ReaderError:
        return ReaderError(message, path=self.path, line=self.line if line is None else line)

    def next(self, what: str) -> str:
        if self.pos >= len(self.raw):
            raise ReaderError(
                f"file ends inside the header where {what} was expected (truncated file?)",
                path=self.path,
                line=self.line + 1,
            )
        end = self.raw.find(b"\n", self.pos)
        end = len(self.raw) if end < 0 else end
        chunk = self.raw[self.pos : end].rstrip(b"\r")
        self.pos, self.line = end + 1, self.line + 1
        if b"\x00" in chunk:
            raise self.error(f"NUL byte in the header line holding {what}")
        try:
            return chunk.decode("utf-8")
        except UnicodeDecodeError:
            self.encoding = "latin-1"  # pre-UTF-8 files (e.g. umlauts in names): never fails
            return chunk.decode("latin-1")

    def numbers(
        self, what: str, count: int | None, kind: type[int] | type[float], *, wrap: bool = False
    ) -> list[Any]:
        """The numbers of one header line (``wrap``: continued on the next lines while a long
        line has given fewer than ``count``, as writers wrap VSCAL/VMISS of many variables).

        Fortran's ``0.1D+01`` is read as ``0.1E+01``, as in the data block.
        """
        values: list[Any] = []
        first_line, first_text = self.line + 1, ""
        while True:
            text = self.next(what)
            first_text = first_text or text
            tokens = [t for t in _SPLIT.split(text.strip()) if t]
            if values and count is not None and len(values) + len(tokens) > count:
                # the next list (VMISS after VSCAL), not a continuation: the first line is short
                raise self.error(
                    f"expected {count} {what}, found {len(values)}: {first_text.strip()[:80]!r}",
                    line=first_line,
                )
            try:
                values += [kind(_FORTRAN_D.sub("E", t) if kind is float else t) for t in tokens]
            except ValueError:
                if values and count is not None:  # a wrapped list that ended too soon
                    raise self.error(
                        f"expected {count} {what}, found {len(values)} before {text.strip()[:80]!r}"
                    ) from None
                raise self.error(f"expected {what}, found {text.strip()[:80]!r}") from None
            if not wrap or count is None or len(values) >= count:
                break
            if len(text) < _WRAP or not tokens:
                break
        if count is not None and len(values) != count:
            raise self.error(f"expected {count} {what}, found {len(values)}: {text.strip()!r}")
        return values

    def count(self, what: str, hint: str = "") -> int:
        text = self.next(what).strip()
        try:
            value = int(text)
        except ValueError:
            raise self.error(f"expected {what} (an integer), found {text[:60]!r}{hint}") from None
        if value < 0:
            raise self.error(f"{what} must not be negative, found {value}")
        return value


def check_scales(scales: list[float], what: str, cursor: Any) -> None:
    """A scale factor of 0 (or inf, NaN) would turn a whole column into one value: refuse.

    ``cursor`` is the header cursor, positioned just after the scale line (its ``error``
    names file and line).
    """
    for i, scale in enumerate(scales):
        if not np.isfinite(scale) or scale == 0:
            raise cursor.error(
                f"{what}({i + 1}) is {scale:g}: a scale factor must be a finite, non-zero number"
            )


#: Years a time can have in a Dataset (datetime64[ns] spans 1677-09-21 to 2262-04-11).
_YEARS = (1678, 2261)


def _date(values: list[int], cursor: _Cursor, what: str) -> dt.date:
    """A header date; a year outside datetime64[ns] (``21 06 13``) is refused, not wrapped.

    numpy silently wraps such a date when converting to nanoseconds (year 21 became 1775).
    """
    try:
        date = dt.date(*values)
    except (ValueError, TypeError) as exc:
        raise cursor.error(f"invalid {what} {values}: {exc}") from None
    if not _YEARS[0] <= date.year <= _YEARS[1]:
        hint = " (a two-digit year? the year must be written in full)" if date.year < 100 else ""
        raise cursor.error(
            f"{what} has year {date.year}: out of the range {_YEARS[0]}-{_YEARS[1]} "
            f"that times can take{hint}"
        )
    return date


def parse_ffi1001_header(raw: bytes, *, path: object, icartt: bool = False) -> Ffi1001Header:
    """Walk the FFI 1001 header structure and check it against NLHEAD (see module docstring)."""
    cur = _Cursor(raw, path)
    first = [t for t in _SPLIT.split(cur.next("'NLHEAD FFI'").strip()) if t]
    try:
        nlhead, ffi = int(first[0]), int(first[1])
    except (ValueError, IndexError):
        raise cur.error(f"expected 'NLHEAD FFI' on the first line, found {first[:3]}") from None
    if ffi != 1001 and icartt:
        niv = ffi // 1000
        what = f" ({niv} independent variables)" if 2 <= niv <= 4 else ""
        raise cur.error(
            f"unsupported FFI {ffi}: ICARTT FFI {ffi}{what} is not read; stratoflow reads "
            "ICARTT FFI 1001 (one independent variable, time)"
        )
    if ffi != 1001:
        raise cur.error(f"unsupported FFI {ffi}: only NASA Ames FFI 1001 can be read")
    version = first[2] if icartt and len(first) > 2 else ""
    oname = cur.next("the originator name (ONAME)")
    org = cur.next("the organisation (ORG)")
    sname = cur.next("the source (SNAME)")
    mname = cur.next("the mission (MNAME)")
    ivol, nvol = cur.numbers("volume numbers 'IVOL NVOL'", 2, int)
    dates = cur.numbers("dates 'DATE RDATE' (6 integers)", 6, int)
    date = _date(dates[:3], cur, "data date DATE")
    rdate = _date(dates[3:], cur, "revision date RDATE")
    if rdate < date:
        raise cur.error(f"revision date RDATE {rdate} is before the data date DATE {date}")
    (dx,) = cur.numbers("the interval DX (one value for NIV=1)", 1, float)
    xname = cur.next("the independent variable name (XNAME)")
    nv = cur.count("the number of variables NV")
    if not 1 <= nv <= _MAX_NV:
        raise cur.error(f"NV must be between 1 and {_MAX_NV}, found {nv}")
    vscal = cur.numbers(f"scale factors VSCAL (NV={nv})", nv, float, wrap=True)
    check_scales(vscal, "scale factor VSCAL", cur)
    vmiss = cur.numbers(f"missing values VMISS (NV={nv})", nv, float, wrap=True)
    vname = [cur.next(f"variable name {i + 1} of {nv} (VNAME)") for i in range(nv)]
    hint = f"; does NV={nv} (line 10) match the number of variable names?"
    nscoml = cur.count("the number of special comment lines NSCOML", hint)
    scom = [cur.next("a special comment line") for _ in range(nscoml)]
    nncoml = cur.count("the number of normal comment lines NNCOML")
    ncom = [cur.next("a normal comment line") for _ in range(nncoml)]
    if cur.line != nlhead:
        raise cur.error(
            f"wrong NLHEAD: line 1 says the header has {nlhead} lines, "
            f"but its structure ends at line {cur.line}",
            line=1,
        )
    return Ffi1001Header(
        nlhead, ffi, version, oname, org, sname, mname, ivol, nvol, date, rdate, dx, xname,
        tuple(vscal), tuple(vmiss), tuple(vname), tuple(scom), tuple(ncom), cur.line + 1,
        cur.pos, cur.encoding,
    )  # fmt: skip


FFIS = (1001, 1010, 1020, 2010, 2110, 2160, 2310, 3010, 4010)
_FFI_LINE = re.compile(rb"[ \t]*(\d+)[ \t]+(\d{4})(?:[ \t][^\r\n]*)?\r?")
_MAX_PREAMBLE = 3


def locate_header(raw: bytes, *, path: object) -> tuple[int, int]:
    """(lines before the header, FFI) of a NASA Ames file.

    The header starts at the line ``NLHEAD FFI``, normally line 1. Some producers (NDACC) put a
    line before it; NLHEAD counts from the ``NLHEAD FFI`` line, so such lines are skipped here
    and kept as the ``nasa_ames_preamble`` attribute. A first line that does not look like
    ``NLHEAD FFI`` and is not followed by one is left for the header parser to report.
    """
    lines = raw[:4096].split(b"\n", _MAX_PREAMBLE + 1)[: _MAX_PREAMBLE + 1]
    for skipped, line in enumerate(lines):
        match = _FFI_LINE.fullmatch(line)
        if match:
            ffi = int(match.group(2))
            if ffi not in FFIS:
                raise ReaderError(
                    f"unsupported FFI {ffi}: NASA Ames format indices are "
                    f"{', '.join(map(str, FFIS))} (wrong FFI, or not a NASA Ames file?)",
                    path=path,
                    line=skipped + 1,
                )
            return skipped, ffi
    return 0, 1001


def parse_nasa_ames(path: PathLike) -> NasaAmesFile:
    """Parse a NASA Ames FFI 1001 file into its header and raw numeric arrays (no conventions)."""
    return _parse_1001(text_bytes(Path(path).read_bytes()), path)


def _parse_1001(raw: bytes, path: PathLike) -> NasaAmesFile:
    header = parse_ffi1001_header(raw, path=path)
    data = raw[header.data_offset :]
    table = parse_table(data, ncols=header.nv + 1, first_line=header.data_line, path=path)
    check_last_line(data, path=path, first_line=header.data_line)
    return NasaAmesFile(header, table[:, 0].copy(), table[:, 1:])


# --- EBAS flags -----------------------------------------------------------------------------
# EBAS flags are three-digit codes, up to three per value packed as decimals of ``numflag``
# (0.456999 = flags 456 and 999). EBAS classes each as V (valid), I (invalid) or M (missing).
# Mapping to IAGOS: no flag -> good in data level 2 (quality assured by a person), else not
# validated (levels 0, 1 and 1.5 are raw or automatically processed: no flag is no verdict);
# 9xx -> missing; the invalid codes below -> bad; any other code (valid with a remark) -> limited.
_EBAS_INVALID = {
    256, 257, 258, 260, 385, 388, 389, 390, 392, 440, 456, 457, 458, 459, 460, 470, 471, 472,
    473, 474, 475, 476, 477, 478, 479, 499, 533, 534, 549, 566, 567, 568, 578, 599, 658, 659,
    660, 661, 677, 678, 679, 680, 682, 683, 684, 685, 699,
}  # fmt: skip
_EBAS_LUT = np.full(1000, int(Flag.LIMITED), dtype=np.uint8)
_EBAS_LUT[0] = int(Flag.GOOD)
_EBAS_LUT[900:] = int(Flag.MISSING)
_EBAS_LUT[sorted(_EBAS_INVALID)] = int(Flag.BAD)


_EBAS_LUT_UNASSURED = _EBAS_LUT.copy()
_EBAS_LUT_UNASSURED[0] = int(Flag.NOT_VALIDATED)


def ebas_flags(
    numflag: npt.NDArray[np.float64], *, quality_assured: bool = True
) -> npt.NDArray[np.uint8]:
    """Translate EBAS ``numflag`` values (up to three packed codes) to IAGOS validity flags.

    ``quality_assured``: the file is EBAS data level 2, checked by a person, so a value without
    a flag is good. In lower levels nobody has judged it: it is ``not_validated``. So is a
    value whose numflag is missing (NaN): no flag given is no verdict either.

    >>> ebas_flags(np.array([0.0, 0.147, 0.456, 0.999, 0.147456, np.nan])).tolist()
    [0, 2, 3, 7, 3, 4]
    >>> ebas_flags(np.array([0.0, 0.456]), quality_assured=False).tolist()
    [4, 3]
    """
    given = np.isfinite(numflag)
    packed = np.where(given, numflag, 0.0)
    codes = np.clip(np.rint(packed * 1e9), 0, 999_999_999).astype(np.int64)
    parts = np.stack([codes // 1_000_000, (codes // 1000) % 1000, codes % 1000])
    lut = _EBAS_LUT if quality_assured else _EBAS_LUT_UNASSURED
    flags = worst(lut[parts], axis=0)
    flags[~given] = int(Flag.NOT_VALIDATED)
    return flags


# --- variable names and conventions -------------------------------------------------------------
def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text.strip()).strip("_")
    return name or "var"


def _key_values(lines: tuple[str, ...], *, continued: bool = False) -> dict[str, str]:
    """The ``Key: value`` comment lines, keys spelt as the provider wrote them.

    ``Station code``, ``FlightNo`` or ``Conventions`` stay as written (only the blanks around
    key and value go: EBAS pads its values into a column), so the attribute says what the
    file says and a stratoflow file reads back with the attribute names it was written with.
    Code that looks a key up uses :func:`_lookup`, which ignores case and punctuation. A key
    given on several lines keeps every value, one per line, in order.

    ``continued`` (CARIBIC): a key with nothing after its colon has its value on the lines
    below, up to the next key, a blank line or a ``#`` line (``Info on measurement
    uncertainty:`` and then the sentence); it was read as empty.
    """
    out: dict[str, str] = {}
    open_key: str | None = None
    for line in lines:
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if len(key) > 1 and key[0] == key[-1] == '"':
            key = _json_key(key)
        if sep and key and len(key) < 60 and "\t" not in key:
            out[key] = f"{out[key]}\n{value}" if key in out else value
            open_key = key if continued and not value else None
        elif open_key is not None and line.strip() not in ("", "#"):
            out[open_key] = f"{out[open_key]}\n{line.strip()}".lstrip("\n")
        else:
            open_key = None
    return out


def _json_key(key: str) -> str:
    """A key written as a JSON string (stratoflow's NASA Ames writer does so for a key a
    ``key: value`` line cannot hold, ``"geospatial\\u003anote"``) as the text it stands for;
    any other quoted key as written."""
    try:
        decoded = json.loads(key)
    except ValueError:
        return key
    return decoded if isinstance(decoded, str) else key


def _without_caribic_comment(line: str) -> str:
    """A CARIBIC key-label line without its trailing `` # comment``.

    The CARIBIC_NAmes key labels of the special comments explain themselves after `` # ``
    (``FlightRoute: CPT MUC # IATA code of DepartureAirport and ArrivalAirport``); the value is
    what stands before it. Nothing else in a NASA Ames file has comments of its own (the whole
    comment section is text), so no other line is cut at a ``#``: ``Instrument # 2`` is a
    value. The lines as written stay in ``special_comments``.
    """
    return line.split(" # ", 1)[0]


def _lookup(kv: dict[str, str], key: str, default: str | None = None) -> str | None:
    """The value of ``key`` in ``kv``, however the file spells it (``Station code``,
    ``STATION_CODE`` and ``station code`` are one key); the first spelling found wins."""
    wanted = _identifier(key).lower()
    return next((v for k, v in kv.items() if _identifier(k).lower() == wanted), default)


_EBAS_FIELD = re.compile(r'(?:[^,"]|"[^"]*")+')


def _ebas_fields(text: str) -> list[str]:
    """The comma-separated fields of an EBAS variable name, commas inside quotes kept.

    A tag value with commas (or any other text) is quoted after its ``=``:
    ``Measurement uncertainty expl.="sqrt of bkgrd, sig"``. A CSV parser honours quotes only
    at the start of a field, so such a value was cut at its comma and the rest taken for a
    tag of its own.
    """
    return [_unquoted(m.group(0).strip()) for m in _EBAS_FIELD.finditer(text)] or [""]


def _unquoted(value: str) -> str:
    """A value written in double quotes without them (``""`` inside is one quote)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('""', '"')
    return value


def _split_vname(text: str, convention: str) -> tuple[str, str, str, dict[str, str]]:
    """(name, long_name, unit as written, extra attributes) from a VNAME line."""
    if convention == "ebas":
        fields = _ebas_fields(text)
        tags = (f.partition("=") for f in fields[2:] if "=" in f)
        extra = {k.strip(): _unquoted(v.strip()) for k, _, v in tags}
        name = fields[0].strip()
        if name.startswith("end_time"):
            name = "end_time"
        stat = _lookup(extra, "Statistics") or "arithmetic mean"
        if stat != "arithmetic mean" and name != "numflag":
            name = f"{name}_{_identifier(stat)}"
        unit = fields[1] if len(fields) > 1 else ""
        return (
            name,
            fields[0].strip(),
            unit,
            {f"ebas_{k}": v for k, v in extra.items()},  # the tags as spelt in the file
        )
    if ";" in text:
        parts = [p.strip() for p in text.split(";")]
        unit = (
            parts[-1] if len(parts) > 2 else (parts[1] if re.fullmatch(r"\[.*\]", parts[1]) else "")
        )
        long_name = parts[1] if len(parts) > 2 else parts[0]
        return parts[0], long_name or parts[0], unit, {}
    square = re.search(r"\[([^\[\]]*)\]", text)
    if square and square.start() > 0 and re.search(r"[\(\[]", text[square.end() :]):
        # NDACC: "Wind direction [decimal degrees] (range: 0 - 360)": the unit is the [...]
        return text[: square.start()].strip(), text.strip(), square.group(1), {}
    match = re.fullmatch(r"(.*?)\s*[\(\[]([^()\[\]]*)[\)\]]\s*", text)
    if match and match.group(1):
        return match.group(1), match.group(1), match.group(2), {}
    if "," in text:
        head, _, unit = text.partition(",")
        return head, head, unit, {}
    return text, text, "", {}


_TIME_UNITS = (
    ("s", re.compile(r"second|\[s\]|\(s\)|\bsec\b|\bs\b")),
    ("d", re.compile(r"\bdays?\b|julian")),
    ("h", re.compile(r"\bhours?\b|\[h\]")),
    ("min", re.compile(r"\bminutes?\b|\[min\]")),
)


def time_unit_of(name: str) -> str | None:
    """The time unit (``"s"``, ``"min"``, ``"h"``, ``"d"``) a variable name says, or None.

    The unit named first wins: "decimal UT hours from 0 hours on day given by DATE" is hours.

    >>> time_unit_of("Time in UT Seconds from 0000 hours"), time_unit_of("Altitude (km)")
    ('s', None)
    """
    low = name.lower()
    found = [(m.start(), unit) for unit, rx in _TIME_UNITS if (m := rx.search(low))]
    return min(found)[1] if found else None


_DAY_OF_YEAR = re.compile(r"julian|day[\s_-]*of[\s_-]*(?:the[\s_-]*)?year|\bdoy\b")
#: A Julian Date (days since -4712-01-01T12:00) at the Unix epoch.
_JD_UNIX = 2440587.5


def _own_reference(
    text: str, what: str, *, path: object, line: int | None = None
) -> TimeUnits | None:
    """The ``<unit> since <date>`` in a name or units text, its reference checked to be a UTC
    instant (:mod:`stratoflow.timeunits`); None when the text has none."""
    try:
        found = find_time_units(text)
        if found is not None:
            _ = found.epoch  # raises when the reference lies outside the datetime64 range
    except TimeUnitsError as exc:
        raise ReaderError(f"{what}: {exc}", path=path, line=line) from None
    return found


def time_origin(
    xname: str, date: dt.date, x: npt.NDArray[np.float64], *, path: object = None, line: int = 9
) -> tuple[np.datetime64, float]:
    """``(origin, value)``: the independent variable is ``value`` at ``origin``, midnight UTC
    of DATE (and 0) unless XNAME says otherwise.

    ``"seconds since 2021-06-13 12:00:00"`` counts from that instant (CF style; a zone such
    as ``+02:00`` is converted to UTC, ``UTC+1`` refused as ambiguous: see
    :mod:`stratoflow.timeunits`); ``"Fractional Julian day of year"``, ``"day of year"``
    count days from the start of DATE's year with 1 January as day 1 (values above a million
    are full Julian Dates, counted from -4712-01-01 12:00; ``value`` is then DATE's, so
    offsets stay small and exact). Reading such a column as an offset from DATE would shift
    every point.
    """
    low = xname.lower()
    since = _own_reference(xname, f"the independent variable {xname!r}", path=path, line=line)
    if since is not None:
        return since.epoch, 0.0
    finite = x[np.isfinite(x)]
    if _DAY_OF_YEAR.search(low) and finite.size:
        first = float(finite.min())
        if first > 1e6:
            midnight = np.datetime64(date, "ns")
            days = (midnight - np.datetime64("1970-01-01", "ns")) / np.timedelta64(1, "D")
            return midnight, float(days) + _JD_UNIX
        # Only when the first value is DATE's day of year: some files call days from DATE
        # "Julian days" too, and 0.4 must not become 31 December of the year before.
        if abs(int(first) - date.timetuple().tm_yday) <= 1:
            return np.datetime64(dt.date(date.year, 1, 1), "ns") - np.timedelta64(1, "D"), 0.0
    return np.datetime64(date, "ns"), 0.0


def _time_unit(xname: str, override: str | None, path: object, *, ffi: int = 1001) -> str:
    unit = override if override is not None else time_unit_of(xname)
    if unit is not None:
        return unit
    raise ReaderError(
        f"NASA Ames FFI {ffi}: the independent variable {xname!r} is not a time in seconds, "
        "minutes, hours or days: stratoflow reads time series (pass time_unit='s'|'min'|'h'|'d' "
        "if it is one)",
        path=path,
        line=9,
    )


#: Grids (ns) a time read from a coarse unit may be snapped to, coarsest first.
_GRIDS = (1_000_000_000, 100_000_000, 10_000_000, 1_000_000)


def written_resolution(x: npt.NDArray[np.float64]) -> float:
    """The step of the last decimal the values were written with (0.001 for ``12.345``).

    Inferred from the numbers: the fewest decimals that reproduce every value (ten candidates,
    each one vectorised pass).
    """
    finite = np.abs(x[np.isfinite(x)])
    if not finite.size:
        return 1.0
    for decimals in range(0, 13):
        scaled = finite * 10.0**decimals
        # a decimal string parses to within half an ulp; scaling adds another
        if (np.abs(scaled - np.rint(scaled)) <= 8 * np.finfo(float).eps * scaled).all():
            return 10.0**-decimals
    return 1e-13


def snap_times(ns: npt.NDArray[np.int64], step_ns: float) -> npt.NDArray[np.int64]:
    """Instants written as rounded fractions of a day (or hour) back on the clock's grid.

    EBAS writes times as days with 6 decimals (86.4 ms): 00:01:00 comes back as 00:00:59.971.
    When every instant lies within half a written step of the coarsest of 1 s, 0.1 s, 10 ms,
    1 ms that is finer than the step allows, that grid is what was meant; otherwise the values
    are kept as they are.
    """
    for grid in _GRIDS:
        snapped = (ns + grid // 2) // grid * grid  # integer arithmetic: exact for any instant
        if (np.abs(snapped - ns) < step_ns / 2).all():
            return snapped
    return ns


def to_times(
    x: npt.NDArray[np.float64],
    date: dt.date,
    unit: str,
    *,
    path: object,
    first_line: int,
    origin: tuple[np.datetime64, float] | None = None,
) -> npt.NDArray[np.datetime64]:
    """Values in ``unit`` -> strictly increasing datetime64[ns]; ``origin`` is ``(instant,
    value)`` as :func:`time_origin` gives it (default: offsets from midnight UTC of ``date``)."""
    start, zero = (np.datetime64(date, "ns"), 0.0) if origin is None else origin
    ns = (x - zero) * _NS[unit] if zero else x * _NS[unit]
    bad = ~np.isfinite(ns) | (np.abs(ns) > 4e18)
    if bad.any():
        raise ReaderError(
            f"time value {float(x[np.argmax(bad)])!r} is not a valid offset",
            path=path,
            line=first_line + int(np.argmax(bad)),
        )
    instants = start.astype("datetime64[ns]").astype(np.int64) + np.rint(ns).astype(np.int64)
    step = written_resolution(x) * _NS[unit]
    times = snap_times(instants, step).astype("datetime64[ns]")
    if times.size > 1:
        steps = np.diff(times.view(np.int64))
        if (steps <= 0).any():
            i = int(np.argmax(steps <= 0)) + 1
            back = -int(steps[i - 1])
            hint = (
                ": it starts again at midnight, but times past midnight must continue beyond "
                "one day from DATE (86400 s, 24 h)"
                if 20 * _NS["h"] <= back <= _NS["d"]
                else ""
            )
            raise ReaderError(
                f"time is not strictly increasing ({float(x[i - 1])!r} then {float(x[i])!r})"
                + hint,
                path=path,
                line=first_line + i,
            )
    return times


def _unique(name: str, taken: set[str]) -> str:
    base, i = name, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


#: The first normal comment of a file written by stratoflow's NASA Ames writer.
_STRATOFLOW_MARK = "FileFormatVersionInfo: stratoflow NASA Ames"
#: The normal comment in which stratoflow's writer names the attributes it wrote as JSON.
TYPED_ATTRIBUTES = "TypedAttributes"


def typed_attributes(kv: dict[str, str], ncom: tuple[str, ...], *, path: object) -> dict[str, Any]:
    """The attributes of a stratoflow file, numbers as numbers.

    NASA Ames comments are text (``key: value``), so a number the writer wrote came back as
    a string (``"3"``, ``"nan"``) and a list was not written at all. stratoflow's writer
    writes each attribute that is not text as JSON (:func:`stratoflow.csv_metadata.encode`:
    ``3``, ``NaN``, ``[1, 2.5]``, numpy scalars and arrays tagged with their dtype) and names
    those attributes in a ``TypedAttributes:<TAB>count<TAB>ratio`` line; they are decoded
    here, the others stay the text they are. Only for files stratoflow wrote: another
    provider's values are text as written, whatever they look like.
    """
    typed: set[str] = set()
    for line in ncom:
        if line.startswith(f"{TYPED_ATTRIBUTES}:"):
            for k in line.partition(":")[2].split("\t"):
                k = k.strip()  # a key written as JSON (a colon in it) stands for its text
                if k:
                    typed.add(_json_key(k) if len(k) > 1 and k[0] == k[-1] == '"' else k)
    out: dict[str, Any] = dict(kv)
    for key in typed & set(kv):
        try:
            out[key] = decode(kv[key])
        except (TypeError, ValueError) as exc:
            raise ReaderError(
                f"attribute {key!r} named in {TYPED_ATTRIBUTES}: {kv[key]!r} is no value "
                f"stratoflow writes ({exc})",
                path=path,
            ) from None
    return out


def _convention(scom: tuple[str, ...], ncom: tuple[str, ...]) -> str:
    """The convention the comments follow.

    stratoflow's own mark is looked for first, as a whole line of the normal comments: a file
    it wrote from an EBAS or CARIBIC source carries that source's metadata among its
    attributes (``nasa_ames_Data definition: EBAS_1.1``) and its special comments, and was
    read back under the source's convention.
    """
    if any(line.startswith(_STRATOFLOW_MARK) for line in ncom[:200]):
        return "stratoflow"
    text = "\n".join((scom + ncom)[:200])
    if "EBAS_" in text and "Data definition" in text:
        return "ebas"
    if "CARIBIC_NAmes" in text:
        return "caribic"
    return "gaines-hipskind"


class NasaAmesReader(Reader):
    """NASA Ames (FFI 1001; 1010, 1020, 2110, 2160 when time-based) -> standardized Dataset.

    Options:
        time_unit: unit of the independent variable (``"s"``, ``"min"``, ``"h"``, ``"d"``; X1 of
            a 2-D format) when its name (XNAME) does not say it; times are offsets from
            midnight UTC of DATE (or from a record block's start, see ``nasa_ames_ffi``).
    """

    name: ClassVar[str] = "nasa_ames"
    description: ClassVar[str] = (
        "NASA Ames text files (Gaines & Hipskind): FFI 1001 incl. IAGOS-CARIBIC and EBAS; "
        "1010, 1020, 2110, 2160 (e.g. NDACC ozonesondes) when their independent variable is time"
    )
    suffixes: ClassVar[tuple[str, ...]] = (".na", ".nas", ".ames")
    _FIRST_LINE: ClassVar[re.Pattern[bytes]] = re.compile(
        rb"\A(?:[^\n]{0,200}\n)?[ \t]*\d+[ \t]+(?:1001|1010|1020|2010|2110|2160|2310|3010|4010)"
        rb"[ \t]*\r?\n"
    )
    _DEFECTIVE_FFI: ClassVar[re.Pattern[bytes]] = re.compile(
        rb"\A[ \t]*(?:[7-9]|[1-9]\d{1,4})[ \t]+[1-9]\d{3}[ \t]*\r?\n[^\n]*[^\d\s.,;+eE-]"
    )

    def __init__(self, *, time_unit: str | None = None) -> None:
        if time_unit is not None and time_unit not in _NS:
            raise ReaderError(f"time_unit must be one of {sorted(_NS)}, got {time_unit!r}")
        self.time_unit = time_unit

    @classmethod
    def guess_can_open(cls, path: PathLike) -> bool:
        """True when line 1 (or 2) reads ``NLHEAD FFI``, else decided by the suffix.

        A first line ``NLHEAD FFI`` with a four-digit FFI that is not a format index, followed
        by a text line (the ONAME of every NASA Ames file), is claimed too: it is a NASA Ames
        file with a wrong FFI, and reading it says so, where leaving it to no reader would
        only say that no reader recognises it.
        """
        try:
            with open(path, "rb") as fh:
                head = text_bytes(fh.read(300))
        except OSError:
            head = b""
        return bool(
            cls._FIRST_LINE.match(head) or cls._DEFECTIVE_FFI.match(head)
        ) or cls._accepts_name(Path(path))

    def _read(self, path: Path) -> xr.Dataset:
        raw = text_bytes(path.read_bytes())
        skipped, ffi = locate_header(raw, path=path)
        if ffi != 1001 or skipped:
            from stratoflow.readers.nasa_ames_ffi import read_nasa_ames

            return read_nasa_ames(raw, path=path, time_unit=self.time_unit)
        try:
            parsed = _parse_1001(raw, path)
        except ReaderError as exc:
            if "values per data record" not in str(exc):
                raise
            # Records wrapped over several lines (many variables, a 132-column writer): the
            # general reader takes a record as its numbers over lines, each record starting
            # a line, and still names a short or long record. If it fails too, its message
            # is the one that fits when the very first record was already split over lines,
            # else the one-line reading's.
            from stratoflow.readers.nasa_ames_ffi import read_nasa_ames

            data = raw[parse_ffi1001_header(raw, path=path).data_offset :]
            if all(len(line.split()) <= 1 for line in data.splitlines()):
                # one value per line: the independent variable alone, every variable lost
                # (no writer wraps a record after each value); read as wrapped records,
                # every other time became a value of the first variable
                raise exc
            try:
                return read_nasa_ames(raw, path=path, time_unit=self.time_unit)
            except ReaderError as general:
                first = parse_ffi1001_header(raw, path=path).data_line
                if getattr(exc, "line", None) == first:
                    raise
                raise exc from general
        h = parsed.header
        unit = _time_unit(h.xname, self.time_unit, path, ffi=h.ffi)
        origin = time_origin(h.xname, h.date, parsed.independent, path=path)
        times = to_times(
            parsed.independent, h.date, unit, path=path, first_line=h.data_line, origin=origin
        )
        columns = [
            Column(vname, parsed.values[:, i], h.vscal[i], h.vmiss[i])
            for i, vname in enumerate(h.vname)
        ]
        return build_dataset(h, times, columns, path=path)


@dataclass(frozen=True)
class Column:
    """One variable of a NASA Ames file as written: its name line, raw values, VSCAL, VMISS.

    ``auxiliary`` marks an auxiliary variable (ANAME) of the 1010/1020/2110/2160 formats;
    ``units`` overrides the UDUNITS string guessed from the name.
    """

    vname: str
    raw: npt.NDArray[np.float64]
    scale: float
    missing: float
    auxiliary: bool = False
    units: str | None = None


class HeaderLike(Protocol):
    """What :func:`build_dataset` needs from a header (FFI 1001 or any other FFI)."""

    @property
    def ffi(self) -> int: ...
    @property
    def oname(self) -> str: ...
    @property
    def org(self) -> str: ...
    @property
    def sname(self) -> str: ...
    @property
    def mname(self) -> str: ...
    @property
    def ivol(self) -> int: ...
    @property
    def nvol(self) -> int: ...
    @property
    def date(self) -> dt.date: ...
    @property
    def rdate(self) -> dt.date: ...
    @property
    def xname(self) -> str: ...
    @property
    def scom(self) -> tuple[str, ...]: ...
    @property
    def ncom(self) -> tuple[str, ...]: ...
    @property
    def encoding(self) -> str: ...


def build_dataset(
    h: HeaderLike,
    times: npt.NDArray[np.datetime64],
    columns: list[Column],
    *,
    path: Path,
    extra_variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]] | None = None,
    extra_attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Apply scale factors, missing values and the file's conventions; build the Dataset.

    Shared by every FFI so that a variable looks the same whether it came from a 1001 file
    or from a profile of a 2160 file.
    """
    conv = _convention(h.scom, h.ncom)
    scom = tuple(_without_caribic_comment(line) for line in h.scom) if conv == "caribic" else h.scom
    if conv in ("ebas", "caribic"):
        kv = _key_values(scom + h.ncom, continued=conv == "caribic")
    else:
        kv = {}
    std_names, cf_units = _cf_lines(h.ncom) if conv in ("caribic", "stratoflow") else ([], [])
    links = _tab_entries(h.ncom, "CF_AncillaryVariables") if conv == "stratoflow" else []
    if conv == "stratoflow":  # the attributes are the normal comments after the file's structure
        lines = tuple(line for line in h.ncom if not line.startswith(_STRATOFLOW_MARK))
        structure = ("CF_StandardNames", "CF_AncillaryVariables", TYPED_ATTRIBUTES)
        kv = {k: v for k, v in _key_values(lines).items() if k not in structure}
    if conv == "ebas":
        _check_ebas_timezone(_lookup(kv, "Timezone") or "UTC", path)
    # EBAS data level 2 is quality assured by a person; in lower levels no flag is no verdict
    assured = str(_lookup(kv, "Data level")).strip() == "2"
    variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]] = {}
    flags: dict[str, npt.NDArray[np.uint8]] = {}  # only what the file says: none made up
    taken: set[str] = set(extra_variables or {})
    pending: list[str] = []  # EBAS: variables waiting for the next numflag column
    numflag_of: dict[str, str] = {}  # EBAS: the numflag column that flags a variable
    for i, col in enumerate(columns):
        missing = (col.raw == col.missing) | np.isnan(col.raw)
        values = col.raw * col.scale
        values[missing] = np.nan
        name, long_name, unit_text, extra = _split_vname(col.vname, conv)
        name = _unique(_identifier(name) if conv != "stratoflow" else name, taken)
        attrs: dict[str, Any] = {
            "long_name": long_name.strip() or name,
            "units": to_udunits(unit_text),
            "units_original": unit_text.strip(),
            "nasa_ames_aname" if col.auxiliary else "nasa_ames_vname": col.vname,
            "missing_value_original": col.missing,
            "scale_factor_original": col.scale,
            **extra,
        }
        own = _own_reference(unit_text, f"variable {name!r}", path=path)
        if own is not None:  # its own reference: kept, not moved to the file's DATE
            attrs["units"] = f"{to_udunits(unit_text.split()[0])} since {own.utc_reference}"
        elif "from the file reference point" in unit_text or "since" in unit_text.lower():
            attrs["units"] = f"{to_udunits(unit_text.split()[0])} since {h.date} 00:00:00"
        if i < len(cf_units) and cf_units[i].strip("[] "):
            attrs["units"] = cf_units[i].strip("[] ")
        if i < len(std_names) and std_names[i].strip():
            attrs["standard_name"] = std_names[i].strip()
        if col.units is not None:
            attrs["units"] = col.units
        if i < len(links) and links[i].strip():
            attrs["ancillary_variables"] = links[i].strip()
        if conv == "ebas" and name.startswith("numflag"):
            # the EBAS flags of the variables since the previous numflag column
            codes = ebas_flags(values, quality_assured=assured)
            for target in pending:
                flags[target] = np.where(
                    np.isnan(variables[target][0]), np.uint8(Flag.MISSING), codes
                ).astype(np.uint8)
                numflag_of[target] = name
            attrs["long_name"] = "EBAS numflag of " + " ".join(pending)
            pending = []
        elif conv == "ebas" and name != "end_time":
            pending.append(name)
        variables[name] = (values, attrs)
    flag_columns_to_flags(variables, flags, declared=conv == "stratoflow")
    variables.update(extra_variables or {})
    # the numbers stratoflow wrote come back as numbers; a provider's values stay text
    comments = typed_attributes(kv, h.ncom, path=path) if conv == "stratoflow" else kv
    attrs = _attrs(h, conv, kv, path, values=comments)
    attrs.update(extra_attrs or {})
    ds = make_dataset(times, variables, flags=flags, attrs=attrs)
    for flagged, numflag in numflag_of.items():
        ds[flagged].attrs["ancillary_variables"] += f" {numflag}"
    return ds


def _check_ebas_timezone(zone: str, path: Path) -> None:
    """EBAS times are UTC and say so (``Timezone: UTC``); any other zone is refused.

    The times were read as UTC whatever the line said. EBAS_1.1 allows only UTC, so a file
    that says otherwise is not one EBAS wrote, and its local times are not guessed at.
    """
    try:
        offset = zone_offset(zone)
    except TimeUnitsError as exc:
        raise ReaderError(f"EBAS metadata 'Timezone: {zone}': {exc}", path=path) from None
    if offset:
        raise ReaderError(
            f"EBAS metadata 'Timezone: {zone}': EBAS files give times in UTC; local times "
            "are not read (convert the file to UTC)",
            path=path,
        )


def _tab_entries(ncom: tuple[str, ...], key: str) -> list[str]:
    """The per-variable entries of a ``Key:\t<x>\t<v1>\t...`` normal comment ([] if none)."""
    for line in ncom:
        if line.startswith(f"{key}:"):
            return line.partition(":")[2].strip().split("\t")[1:]
    return []


def _cf_lines(ncom: tuple[str, ...]) -> tuple[list[str], list[str]]:
    std: list[str] = []
    units: list[str] = []
    for line in ncom:
        if line.startswith("CF_StandardNames:"):
            std = line.partition(":")[2].strip().split("\t")[1:]
        elif line.startswith("CF_Units:"):
            units = line.partition(":")[2].strip().split("\t")[1:]
    return std, units


def flag_columns_to_flags(
    variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]],
    flags: dict[str, npt.NDArray[np.uint8]],
    *,
    declared: bool = False,
) -> None:
    """Columns ``<var>_flag`` that are IAGOS validity flags become ``<var>``'s flags.

    ``declared``: the file says its flag columns hold IAGOS codes (stratoflow's writers do);
    then codes that fit the scheme are enough. Otherwise a ``<var>_flag`` column is the
    provider's own (a status, another scheme) unless its values fit the IAGOS scheme as a
    whole: IAGOS codes only, and ``missing`` (7) exactly where ``<var>`` has no value, as
    every IAGOS file has it. A column of 0/2/3 status codes beside a variable with gaps is
    therefore kept as data (``<var>_flag_original``, see
    :func:`stratoflow.dataset.make_dataset`), not read as "limited" and "bad".
    """
    valid = np.array([int(f) for f in Flag])
    for name in [n for n in variables if n.endswith("_flag") and n[:-5] in variables]:
        values = variables[name][0]
        if not np.isin(values, valid).all():
            continue
        if not declared:
            owner = np.asarray(variables[name[:-5]][0])
            no_value = np.isnan(owner) if owner.dtype.kind == "f" else np.zeros(owner.shape, bool)
            if not np.array_equal(no_value, values == int(Flag.MISSING)):
                continue
        flags[name[:-5]] = values.astype(np.uint8)
        del variables[name]
        flags.pop(name, None)


def _attrs(
    h: HeaderLike, conv: str, kv: dict[str, str], path: Path, *, values: dict[str, Any]
) -> dict[str, Any]:
    """The Dataset's attributes: the comments' ``values`` (``kv`` typed, where the file says
    how), then the header's; the attributes stratoflow names itself are looked up in ``kv``."""
    prefix = "" if conv == "stratoflow" else "nasa_ames_"
    attrs: dict[str, Any] = {f"{prefix}{k}": v for k, v in values.items()}
    attrs.update(
        {
            "pi": h.oname,
            "organisation": h.org,
            "source": h.sname,
            "mission": h.mname,
            "file_volume": f"{h.ivol}/{h.nvol}",
            "data_date": h.date.isoformat(),
            "revision_date": h.rdate.isoformat(),
            "independent_variable": h.xname,
            "special_comments": "\n".join(h.scom),
            "normal_comments": "\n".join(h.ncom),
            "file_format": f"NASA Ames FFI {h.ffi}",
            "file_convention": conv,
            "header_encoding": h.encoding,
            "source_file": path.name,
        }
    )
    for key, target in (
        ("FlightNo", "flight"),
        ("DepartureAirport", "departure_airport"),
        ("ArrivalAirport", "arrival_airport"),
        ("Station code", "station"),
        ("Platform code", "platform"),
        ("flight", "flight"),
        ("platform", "platform"),
    ):
        value = _lookup(kv, key)
        if value is not None:
            attrs.setdefault(target, value)
    return attrs
