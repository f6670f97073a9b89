"""NASA Ames format indices other than plain 1001: which become time series, and why not the rest.

Gaines & Hipskind (1998) define nine file format indices (FFI). The first digit is the number
of independent variables; only the last, most slowly varying one is unbounded, and auxiliary
variables depend on it alone. A stratoflow Dataset has one dimension, ``time``, so an FFI can be
read only where its independent variables reduce to one time axis:

* **1001** with lines before the header (NDACC): read like any 1001 file.
* **1010** (X, auxiliary values A, then the NV primary values V, per record): when X is a time,
  one time step per record; each auxiliary variable is one more data variable.
* **1020** (X, A, then NVPM values of each V at X, X+DX, ... X+(NVPM-1)DX): when X is a time,
  expanded to NVPM time steps per record; auxiliary values repeat over their record.
* **2110 / 2160** (an unbounded X2 -- a number, or a string such as a station name for 2160 --
  then, per record block, NX values of a bounded X1 with the V at each): when X1 is a time,
  each block (an ozone sounding, say) is a stretch of time series, and the blocks are joined.
  X1 counts from midnight UTC of DATE unless an auxiliary variable gives each block's start
  (``Launch time [decimal UT hours from 0 hours on day given by DATE]`` in NDACC sondes), in
  which case the block starts there. Auxiliary values and X2 that are the same in every block
  are metadata and become attributes (``aux_<name>``); values that change from block to block
  become data variables (a string variable for text).

Refused with a :class:`~stratoflow.errors.ReaderError` naming the file, the FFI and the reason:

* any FFI whose time-like independent variable is not a time (altitude, latitude, pressure:
  vertical profiles and model grids are not time series);
* a block start given in local time, or a relative time (``after launch``) with no start;
* blocks whose times overlap (one series per site in the same file): one Dataset holds one
  series;
* **3010 / 4010**: each record is a 2-D or 3-D grid at one value of the unbounded variable;
* **2010 / 2310** with time as X1: not implemented (no such files seen); convert to 2110.

Parsing is vectorised: the data block is tokenised once with numpy; record structure (which
value starts a new line) is checked with array operations. 2110/2160 walk their record blocks
in Python (one iteration per block, not per value), since each block says its own length.

Example::

    >>> ds = NasaAmesReader().read("bu20170609.b17")   # doctest: +SKIP   NDACC ozonesonde
    >>> str(ds.time.values[0])                          # doctest: +SKIP
    '2017-06-09T18:49:44.000004000'
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.errors import ReaderError
from stratoflow.readers.nasa_ames import (
    _MAX_NV,
    _NS,
    _SPLIT,
    _UNIT_NAMES,
    Column,
    _Cursor,
    _date,
    _identifier,
    _own_reference,
    _split_vname,
    _unique,
    build_dataset,
    check_scales,
    snap_times,
    time_origin,
    time_unit_of,
    written_resolution,
)
from stratoflow.readers.text_table import check_last_line, fortran_exponents

__all__ = ["NasaAmesHeader", "parse_header", "read_nasa_ames"]

_ALLOWED = np.zeros(256, dtype=bool)
for _c in b"0123456789+-.eEnNaA \t\r\n":
    _ALLOWED[_c] = True
_REFERENCE = re.compile(
    r"(launch|start|begin\w*|reference|initial|release)\s+time"
    r"|time\s+(at|of)\s+(t\s*=\s*0|launch|start|release|first)",
    re.IGNORECASE,
)
_ABSOLUTE = re.compile(
    r"\bUTC?\b|\bGMT\b|midnight|(from|since)\s+0+\s*(hours?|h)\b|data\s+date|of\s+(the\s+)?day",
    re.IGNORECASE,
)
_RELATIVE = re.compile(
    r"\bafter\b|elapsed|since\s+(launch|start|release)|from\s+(launch|start|release)|relative",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NasaAmesHeader:
    """The header of any FFI, as written. ``xnames`` in file order: X1 (fastest) first."""

    nlhead: int
    ffi: int
    preamble: tuple[str, ...]
    oname: str
    org: str
    sname: str
    mname: str
    ivol: int
    nvol: int
    date: dt.date
    rdate: dt.date
    dx: tuple[float, ...]
    nvpm: int
    nx: tuple[int, ...]
    lenx: int
    xnames: tuple[str, ...]
    xname_line: int
    vscal: tuple[float, ...]
    vmiss: tuple[float, ...]
    vname: tuple[str, ...]
    nauxc: int
    amiss_text: tuple[str, ...]
    ascal: tuple[float, ...]
    amiss: tuple[float, ...]
    aname: tuple[str, ...]
    scom: tuple[str, ...]
    ncom: tuple[str, ...]
    data_line: int
    data_offset: int
    encoding: str

    @property
    def xname(self) -> str:
        """The name of X1, the variable that must be time for the file to be read."""
        return self.xnames[0]

    @property
    def niv(self) -> int:
        """Number of independent variables (the first digit of the FFI)."""
        return self.ffi // 1000

    @property
    def nauxv(self) -> int:
        """Number of auxiliary variables (numeric and text)."""
        return len(self.aname)


def _numbers(cur: _Cursor, what: str, count: int, kind: type[int] | type[float]) -> list[Any]:
    """``count`` numbers from one line, or from several when a long line was wrapped."""
    return cur.numbers(what, count, kind, wrap=True)


def _count(cur: _Cursor, what: str, low: int, high: int = _MAX_NV) -> int:
    value = cur.count(what)
    if not low <= value <= high:
        raise cur.error(f"{what} must be between {low} and {high}, found {value}")
    return value


def parse_header(raw: bytes, *, path: object, skipped: int = 0) -> NasaAmesHeader:
    """Walk the header of any FFI (after ``skipped`` preamble lines) and check it against NLHEAD.

    Line numbers in errors count from the top of the file, preamble included.
    """
    cur = _Cursor(raw, path)
    preamble = tuple(cur.next("a line before the header") for _ in range(skipped))
    first = [t for t in _SPLIT.split(cur.next("'NLHEAD FFI'").strip()) if t]
    try:
        nlhead, ffi = int(first[0]), int(first[1])
    except (ValueError, IndexError):
        raise cur.error(f"expected 'NLHEAD FFI', found {first[:3]}") from None
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
    niv = ffi // 1000
    ndx = {2110: 2, 2010: 2, 3010: 3, 4010: 4}.get(ffi, 1)
    dx = tuple(_numbers(cur, f"the interval(s) DX ({ndx} values for FFI {ffi})", ndx, float))
    nvpm, lenx, nx = 0, 0, ()
    if ffi == 1020:
        nvpm = _count(cur, "the number of values per record NVPM", 1)
    if ffi == 2160:
        lenx = _count(cur, "the length of the text variable X2 (LENX)", 1, 132)
    if ffi in (2010, 3010, 4010):
        nbound = niv - 1
        nx = tuple(_numbers(cur, f"the grid sizes NX ({nbound} integers)", nbound, int))
        nxdef = _numbers(cur, f"the numbers of grid values given NXDEF ({nbound})", nbound, int)
        for i in range(nbound):
            if not 1 <= nxdef[i] <= nx[i]:
                raise cur.error(f"NXDEF({i + 1}) = {nxdef[i]} must be between 1 and NX={nx[i]}")
            _numbers(cur, f"the {nxdef[i]} grid value(s) of X{i + 1}", nxdef[i], float)
    xname_line = cur.line + 1
    xnames = tuple(cur.next(f"the name of independent variable X{i + 1}") for i in range(niv))
    nv = _count(cur, "the number of variables NV", 1)
    vscal = _numbers(cur, f"scale factors VSCAL (NV={nv})", nv, float)
    check_scales(vscal, "scale factor VSCAL", cur)
    vmiss = _numbers(cur, f"missing values VMISS (NV={nv})", nv, float)
    vname = tuple(cur.next(f"variable name {i + 1} of {nv} (VNAME)") for i in range(nv))
    nauxv = nauxc = 0
    ascal: list[float] = []
    amiss: list[float] = []
    amiss_text: list[str] = []
    if ffi != 1001:
        needs = {2110: 1, 2160: 1, 2310: 3}.get(ffi, 0)
        nauxv = _count(cur, "the number of auxiliary variables NAUXV", needs)
        if ffi == 2160:
            nauxc = _count(cur, "the number of text auxiliary variables NAUXC", 0, nauxv - 1)
        if nauxv - nauxc:
            ascal = _numbers(cur, f"scale factors ASCAL ({nauxv - nauxc})", nauxv - nauxc, float)
            check_scales(ascal, "scale factor ASCAL", cur)
            amiss = _numbers(cur, f"missing values AMISS ({nauxv - nauxc})", nauxv - nauxc, float)
        if nauxc:
            _numbers(cur, f"the lengths LENA of the {nauxc} text variables", nauxc, int)
            amiss_text = [
                cur.next("the missing value of a text auxiliary variable").strip()
                for _ in range(nauxc)
            ]
    aname = tuple(
        cur.next(f"auxiliary name {i + 1} of {nauxv} (ANAME)").strip() for i in range(nauxv)
    )
    hint = f"; do NV={nv} and NAUXV={nauxv} match the names listed?"
    nscoml = cur.count("the number of special comment lines NSCOML", hint)
    scom = tuple(cur.next("a special comment line") for _ in range(nscoml))
    nncoml = cur.count("the number of normal comment lines NNCOML")
    ncom = tuple(cur.next("a normal comment line") for _ in range(nncoml))
    if cur.line - skipped != nlhead:
        raise cur.error(
            f"wrong NLHEAD: line {skipped + 1} says the header has {nlhead} lines, "
            f"but its structure ends after {cur.line - skipped} lines (at line {cur.line})",
            line=skipped + 1,
        )
    return NasaAmesHeader(
        nlhead, ffi, preamble, oname, org, sname, mname, ivol, nvol, date, rdate, dx, nvpm, nx,
        lenx, xnames, xname_line, tuple(vscal), tuple(vmiss), vname, nauxc, tuple(amiss_text),
        tuple(ascal), tuple(amiss), aname, scom, ncom, cur.line + 1, cur.pos, cur.encoding,
    )  # fmt: skip


class _DataBlock:
    """The data section, tokenised once: values are taken from it by line and count."""

    def __init__(self, data: bytes, *, first_line: int, path: object, encoding: str) -> None:
        raw = np.frombuffer(data, dtype=np.uint8)
        arr = fortran_exponents(raw)
        if arr is not raw:  # Fortran D exponents were changed to E
            data = arr.tobytes()
        self.data, self.first_line, self.path, self.encoding = data, first_line, path, encoding
        self.newlines = np.flatnonzero(arr == ord("\n"))
        self.starts = np.concatenate([[0], self.newlines + 1])
        self.ends = np.concatenate([self.newlines, [len(data)]])
        blank = arr <= 32
        tokens = np.flatnonzero(~blank[1:] & blank[:-1]) + 1
        if arr.size and not blank[0]:
            tokens = np.concatenate([[0], tokens])
        self.per_line = np.bincount(
            np.searchsorted(self.newlines, tokens), minlength=self.starts.size
        )
        self.cum = np.concatenate([[0], np.cumsum(self.per_line)])
        self.nlines = int(self.starts.size)

    def error(self, message: str, line: int) -> ReaderError:
        return ReaderError(message, path=self.path, line=self.first_line + line)

    def exhausted(self, line: int) -> bool:
        """True when nothing but blank lines is left from ``line`` on."""
        return line >= self.nlines or int(self.cum[-1] - self.cum[line]) == 0

    def text(self, line: int, what: str) -> str:
        if line >= self.nlines:
            raise self.error(f"file ends where {what} was expected (truncated file?)", line)
        chunk = self.data[self.starts[line] : self.ends[line]].rstrip(b"\r")
        return chunk.decode(self.encoding, errors="replace").strip()

    def numbers(
        self, line: int, count: int, what: str
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], int]:
        """``count`` values from ``line`` on: (values, line of each value, next line)."""
        need = int(self.cum[min(line, self.nlines)]) + count
        end = int(np.searchsorted(self.cum, need))
        if end >= self.cum.size:
            raise self.error(
                f"file ends inside {what}: {count} values expected, "
                f"{int(self.cum[-1] - self.cum[min(line, self.nlines)])} left (truncated file?)",
                min(line, self.nlines - 1),
            )
        if int(self.cum[end]) != need:
            raise self.error(
                f"{what}: {count} values expected, but line {self.first_line + end - 1} holds "
                f"more (a value too many, or a wrong count in the header?)",
                end - 1,
            )
        chunk = self.data[self.starts[line] : self.ends[end - 1]]
        arr = np.frombuffer(chunk, dtype=np.uint8)
        bad = np.flatnonzero(~_ALLOWED[arr])
        lines = np.repeat(np.arange(line, end), self.per_line[line:end])
        if bad.size:
            at = int(np.searchsorted(self.newlines, self.starts[line] + bad[0]))
            char = chunk[int(bad[0]) : int(bad[0]) + 1]
            raise self.error(f"unexpected character {char!r} in {what}", at)
        tokens = chunk.split()
        try:
            values = np.array(tokens, dtype=np.float64)
        except ValueError:
            i = next(i for i, t in enumerate(tokens) if not _is_float(t))
            raise self.error(
                f"not a number in {what}: {tokens[i].decode('ascii', 'replace')!r}", int(lines[i])
            ) from None
        return values, lines, end

    def records(
        self, line: int, nrec: int | None, segments: list[int], what: str
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], int]:
        """``nrec`` records (all that remain if None) made of ``segments``, each on new lines.

        Returns (values as (records, sum(segments)), line of each record, next line). The line
        structure is checked first, from the token counts alone, so a value missing in the
        middle is reported where it is missing, not as a short file.
        """
        size = sum(segments)
        base = int(self.cum[line])
        available = int(self.cum[-1]) - base
        if nrec is None:
            if available == 0:
                raise self.error("no data records after the header", line)
            nrec = -(-available // size)
        n = nrec * size
        self._aligned(line, min(n, available), segments, what)
        if available < n:
            k = available // size
            raise self.error(
                f"the data end inside record {k + 1} of {what}: {available % size} of its "
                f"{size} values are present (truncated file, or a wrong count in the header?)",
                self._line_of_token(base + k * size),
            )
        values, lines, end = self.numbers(line, n, what)
        return values.reshape(nrec, size), lines[::size], end

    def _line_of_token(self, token: int) -> int:
        return int(np.searchsorted(self.cum, token, side="right")) - 1

    def _aligned(self, line: int, n: int, segments: list[int], what: str) -> None:
        """Each record part must begin a new line; else a value is missing or extra.

        Reported at the line of the last part that began well: the defect is there (a short or
        long line) or on the line after it.
        """
        size = sum(segments)
        offsets = np.cumsum([0, *segments[:-1]])
        starts = (np.arange(0, n, size)[:, None] + offsets[None, :]).ravel()
        starts = starts[starts < n]
        base = int(self.cum[line])
        line_starts = self.cum[line:-1][self.per_line[line:] > 0] - base
        ok = np.isin(starts, line_starts) | (starts == 0)
        if not ok.all():
            j = int(np.argmax(~ok))
            good, bad = int(starts[j - 1]), int(starts[j])
            at, after = self._line_of_token(base + good), self._line_of_token(base + bad)
            lines = f"line {self.first_line + at}" + (
                f" or {self.first_line + after}" if after != at else ""
            )
            raise self.error(
                f"{what}: record {good // size + 1} does not line up with the lines: a value "
                f"missing or too many on {lines}? (a record is "
                f"{' + '.join(map(str, segments))} values, each part starting a new line)",
                at,
            )


def _is_float(token: bytes) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


@dataclass
class _Series:
    """What an FFI reduces to: per point offsets of X1, base instants, and the columns."""

    x1: npt.NDArray[np.float64]  # offsets in the time unit
    base_ns: npt.NDArray[np.int64]  # instant (ns since epoch) that X1 counts from, per point
    lines: npt.NDArray[np.intp]  # file line of each point, for error messages
    columns: list[Column]
    extra_variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]]
    extra_attrs: dict[str, Any]
    blocks: npt.NDArray[np.intp] | None = None  # record block of each point (2110/2160)
    block_labels: list[str] | None = None


def _date_ns(date: dt.date) -> int:
    return int(np.datetime64(date, "ns").astype(np.int64))


def _refusal(h: NasaAmesHeader, unit: str | None) -> str | None:
    """Why a file with this header is no time series, or None when it can be read."""
    x = [repr(n) for n in h.xnames]
    why = "stratoflow reads time series (pass time_unit='s'|'min'|'h'|'d' if it is one)"
    if h.ffi in (3010, 4010):
        return (
            f"each record is a {' x '.join(x[:-1])} grid at one {x[-1]}: gridded fields have "
            "more dimensions than time; stratoflow reads time series"
        )
    if unit is None:
        if h.niv == 1:
            return f"the independent variable {x[0]} is not a time: {why}"
        return (
            f"the bounded independent variable {x[0]} is not a time (each record is a profile "
            f"along it at one {x[1]}): {why}"
        )
    if h.ffi in (2010, 2310):
        return (
            f"time as the bounded variable X1 of FFI {h.ffi} is not implemented (no such files "
            "seen); FFI 2110 holds the same data and is read"
        )
    return None


def read_nasa_ames(raw: bytes, *, path: Path, time_unit: str | None) -> xr.Dataset:
    """Read any FFI (see module docstring) into a standardized Dataset, or refuse clearly."""
    from stratoflow.readers.nasa_ames import locate_header

    skipped, _ = locate_header(raw, path=path)
    h = parse_header(raw, path=path, skipped=skipped)
    unit = time_unit if time_unit is not None else time_unit_of(h.xname)
    reason = _refusal(h, unit)
    if reason is not None:
        raise ReaderError(f"NASA Ames FFI {h.ffi}: {reason}", path=path, line=h.xname_line)
    assert unit is not None  # _refusal returned None
    block = _DataBlock(raw[h.data_offset :], first_line=h.data_line, path=path, encoding=h.encoding)
    one_d = h.ffi in (1001, 1010, 1020)
    series = _series_1d(h, block) if one_d else _series_blocks(h, block, path)
    check_last_line(raw[h.data_offset :], path=path, first_line=h.data_line)
    origin, zero = time_origin(h.xname, h.date, series.x1, path=path, line=h.xname_line)
    shift = int((origin - np.datetime64(h.date, "ns")).astype(np.int64))
    times = _times(series, unit, h, block, shift, zero)
    attrs = {
        "independent_variables": "\n".join(h.xnames),
        **({"nasa_ames_preamble": "\n".join(h.preamble)} if h.preamble else {}),
        **series.extra_attrs,
    }
    return build_dataset(
        h,
        times,
        series.columns,
        path=path,
        extra_variables=series.extra_variables,
        extra_attrs=attrs,
    )


def _series_1d(h: NasaAmesHeader, block: _DataBlock) -> _Series:
    nv, na = len(h.vname), h.nauxv
    what = f"the data records of FFI {h.ffi}"
    if h.ffi == 1001:
        segments = [1 + nv]
    elif h.ffi == 1010:
        segments = [1 + na, nv]
    else:
        segments = [1 + na] + [h.nvpm] * nv
    values, lines, _ = block.records(0, None, segments, what)
    x = values[:, 0]
    aux = values[:, 1 : 1 + na]
    if h.ffi == 1020:
        if h.dx[0] == 0:
            raise ReaderError(
                "FFI 1020 needs the interval DX between the NVPM values of a record; it is 0",
                path=block.path,
                line=8 + len(h.preamble),
            )
        n = h.nvpm
        x = (x[:, None] + np.arange(n) * h.dx[0]).ravel()
        prim = values[:, 1 + na :].reshape(-1, nv, n).transpose(0, 2, 1).reshape(-1, nv)
        aux = np.repeat(aux, n, axis=0)
        lines = np.repeat(lines, n)
    else:
        prim = values[:, 1 + na :]
    columns = [Column(v, prim[:, i].copy(), h.vscal[i], h.vmiss[i]) for i, v in enumerate(h.vname)]
    columns += [
        Column(a, aux[:, i].copy(), h.ascal[i], h.amiss[i], auxiliary=True)
        for i, a in enumerate(h.aname)
    ]
    base = np.full(x.size, _date_ns(h.date), dtype=np.int64)
    return _Series(x, base, lines + block.first_line, columns, {}, {})


def _series_blocks(h: NasaAmesHeader, block: _DataBlock, path: Path) -> _Series:
    """2110/2160: walk the record blocks (one Python iteration per block)."""
    nv, nnum = len(h.vname), h.nauxv - h.nauxc
    x2s: list[str | float] = []
    num_aux: list[npt.NDArray[np.float64]] = []
    text_aux: list[list[str]] = []
    data: list[npt.NDArray[np.float64]] = []
    lines: list[npt.NDArray[np.intp]] = []
    starts: list[int] = []
    line = 0
    while not block.exhausted(line):
        k = len(starts) + 1
        starts.append(block.first_line + line)
        if h.ffi == 2160:
            x2s.append(block.text(line, f"X2 of record block {k}"))
            line += 1
            head, _, line = block.numbers(line, nnum, f"the auxiliary values of record block {k}")
        else:
            head, _, line = block.numbers(
                line, 1 + nnum, f"X2 and the auxiliary values of block {k}"
            )
            x2s.append(float(head[0]))
            head = head[1:]
        num_aux.append(head)
        text_aux.append([block.text(line + i, f"text auxiliary {i + 1}") for i in range(h.nauxc)])
        line += h.nauxc
        nx = head[0]
        if not (np.isfinite(nx) and nx == int(nx) and 1 <= nx <= 100_000_000):
            raise block.error(
                f"record block {k}: the first auxiliary variable {h.aname[0]!r} must be the "
                f"number of X1 values NX (a positive integer), found {float(nx)!r}",
                line - h.nauxc - 1,
            )
        values, rec_lines, line = block.records(
            line, int(nx), [1 + nv], f"the {int(nx)} data records of block {k}"
        )
        data.append(values)
        lines.append(rec_lines + block.first_line)
    if not starts:
        raise block.error("no data records after the header", 0)
    counts = np.array([len(d) for d in data])
    table = np.concatenate(data)
    columns = [
        Column(v, table[:, 1 + i].copy(), h.vscal[i], h.vmiss[i]) for i, v in enumerate(h.vname)
    ]
    aux = np.stack(num_aux)  # (blocks, nnum)
    base = np.full(len(starts), _date_ns(h.date), dtype=np.int64)
    base += _block_starts(h, aux, text_aux, path)
    per_block: list[tuple[str, npt.NDArray[Any]]] = [(h.xnames[1], np.array(x2s))]
    for i in range(nnum):
        values = np.where(aux[:, i] == h.amiss[i], np.nan, aux[:, i] * h.ascal[i])
        per_block.append((h.aname[i], values))
    for i in range(h.nauxc):
        text = np.array([t[i] for t in text_aux])
        per_block.append((h.aname[nnum + i], np.where(text == h.amiss_text[i], "", text)))
    start_units = _start_units(h, path)
    extra_vars, attrs = _block_values(per_block, counts, columns, start_units)
    x2_key = "aux_" + _identifier(_split_vname(h.xnames[1], "")[0]).lower()[:48]
    if re.search(r"station|site", h.xnames[1], re.IGNORECASE) and x2_key in attrs:
        attrs["station"] = str(attrs[x2_key])
    return _Series(
        table[:, 0].copy(),
        np.repeat(base, counts),
        np.concatenate(lines),
        columns,
        extra_vars,
        attrs,
        np.repeat(np.arange(len(starts)), counts),
        [f"{x2!r} at line {s}" for x2, s in zip(x2s, starts, strict=True)],
    )


def _block_values(
    per_block: list[tuple[str, npt.NDArray[Any]]],
    counts: npt.NDArray[np.intp],
    columns: list[Column],
    units: dict[str, str],
) -> tuple[dict[str, tuple[npt.NDArray[Any], dict[str, Any]]], dict[str, Any]]:
    """X2 and auxiliary values, one per block: attributes when constant, else variables.

    A value that is the same in every block describes the whole file (a station, a sonde
    type): it becomes the attribute ``aux_<name>``. A value that changes is a series, repeated
    over its block: numbers are appended to ``columns``, text becomes a string variable.
    """
    variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]] = {}
    attrs: dict[str, Any] = {}
    names: list[str] = []
    taken: set[str] = set()
    for name, values in per_block:
        key = _unique("aux_" + _identifier(_split_vname(name, "")[0]).lower()[:48], taken)
        numeric = values.dtype.kind == "f"
        if (values == values[0]).all() or (numeric and np.isnan(values).all()):
            value = values[0].item()
            if value == "" or (numeric and np.isnan(value)):
                continue  # missing in every block
            attrs[key] = value
            names.append(f"{key}: {name}")
        elif numeric:
            repeated = np.repeat(values, counts)
            columns.append(Column(name, repeated, 1.0, np.nan, True, units.get(name)))
        else:
            text = np.repeat(values, counts).astype(str)
            variables[key[4:]] = (text, {"long_name": name, "units": "1", "nasa_ames_aname": name})
    attrs["nasa_ames_auxiliary"] = "\n".join(names)
    return variables, attrs


def _start_aux(h: NasaAmesHeader) -> int | None:
    """Index of the auxiliary variable that gives each block's start time, if any."""
    return next((i for i, a in enumerate(h.aname) if _REFERENCE.search(a)), None)


def _start_units(h: NasaAmesHeader, path: Path) -> dict[str, str]:
    """UDUNITS of the start-time auxiliary (``hour since 2017-06-09 00:00:00``), when known."""
    found = _start_aux(h)
    unit = None if found is None else time_unit_of(h.aname[found])
    if found is None or unit is None:
        return {}
    name = h.aname[found]
    own = _own_reference(name, f"auxiliary variable {name!r}", path=path, line=h.xname_line)
    since = f"{h.date} 00:00:00" if own is None else own.utc_reference
    return {name: f"{_UNIT_NAMES[unit]} since {since}"}


def _block_starts(
    h: NasaAmesHeader, aux: npt.NDArray[np.float64], text: list[list[str]], path: Path
) -> npt.NDArray[np.int64]:
    """Offset (ns) of each block's start from midnight of DATE, from a start-time auxiliary.

    X1 counts from a block start when an auxiliary variable gives one (``Launch time``) and
    X1 does not say it is already a time of day (``UT seconds from 0 hours``).
    """
    nnum = h.nauxv - h.nauxc
    found = _start_aux(h)
    if found is not None and _ABSOLUTE.search(h.xname) and not _RELATIVE.search(h.xname):
        found = None  # X1 is a time of day (UT seconds from 0 hours): no start to add
    if found is None:
        if _RELATIVE.search(h.xname):
            raise ReaderError(
                f"NASA Ames FFI {h.ffi}: {h.xname!r} counts from the start of each record "
                "block, but no auxiliary variable gives that start (e.g. 'Launch time [UT "
                "hours from 0 hours on day given by DATE]')",
                path=path,
                line=h.xname_line,
            )
        return np.zeros(aux.shape[0], dtype=np.int64)
    name = h.aname[found]
    unit = time_unit_of(name)
    problem = ""
    if re.search(r"\blocal\b", name, re.IGNORECASE):
        problem = "a local time, so UTC cannot be derived"
    elif found >= nnum:
        problem = f"text such as {text[0][found - nnum]!r}, not a number of hours or seconds"
    elif unit is None:
        problem = "not in seconds, minutes, hours or days"
    if problem:
        raise ReaderError(
            f"NASA Ames FFI {h.ffi}: the time {h.xname!r} of each record block counts from "
            f"the auxiliary variable {name!r}, which is {problem}; stratoflow reads UTC time "
            "series",
            path=path,
            line=h.xname_line,
        )
    assert unit is not None
    start = np.where(aux[:, found] == h.amiss[found], np.nan, aux[:, found] * h.ascal[found])
    if not np.isfinite(start).all():
        k = int(np.argmax(~np.isfinite(start)))
        raise ReaderError(
            f"record block {k + 1} has no start time ({name!r} is missing)", path=path
        )
    offsets: npt.NDArray[np.int64] = np.rint(start * _NS[unit]).astype(np.int64)
    # 'Launch time [hours since 2017-06-08 12:00:00 +02:00]' counts from its own reference
    own = _own_reference(name, f"auxiliary variable {name!r}", path=path, line=h.xname_line)
    if own is not None:
        offsets += int((own.epoch - np.datetime64(h.date, "ns")).astype(np.int64))
    return offsets


def _times(
    s: _Series,
    unit: str,
    h: NasaAmesHeader,
    block: _DataBlock,
    shift: int = 0,
    zero: float = 0.0,
) -> npt.NDArray[np.datetime64]:
    """X1 as instants; XNAME's own origin is ``shift`` ns after DATE's midnight, where X1 is
    ``zero`` (see :func:`~stratoflow.readers.nasa_ames.time_origin`)."""
    ns = (s.x1 - zero) * _NS[unit] if zero else s.x1 * _NS[unit]
    bad = ~np.isfinite(ns) | (np.abs(ns) > 4e18)
    if bad.any():
        i = int(np.argmax(bad))
        raise ReaderError(
            f"time value {float(s.x1[i])!r} is not a valid offset",
            path=block.path,
            line=int(s.lines[i]),
        )
    total = snap_times(
        s.base_ns + shift + np.rint(ns).astype(np.int64), written_resolution(s.x1) * _NS[unit]
    )
    steps = np.diff(total)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        at = [str(np.datetime64(int(t), "ns")) for t in total[i - 1 : i + 1]]
        if s.blocks is not None and s.block_labels and s.blocks[i] != s.blocks[i - 1]:
            b = int(s.blocks[i])
            raise ReaderError(
                f"NASA Ames FFI {h.ffi}: record block {b + 1} ({h.xnames[1]!r} = "
                f"{s.block_labels[b]}) starts at {at[1]}, not after the end of block {b} "
                f"({at[0]}): the file holds several overlapping time series; one Dataset "
                "holds one time series",
                path=block.path,
                line=int(s.lines[i]),
            )
        raise ReaderError(
            f"time is not strictly increasing ({at[0]} then {at[1]})",
            path=block.path,
            line=int(s.lines[i]),
        )
    return total.astype("datetime64[ns]")
