"""ICARTT (FFI 1001, versions 1.1 and 2.0): the airborne-campaign profile of NASA Ames 1001.

ICARTT shares the FFI 1001 header structure (parsed by
:func:`stratoflow.readers.nasa_ames.parse_ffi1001_header`) and adds rules: comma-separated
values, time in seconds from 0000 UTC of the data date, ``name, units[, standard name, long
name]`` variable lines, required ``KEYWORD: value`` normal comments, and a last normal-comment
line repeating the column names (checked here, case-insensitively, against the variable lines).

Limits of detection: ICARTT writes ``LLOD_FLAG``/``ULOD_FLAG`` (e.g. -888888/-777777) in place of
a value below/above the detection limit, and gives the limit in ``LLOD_VALUE``/``ULOD_VALUE``
(one number, one per variable, or ``N/A``; the flags likewise, and a flag that is none of these
is an error). Such a point is *not* missing: it carries the
information "below x". stratoflow keeps it as

* the value: the limit itself when the file gives it, else NaN;
* the flag: ``limited`` (2) -- the variable's other points are ``not_validated`` (``missing``
  where there is no value), as a flag variable must give every point a code;
* an ancillary variable ``<var>_lod`` (0 within limits, 1 below LLOD, 2 above ULOD), created only
  for variables where a marker occurs, and named in ``ancillary_variables``;
* the limits themselves as the variable's ``llod_value``/``ulod_value`` attributes (where the
  file gives them), so that :class:`~stratoflow.writers.IcarttWriter` writes them back per
  column, whatever columns it writes.

A flag equal to a variable's own missing value (``LLOD_FLAG: -9999`` beside ``-9999`` in VMISS)
cannot say "below the limit" for that variable: its points stay missing, none is given the limit.

Flags: besides those limits, a variable has flags only from a ``<var>_flag`` column of IAGOS
codes (see :func:`~stratoflow.readers.nasa_ames.flag_columns_to_flags`); ICARTT itself has no
validity flags, and none are made up: "no flags" stays distinguishable from "judged good".

Time: by default the start time (the independent variable). ``time_point="mid"`` or ``"stop"``
uses a ``Mid_UTC``/``Stop_UTC`` variable, or start + half/one interval (DX) when there is none;
the ORNL DAAC netCDF conversions of ICARTT files use mid times.

Flight: the file's flight is named after the header's PLATFORM (its canonical key, however
spelt) and DATE and the start time, launch and volume of the ICARTT file name (see
:func:`flight_of`), so that the files of one flight (merge, instrument and flag files,
revisions, the netCDF conversion) land on one flight; a file written by stratoflow keeps the
flight it names in OTHER_COMMENTS.

Trailing garbage: some real files end with a line of NUL bytes. ``trailing_garbage="warn"``
(default) ignores it with a :class:`~stratoflow.readers.text_table.TrailingGarbageWarning`;
``"error"`` refuses the file. NUL bytes anywhere else are always an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.dataset import make_dataset
from stratoflow.errors import ReaderError
from stratoflow.flags import Flag
from stratoflow.flights import flight_identifier, icartt_name
from stratoflow.readers.base import PathLike, Reader, text_bytes
from stratoflow.readers.nasa_ames import (
    Ffi1001Header,
    flag_columns_to_flags,
    parse_ffi1001_header,
    time_origin,
    time_unit_of,
    to_times,
    to_udunits,
)
from stratoflow.readers.text_table import check_last_line, parse_table, strip_trailing_nul

__all__ = ["IcarttReader", "flight_of", "header_flight", "keyword_value"]

_KEYWORD = re.compile(r"^([A-Z][A-Z0-9_]*|R\d+[A-Za-z0-9_.]*)\s*:\s?(.*)$")
_TIME_NAMES = re.compile(r"^(start|stop|mid)?_?utc$|^(time|utc)_(start|stop|mid)$", re.IGNORECASE)
_DAY_FRACTION = {"min": 1 / 1440, "h": 1 / 24, "d": 1.0}
_SECONDS = {"s", "sec", "secs", "second", "seconds", "seconds since midnight"}
#: What stratoflow's ICARTT writer puts in DATA_INFO: its ``<var>_flag`` columns are IAGOS codes.
IAGOS_FLAGS_NOTE = (
    "flags are IAGOS validity codes (0 good, 2 limited, 3 bad, 4 not validated, 7 missing)"
)
LOD_MEANINGS = (
    "within_detection_limits below_lower_limit_of_detection above_upper_limit_of_detection"
)


def _keywords(ncom: tuple[str, ...]) -> dict[str, str]:
    """``KEYWORD: value`` normal comments; indented lines continue the previous keyword.

    Keywords are the capitals the standard writes (and revision keys ``R0``...), kept as
    spelt: code that looks one up in a Dataset's attributes uses :func:`keyword_value`."""
    out: dict[str, str] = {}
    last = None
    for line in ncom[:-1]:
        match = _KEYWORD.match(line)
        if match and not line[:1].isspace():
            last = match.group(1)
            value = match.group(2).strip()
            # a keyword given twice (two OTHER_COMMENTS lines) keeps both, in order
            out[last] = f"{out[last]}\n{value}".strip() if last in out else value
        elif last is not None:
            out[last] = (out[last] + "\n" + line.strip()).strip()
    return out


def keyword_value(found: Mapping[Any, Any], name: str, prefix: str = "") -> Any:
    """The value of ICARTT keyword ``name`` (key ``prefix + name``) in ``found``, however spelt.

    The reader keeps a keyword as the file spells it (``icartt_PI_CONTACT_INFO``: the ICARTT
    standard writes capitals), but a Dataset from an older stratoflow netCDF export carries
    it lower-cased (``icartt_pi_contact_info``): both are one keyword. The exact spelling wins
    over any other; None when there is none.
    """
    wanted = f"{prefix}{name}"
    if wanted in found:
        return found[wanted]
    folded = wanted.casefold()
    return next((v for k, v in found.items() if str(k).casefold() == folded), None)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _markers(text: str | None, nv: int, key: str, path: object) -> list[float | None]:
    """LLOD_FLAG/ULOD_FLAG: ``N/A``, one number, or one entry per variable.

    A marker that is not a number was taken for "no marker", and the markers in the data
    (``-8888``) were read as values: refused, naming the keyword.
    """
    if text is None or text.strip().upper() in ("", "N/A", "NA"):
        return [None] * nv
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts = parts * nv
    if len(parts) != nv:
        raise ReaderError(f"{key} lists {len(parts)} markers for {nv} variables", path=path)
    found: list[float | None] = []
    for part in parts:
        value = _number(part)
        if value is None and part.upper() not in ("", "N/A", "NA"):
            raise ReaderError(
                f"{key}: {text.strip()!r} is not a number (the value that marks a point beyond "
                "the detection limit in the data), nor N/A",
                path=path,
            )
        found.append(value)
    return found


def _limits(text: str | None, nv: int, path: object) -> list[float]:
    """LLOD_VALUE/ULOD_VALUE: ``N/A``, one number, or one entry per variable."""
    if text is None or text.strip().upper() in ("", "N/A", "NA"):
        return [np.nan] * nv
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts = parts * nv
    if len(parts) != nv:
        raise ReaderError(f"LOD value list has {len(parts)} entries for {nv} variables", path=path)
    return [v if (v := _number(p)) is not None else np.nan for p in parts]


_ANCILLARY_PART = re.compile(r"(?:^|;\s*)ancillary variables:\s*([^;]*)")
_ANCILLARY_ENTRY = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\s*\(([A-Za-z0-9_ ]*)\)")


def _restore_ancillary_links(
    other_comments: str,
    variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]],
    flags: dict[str, npt.NDArray[np.uint8]],
) -> None:
    """Ancillary links kept by stratoflow's writer in OTHER_COMMENTS, back on the variables.

    ``ancillary variables: O3 (O3_flag O3_error), CO (CO_flag)``: ``O3_error`` is then an
    ancillary variable of ``O3``, not data, and gets no validity flags of its own unless the
    file has a ``O3_error_flag`` column.
    """
    found = _ANCILLARY_PART.search(other_comments)
    if found is None:
        return
    for owner, listed in _ANCILLARY_ENTRY.findall(found.group(1)):
        if owner not in variables:
            continue
        names = [n for n in listed.split() if n in variables and n != owner]
        if not names:
            continue
        variables[owner][1]["ancillary_variables"] = " ".join(names)
        for name in names:
            if f"{name}_flag" not in variables:
                flags.pop(name, None)


def flight_of(name: str, platform: str, date: str) -> str | None:
    """The flight an ICARTT file belongs to: ``<platform key>_<YYYYMMDD[hh[mm[ss]]]>[_L#][_V#]``.

    One flight's data come in several ICARTT files: the merge, each instrument's file, a flag
    file, each revision. Their names share the date (and the optional start time), launch and
    volume, but not the data ID and location (``ACTAMERICA-mrg05-b200_merge_20170308_R0_L2``
    and ``ACTAMERICA-flag-metadata_B200_20170308_R0_L2``), and the header's PLATFORM is the
    same. Named after the whole file name, they landed on two flights, and every revision
    (``_R1``) on a flight of its own instead of a new version of the first one's series.

    The platform is the header's PLATFORM, as its canonical key
    (:func:`stratoflow.flights.platform_key`: ``NASA B200 Aircraft`` and ``NASA B-200
    Aircraft`` are one platform, and the netCDF conversion of the file lands on the same
    flight, see :func:`stratoflow.flights.converted_flight`); ``date`` is the header's DATE
    (``YYYYMMDD``); the time, launch (``L#``: another take-off that day) and volume come from
    the file name, which must follow the ICARTT naming rule and name the header's date.
    Otherwise (or without a PLATFORM) None: the file is not guessed onto another file's
    flight. The volume stays in the identifier, because each volume holds other times of the
    same variables, and one file's series on a flight replace another's of the same name (a
    new version).

    >>> flight_of("ACTAMERICA-flag-metadata_B200_20170308_R0_L2.ict", "NASA B200 Aircraft",
    ...           "20170308")
    'nasa-b-200-aircraft_20170308_L2'
    """
    parts = icartt_name(name)
    if parts is None or parts.suffix != "ict" or parts.date != date:
        return None
    return flight_identifier(
        platform, date, time=parts.time, launch=parts.launch, volume=parts.volume
    )


#: The flight stratoflow's ICARTT writer names in OTHER_COMMENTS (``flight X; ...``).
_WRITTEN_FLIGHT = re.compile(r"\s*flight\s+([^;\s]+)\s*(?:;|$)")


def header_flight(name: str, platform: str, date: str, other_comments: str) -> str | None:
    """The flight of an ICARTT file as the reader names it: the one stratoflow's writer kept
    in OTHER_COMMENTS, else :func:`flight_of`.

    Also what the catalog's data migration recomputes from a file's stored attributes, so
    that flights imported before a change of :func:`flight_of` are found under the new name.
    """
    found = _WRITTEN_FLIGHT.match(other_comments)
    return found[1] if found else flight_of(name, platform, date)


#: Attributes that describe the file read, not its data: never taken from its comments.
_FILE_MADE = frozenset(
    {"source_file", "source_checksum", "reader", "file_format", "header_encoding"}
)


class IcarttReader(Reader):
    """ICARTT FFI 1001 (v1.1 and v2.0) -> standardized Dataset.

    Options:
        time_point: ``"start"`` (default), ``"mid"`` or ``"stop"`` of each record's interval.
        trailing_garbage: ``"warn"`` (default) or ``"error"`` for NUL bytes after the data.
    """

    name: ClassVar[str] = "icartt"
    description: ClassVar[str] = "ICARTT 1.1/2.0 FFI 1001 airborne data files (.ict)"
    suffixes: ClassVar[tuple[str, ...]] = (".ict",)
    priority: ClassVar[int] = 10
    _FIRST_LINE: ClassVar[re.Pattern[bytes]] = re.compile(rb"\A\s*\d+\s*,\s*1001\s*(,|\r?\n)")

    def __init__(self, *, time_point: str = "start", trailing_garbage: str = "warn") -> None:
        if time_point not in ("start", "mid", "stop"):
            raise ReaderError(f"time_point must be start, mid or stop, got {time_point!r}")
        if trailing_garbage not in ("warn", "error"):
            raise ReaderError(f"trailing_garbage must be warn or error, got {trailing_garbage!r}")
        self.time_point = time_point
        self.trailing_garbage = trailing_garbage

    @classmethod
    def guess_can_open(cls, path: PathLike) -> bool:
        """True when the first line reads ``NLHEAD, 1001``, else decided by the suffix."""
        try:
            with open(path, "rb") as fh:
                head = text_bytes(fh.read(64))
        except OSError:
            head = b""
        return bool(cls._FIRST_LINE.match(head)) or cls._accepts_name(Path(path))

    def _read(self, path: Path) -> xr.Dataset:
        raw = text_bytes(path.read_bytes())
        h = parse_ffi1001_header(raw, path=path, icartt=True)
        if not h.ncom:
            raise ReaderError("ICARTT needs normal comments ending with the column names",
                              path=path, line=h.data_line - 1)  # fmt: skip
        xfields = [f.strip() for f in h.xname.split(",")]
        vfields = [[f.strip() for f in v.split(",", 3)] for v in h.vname]
        self._check_columns(h, [xfields[0]] + [f[0] for f in vfields], path)
        block = strip_trailing_nul(
            raw[h.data_offset :], path=path, first_line=h.data_line, policy=self.trailing_garbage
        )
        table = parse_table(
            block, ncols=h.nv + 1, first_line=h.data_line, path=path, delimiter=b","
        )
        check_last_line(block, path=path, first_line=h.data_line, delimiter=b",")
        kw = _keywords(h.ncom)
        llod_flags = _markers(kw.get("LLOD_FLAG"), h.nv, "LLOD_FLAG", path)
        ulod_flags = _markers(kw.get("ULOD_FLAG"), h.nv, "ULOD_FLAG", path)
        llod = _limits(kw.get("LLOD_VALUE"), h.nv, path)
        ulod = _limits(kw.get("ULOD_VALUE"), h.nv, path)
        since = f"seconds since {h.date} 00:00:00"
        variables: dict[str, tuple[npt.NDArray[Any], dict[str, Any]]] = {}
        flags: dict[str, npt.NDArray[np.uint8]] = {}
        for i, fields in enumerate(vfields):
            name = fields[0]
            if not name or name in variables or name == xfields[0]:
                raise ReaderError(f"empty or duplicate variable name {name!r}", path=path,
                                  line=13 + i)  # fmt: skip
            raw_v = table[:, i + 1]
            missing = (raw_v == h.vmiss[i]) | np.isnan(raw_v)
            # a LOD flag equal to the variable's own missing value (-9999) means missing: a
            # value made up from the limit where the file has none would be wrong
            llod_flag, ulod_flag = llod_flags[i], ulod_flags[i]
            none = np.zeros_like(missing)
            below = (raw_v == llod_flag) & ~missing if llod_flag is not None else none
            above = (raw_v == ulod_flag) & ~missing if ulod_flag is not None else none
            values = raw_v * h.vscal[i]
            values[missing] = np.nan
            values[below] = llod[i]
            values[above] = ulod[i]
            unit_text = fields[1] if len(fields) > 1 else ""
            attrs: dict[str, Any] = {
                "long_name": fields[3] if len(fields) > 3 and fields[3] else name,
                # a Start_UTC/Stop_UTC-style column is a time offset only if it is in seconds
                # (a variable merely *named* like one, e.g. "StopUTC" in ppb, stays data)
                "units": since
                if _TIME_NAMES.match(name) and unit_text.strip().lower() in _SECONDS
                else to_udunits(unit_text),
                "units_original": unit_text,
                "missing_value_original": h.vmiss[i],
                "scale_factor_original": h.vscal[i],
            }
            if len(fields) > 2 and fields[2]:
                attrs["icartt_standard_name"] = fields[2]
            # this variable's own limits, so a writer can give them back in its own column order
            if np.isfinite(llod[i]):
                attrs["llod_value"] = llod[i]
            if np.isfinite(ulod[i]):
                attrs["ulod_value"] = ulod[i]
            variables[name] = (values, attrs)
            if below.any() or above.any():
                # the file says these points are beyond a detection limit: the only flags an
                # ICARTT column has (a variable without markers gets none, see the docstring)
                flag = np.where(missing, int(Flag.MISSING), int(Flag.NOT_VALIDATED))
                flag[below | above] = int(Flag.LIMITED)
                flags[name] = flag.astype(np.uint8)
                lod = (below * 1 + above * 2).astype(np.uint8)
                lod_attrs = {
                    "long_name": f"detection limit marker of {name}",
                    "units": "1",
                    "flag_values": np.array([0, 1, 2], dtype=np.uint8),
                    "flag_meanings": LOD_MEANINGS,
                }
                variables[f"{name}_lod"] = (lod, lod_attrs)
        _restore_ancillary_links(kw.get("OTHER_COMMENTS", ""), variables, flags)
        declared = IAGOS_FLAGS_NOTE in kw.get("DATA_INFO", "")  # stratoflow's writer says so
        flag_columns_to_flags(variables, flags, declared=declared)
        x = self._time_column(h, table, vfields, path)
        unit, origin = self._time_unit(xfields, h, x, path)
        if origin == (np.datetime64(h.date, "ns"), 0.0) and (table[:, 0] < 0).any():
            # counted from 0 UTC of DATE, the data date: a negative start is a missing-value
            # marker (-9999) or garbage; read, it became a time on the day before
            i = int(np.argmax(table[:, 0] < 0))
            raise ReaderError(
                f"the independent variable {xfields[0]!r} is {table[i, 0]:g}: ICARTT times count "
                f"from 0 UTC of the data date {h.date} and cannot be negative (a missing-value "
                "marker? the independent variable of an ICARTT file has no missing value)",
                path=path,
                line=h.data_line + i,
            )
        times = to_times(x, h.date, unit, path=path, first_line=h.data_line, origin=origin)
        ds = make_dataset(times, variables, flags=flags, attrs=self._attrs(h, kw, path))
        ds.attrs["icartt_independent_variable"] = xfields[0]
        ds["time"].attrs["time_point"] = self.time_point
        for name in [n for n in variables if n.endswith("_lod") and n[:-4] in variables]:
            ds[name[:-4]].attrs["ancillary_variables"] += f" {name}"
        return ds

    @staticmethod
    def _check_columns(h: Ffi1001Header, names: list[str], path: Path) -> None:
        header = [c.strip() for c in h.ncom[-1].split(",")]
        line = h.data_line - 1
        if len(header) != len(names):
            raise ReaderError(
                f"the column-name line has {len(header)} names, expected {len(names)} "
                f"(independent variable + NV={h.nv}); wrong NLHEAD or NNCOML?",
                path=path,
                line=line,
            )
        for got, want in zip(header, names, strict=True):
            if got.lower() != want.lower():
                raise ReaderError(
                    f"column name {got!r} does not match variable {want!r} of the header",
                    path=path,
                    line=line,
                )

    @staticmethod
    def _time_unit(
        xfields: list[str], h: Ffi1001Header, x: npt.NDArray[np.float64], path: Path
    ) -> tuple[str, tuple[np.datetime64, float]]:
        """Unit and origin of the independent variable, from its units field.

        ICARTT says seconds from 0 UTC of the data date; files that write hours, minutes or
        days (or ``seconds since <instant>``) say so there and are read as they say. Anything
        else (``Altitude, m``) is no time: refused, not read as seconds.
        """
        unit_text = xfields[1] if len(xfields) > 1 and xfields[1] else "seconds"
        unit = "s" if unit_text.lower() in _SECONDS else time_unit_of(unit_text)
        if unit is None:
            raise ReaderError(
                f"the independent variable {xfields[0]!r} is in {unit_text!r}, not a time: "
                "ICARTT FFI 1001 counts seconds from 0 UTC of the data date",
                path=path,
                line=9,
            )
        origin = time_origin(f"{xfields[0]} {unit_text}", h.date, x, path=path)
        finite = x[np.isfinite(x)]
        if unit != "s" and finite.size and origin == (np.datetime64(h.date, "ns"), 0.0):
            # DATE is the UTC date the data begin: a first value a day or more after it
            # (121.5 'days') is ambiguous (day of year? days from DATE?): not guessed
            first = float(finite[0])
            if not 0 <= first * _DAY_FRACTION[unit] < 1:
                raise ReaderError(
                    f"the independent variable {xfields[0]!r} ({unit_text}) starts at {first:g}, "
                    f"not within the data date {h.date}: is it a day of the year? Name it "
                    "'day of year' or give 'seconds since <date>'",
                    path=path,
                    line=9,
                )
        return unit, origin

    def _time_column(
        self,
        h: Ffi1001Header,
        table: npt.NDArray[np.float64],
        vfields: list[list[str]],
        path: Path,
    ) -> npt.NDArray[np.float64]:
        start = table[:, 0]
        if self.time_point == "start":
            return start
        lower = [f[0].lower() for f in vfields]

        def column(point: str) -> int | None:
            """The column of Mid_UTC, Time_Mid or UTC_Mid (or Stop_...), if there is one."""
            for wanted in (f"{point}_utc", f"time_{point}", f"utc_{point}"):
                if wanted in lower:
                    return lower.index(wanted) + 1
            return None

        own = column(self.time_point)
        if own is not None:
            return table[:, own]
        stop = column("stop")
        if self.time_point == "mid" and stop is not None:
            return (start + table[:, stop]) / 2
        if h.dx > 0:
            return start + (h.dx / 2 if self.time_point == "mid" else h.dx)
        raise ReaderError(
            f"time_point={self.time_point!r}: no {self.time_point.title()}_UTC variable and no "
            "data interval (DX=0) to compute it from",
            path=path,
        )

    @staticmethod
    def _attrs(h: Ffi1001Header, kw: dict[str, str], path: Path) -> dict[str, Any]:
        # as the file spells them (icartt_PI_CONTACT_INFO), not lower-cased
        attrs: dict[str, Any] = {f"icartt_{k}": v for k, v in kw.items()}
        pi_contact = kw.get("PI_CONTACT_INFO", "")
        attrs.update(
            {
                "pi": h.oname,
                "pi_contact": pi_contact,
                "organisation": h.org,
                "source": h.sname,
                "mission": h.mname,
                "platform": kw.get("PLATFORM", ""),
                "revision": kw.get("REVISION", ""),
                "file_volume": f"{h.ivol}/{h.nvol}",
                "data_date": h.date.isoformat(),
                "revision_date": h.rdate.isoformat(),
                "data_interval": h.dx,
                "special_comments": "\n".join(h.scom),
                "normal_comments": "\n".join(h.ncom),
                "file_format": f"ICARTT FFI {h.ffi}" + (f" {h.version}" if h.version else ""),
                "header_encoding": h.encoding,
                "source_file": path.name,
            }
        )
        # stratoflow's ICARTT writer keeps the flight id in OTHER_COMMENTS ("flight X; ...")
        flight = header_flight(
            path.name, attrs["platform"], h.date.strftime("%Y%m%d"), kw.get("OTHER_COMMENTS", "")
        )
        if flight:
            attrs["flight"] = flight
        # Attributes ICARTT has no line or keyword for, kept by stratoflow's ICARTT writer in
        # the normal comments (title, history, an export's version...): back as attributes.
        # What the header says wins (a PI line edited since is the file's word; the flight
        # above), and what describes this file (its name, format, encoding) is the reader's.
        from stratoflow.writers.icartt import global_attributes  # writers import readers

        for key, value in global_attributes(h.ncom).items():
            if key not in _FILE_MADE:
                attrs.setdefault(key, value)
        return attrs
