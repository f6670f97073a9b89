"""ICARTT 2.0 (FFI 1001, ``V02_2016``) writer, read back identically by icartt and our reader.

The same data-block rules as :mod:`stratoflow.writers.nasa_ames` (shortest round-trip values,
one missing value, scale factors 1, ``<var>_flag`` columns for flags), with ICARTT's own:
comma-separated values, ``Start_UTC`` in seconds from 0000 UTC of the date on line 7,
``name, units, standard name, long name`` variable lines, and all required normal-comment
keywords. Missing is ``-9...9``; the LLOD/ULOD markers ``-8...8``/``-7...7`` have as many digits,
so none of them can collide with a value.

Detection limits: a ``<var>_lod`` marker variable (as :class:`~stratoflow.readers.IcarttReader`
makes it) is written the ICARTT way, as LLOD/ULOD markers in ``<var>``'s column, and
``LLOD_VALUE``/``ULOD_VALUE`` are built from each written column's ``llod_value``/``ulod_value``
attribute: ``N/A`` when no column has one, else one entry per column (``N/A`` for columns
without). The source file's own lists are never copied: they count the source's columns, not
the ones written here, and the reader would refuse the mismatch.

Global attributes ICARTT has no line or keyword for (a netCDF file's ``title``, ``history``,
an export's ``export_fingerprint``) are kept as ``attribute <name>: <value>`` lines in the
free-form normal comments before the required keywords (:func:`global_attributes` reads them
back from the reader's ``normal_comments``).

Example::

    >>> IcarttWriter(platform="NASA B200").write(ds, "flight.ict")   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import xarray as xr

from stratoflow.csv_metadata import decode, encode, encode_key
from stratoflow.errors import ConfigError, WriterError
from stratoflow.readers.icartt import IAGOS_FLAGS_NOTE, LOD_MEANINGS, keyword_value
from stratoflow.writers.base import Writer, ascii_text, plain_name
from stratoflow.writers.names import renamed_variables
from stratoflow.writers.nasa_ames import (
    Columns,
    TextPolicy,
    ancillary_links,
    check_text_policy,
    columns_of,
    number,
    write_block,
)

__all__ = [
    "ANCILLARY_PREFIX",
    "ATTRIBUTE_PREFIX",
    "IcarttWriter",
    "export_revision",
    "global_attributes",
    "icartt_revision",
]

_CONTROL = str.maketrans({c: " " for c in map(chr, [*range(32), 127])})


#: Attributes that name the flight, in order of preference (readers and importer use them).
_FLIGHT_KEYS = ("flight_id", "flight", "flight_number")


def _text(value: object, default: str = "N/A", *, comma: bool = True) -> str:
    text = ascii_text(str(value)).translate(_CONTROL).strip()
    if not comma:
        text = text.replace(",", ";")
    return text or default


def _plain_names(ds: xr.Dataset, path: Path) -> tuple[xr.Dataset, dict[str, str]]:
    """``ds`` with ICARTT short names (ASCII letters, digits and underscores), and the name
    each variable got.

    ICARTT is ASCII throughout; a source's own spelling ('Özone (UV)') stays in the long
    name. Names that become one (``Ozone`` and ``Özone`` of one flight), or differ by case
    alone, are told apart (:func:`~stratoflow.writers.names.unique_names`: ``Ozone_2``),
    the long name saying which source name it was; a flag follows its variable's new name.
    """
    try:
        return renamed_variables(
            ds,
            plain_name,
            avoid=("Start_UTC",),
            fold=True,
            shown=lambda key: key if key.isascii() else json.dumps(key),
            max_length=31,  # ICARTT 2.0 (2.1.1): short names of at most 31 characters
        )
    except ConfigError as exc:  # pragma: no cover - no chosen names here
        raise WriterError(f"{path}: {exc}") from None


#: OTHER_COMMENTS part naming each variable's ancillary variables (read back by IcarttReader):
#: ``ancillary variables: O3 (O3_flag O3_error), CO (CO_flag)``
ANCILLARY_PREFIX = "ancillary variables: "
#: OTHER_COMMENTS part naming text variables left out (``text_variables="drop"``).
TEXT_LEFT_OUT = "text variables left out: "


def _ancillary_comment(cols: Columns) -> list[str]:
    """The OTHER_COMMENTS part that ties errors, process flags... to their variable.

    ICARTT has no per-variable attribute for it, and OTHER_COMMENTS is the free-text keyword
    both the spec and the icartt library accept; ICARTT names are plain, so the list parses
    back unambiguously.
    """
    entries = [
        f"{name} ({links})"
        for name, links in zip(cols.names, ancillary_links(cols), strict=True)
        if links
    ]
    return [ANCILLARY_PREFIX + ", ".join(entries)] if entries else []


_LOD_SUFFIX = "_lod"


def _lod_markers(ds: xr.Dataset) -> tuple[xr.Dataset, dict[str, npt.NDArray[np.int64]]]:
    """``ds`` without its detection-limit marker variables, and those markers per variable.

    A marker variable is ``<var>_lod`` with the reader's ``flag_meanings`` and codes 0/1/2;
    anything else of that name is ordinary data and written as such.
    """
    markers: dict[str, npt.NDArray[np.int64]] = {}
    for key in map(str, ds.data_vars):
        owner = key.removesuffix(_LOD_SUFFIX)
        var = ds[key]
        if owner == key or owner not in ds.data_vars or var.dtype.kind not in "iu":
            continue
        if str(var.attrs.get("flag_meanings", "")) != LOD_MEANINGS:
            continue
        codes = np.asarray(var.values).astype(np.int64)
        if np.isin(codes, (0, 1, 2)).all():
            markers[owner] = codes
    if not markers:
        return ds, markers
    out = ds.drop_vars([f"{owner}{_LOD_SUFFIX}" for owner in markers])
    for owner in markers:  # the markers go into the column itself: no separate variable
        listed = str(out[owner].attrs.get("ancillary_variables", "")).split()
        kept = [n for n in listed if n != f"{owner}{_LOD_SUFFIX}"]
        out[owner].attrs["ancillary_variables"] = " ".join(kept)
        if not kept:
            del out[owner].attrs["ancillary_variables"]
    return out, markers


def _with_markers(
    cols: Columns, markers: Mapping[str, npt.NDArray[np.int64]], llod: float, ulod: float
) -> Columns:
    """``cols`` with the LLOD/ULOD flag values written where a marker says so."""
    if not markers:
        return cols
    values: list[npt.NDArray[Any]] = []
    for name, data in zip(cols.names, cols.values, strict=True):
        codes = markers.get(name)
        if codes is not None:
            data = np.where(codes == 1, llod, np.where(codes == 2, ulod, data))
        values.append(data)
    return dataclasses.replace(cols, values=values)


def _limit_values(cols: Columns, key: str) -> str:
    """LLOD_VALUE/ULOD_VALUE: ``N/A``, or one entry per written column (ICARTT 2.0)."""
    limits = [cols_attr.get(key) for cols_attr in cols.attrs]
    entries = [
        number(float(v)) if v is not None and np.isfinite(float(v)) else "N/A" for v in limits
    ]
    return "N/A" if all(e == "N/A" for e in entries) else ", ".join(entries)


#: Free-form normal comment of a global attribute ICARTT has no keyword for:
#: ``attribute <name>: <value>`` (see :func:`_attribute_lines`).
ATTRIBUTE_PREFIX = "attribute "
#: Attributes a reader makes of the file it reads (its format, dates, comments as read,
#: checksum): made anew from the ICARTT file, never carried over from the source.
_FILE_ATTRS = frozenset(
    {
        "normal_comments", "file_format", "file_convention", "file_volume", "data_date",
        "revision_date", "data_interval", "header_encoding", "source_file", "reader",
        "source_checksum", "independent_variable",
        # ICARTT's own REVISION (R0, R1...), written as such; a source's is no attribute
        "revision",
    }
)  # fmt: skip


def _attribute_value(value: object) -> str | None:
    """One ASCII line that :func:`stratoflow.csv_metadata.decode` turns back into exactly
    ``value``; None for a value no netCDF attribute has (a dict, None)."""
    if not isinstance(value, str | bool | int | float | np.generic | np.ndarray | list | tuple):
        return None
    text = encode(value)
    if not text.isascii():  # ICARTT files are ASCII: JSON's \uXXXX escapes
        text = json.dumps(value if text == value else json.loads(text), ensure_ascii=True)
    return text


def _attribute_key(key: str) -> str | None:
    """``key`` as :func:`_attribute_lines` writes it: as it is, or JSON where it has ``:``,
    odd or non-ASCII characters; None for a key that is no text."""
    if not isinstance(key, str) or not key:
        return None
    text = encode_key(key)
    return text if text.isascii() else json.dumps(key).replace(":", "\\u003a")


def _attribute_lines(attrs: Mapping[Any, Any], header: Mapping[str, str | None]) -> list[str]:
    """The free-form normal comments that keep ``attrs`` ICARTT has no place for.

    ICARTT's header has a line or keyword for a few attributes (``header``: the text it
    says for each, None where a writer option replaced the attribute); every other global
    attribute (a netCDF file's ``title``, ``history``, ``flight_id``, an export's
    ``export_fingerprint``) was left out, so a netCDF -> ICARTT -> netCDF conversion lost
    the file's provenance. Each is written as ``attribute <name>: <value>`` in the free-form
    text ICARTT 2.0 allows before the required keywords: the prefix keeps a name from
    reading as a keyword (``DOI``) or, to the icartt library, a revision (``References``);
    a value that would not read back as it is (several lines, padding, a number, a list,
    text beyond ASCII) is JSON, with ``\\n`` and ``\\uXXXX`` escapes. An attribute the
    header says differently (``pi`` cleaned to ASCII) is kept too, unless an option
    replaced it. :func:`global_attributes` reads them back.
    """
    lines: list[str] = []
    for key, value in attrs.items():
        if not isinstance(key, str) or key in _FILE_ATTRS or key.startswith("icartt_"):
            continue
        if key in header and (header[key] is None or value == header[key]):
            continue
        name, text = _attribute_key(key), _attribute_value(value)
        if name is not None and text is not None:
            lines.append(f"{ATTRIBUTE_PREFIX}{name}: {text}")
    return lines


#: Attributes :class:`~stratoflow.readers.IcarttReader` makes of an ICARTT file's header
#: (ASCII only, one line): the kept attribute, where the file has one, is the original.
_FROM_HEADER = ("pi", "organisation", "source", "mission", "platform", "pi_contact", "flight")


def _carried(attrs: Mapping[Any, Any]) -> dict[Any, Any]:
    """The global attributes to keep: ``attrs``, and for a Dataset read from an ICARTT file
    the ones that file kept (:func:`global_attributes`), which an attribute of the same name
    overrides unless the reader made it of the header (``pi`` cleaned to ASCII)."""
    if not str(attrs.get("file_format", "")).startswith("ICARTT"):
        return dict(attrs)
    kept = global_attributes(str(attrs.get("normal_comments", "")))
    return {
        **attrs,
        **{k: v for k, v in kept.items() if k not in attrs or k in _FROM_HEADER},
    }


def global_attributes(normal_comments: Sequence[str] | str) -> dict[str, Any]:
    """The global attributes :class:`IcarttWriter` kept in the free-form normal comments
    (``attribute <name>: <value>``, before the first ``KEYWORD:`` line), decoded.

    ``normal_comments`` as :class:`~stratoflow.readers.IcarttReader` gives them (its
    ``normal_comments`` attribute), or their lines. Lines of any other form are another
    provider's free text and left alone.
    """
    lines = normal_comments.split("\n") if isinstance(normal_comments, str) else normal_comments
    out: dict[str, Any] = {}
    for line in lines:
        if re.match(r"[A-Z][A-Z0-9_]*\s*:", line):  # the required keywords begin
            break
        if not line.startswith(ATTRIBUTE_PREFIX):
            continue
        rest = line[len(ATTRIBUTE_PREFIX) :]
        try:
            if rest.startswith('"'):
                key, end = json.JSONDecoder().raw_decode(rest)
            else:
                key, end = rest[: rest.index(":")], rest.index(":")
            if not isinstance(key, str) or rest[end : end + 2] != ": ":
                continue
            out[key] = decode(rest[end + 2 :])
        except ValueError:  # not one of ours
            continue
    return out


def export_revision(version: object) -> str | None:
    """The ICARTT revision of export version ``version`` (1 -> ``R0``), None when there is
    none. ICARTT numbers revisions from R0, the first release; exports count from v1."""
    if version is None or isinstance(version, bool):
        return None
    try:
        number = int(str(version))
    except ValueError:
        return None
    return f"R{number - 1}" if number >= 1 else None


def icartt_revision(option: str | None, attrs: Mapping[Any, Any]) -> str:
    """The ICARTT revision (R0, R1, RA...) a file of a Dataset with ``attrs`` is written as.

    The writer option ``revision``; else an export's own version (v1 is R0, v2 R1: a revised
    delivery must say it is one, and the exporter's file name says so too); else the
    source's, not any product "revision"; else R0.
    """
    found = str(attrs.get("revision") or "").strip()
    given = (
        option
        or export_revision(attrs.get("export_version"))
        or (found if re.fullmatch(r"R[A-Z0-9]{1,3}", found) else "R0")
    )
    return _text(given, "R0").split(",")[0].replace(":", " ").strip() or "R0"


class IcarttWriter(Writer):
    """Standardized Dataset -> ICARTT 2.0 FFI 1001.

    Options override the header values that otherwise come from the Dataset attributes
    (``pi``, ``organisation``, ``source``, ``mission``, ``platform``, ``revision``).
    ``text_variables``: ``"error"`` (default) refuses a Dataset with text variables, naming
    them; ``"drop"`` leaves them out and names them in OTHER_COMMENTS.
    """

    name: ClassVar[str] = "icartt"
    description: ClassVar[str] = "ICARTT 2.0 FFI 1001 airborne data file (.ict)"
    suffix: ClassVar[str] = ".ict"

    def __init__(
        self,
        *,
        pi: str | None = None,
        organisation: str | None = None,
        source: str | None = None,
        mission: str | None = None,
        platform: str | None = None,
        revision: str | None = None,
        text_variables: TextPolicy = "error",
    ) -> None:
        check_text_policy(self.name, text_variables)
        self.text_variables: TextPolicy = text_variables
        self.pi = pi
        self.organisation = organisation
        self.source = source
        self.mission = mission
        self.platform = platform
        self.revision = revision

    def _write(self, ds: xr.Dataset, path: Path) -> None:
        without, markers = _lod_markers(ds)
        plain, renames = _plain_names(without, path)
        cols = columns_of(plain, path=path, text_variables=self.text_variables, fmt="ICARTT")
        if "Start_UTC" in cols.names:
            raise WriterError(
                f"{path}: variable 'Start_UTC' would repeat the name of ICARTT's time column; "
                "rename it before writing"
            )
        nv = len(cols.names)
        missing, llod, ulod = (-float(d * cols.digits) for d in "987")
        cols = _with_markers(cols, {renames[k]: v for k, v in markers.items()}, llod, ulod)
        rdate = max(dt.datetime.now(dt.UTC).date(), cols.date)

        def attr(key: str, option: str | None) -> str:
            return _text(option if option is not None else ds.attrs.get(key, "N/A"))

        def keyword(name: str, *fallbacks: str) -> str:
            """An ICARTT keyword's value: the source file's own (read back as
            ``icartt_<NAME>``, or ``icartt_<name>`` from an older stratoflow netCDF export),
            else the first of ``fallbacks`` present in the attributes."""
            own = keyword_value(ds.attrs, name, "icartt_")
            for value in (own, *(ds.attrs.get(key) for key in fallbacks)):
                if value is not None and str(value).strip():
                    return _text(value)
            return "N/A"

        # the standard name a source ICARTT file gave (read back as icartt_standard_name) is
        # kept; without one the short name stands in, as the ICARTT 2.0 examples do
        vnames = [
            f"{name}, {_text(a.get('units', '1'), '1', comma=False)}, "
            f"{_text(a.get('icartt_standard_name', name), name, comma=False)}, "
            f"{_text(a.get('long_name', name), name, comma=False)}"
            for name, a in zip(cols.names, cols.attrs, strict=True)
        ]
        scom = [_text(s, "") for s in str(ds.attrs.get("special_comments", "")).split("\n")]
        scom = [s for s in scom if s]
        revision = icartt_revision(self.revision, ds.attrs)
        exported = export_revision(ds.attrs.get("export_version"))
        revision_comment = keyword(revision, "revision_comment")
        if exported is not None and not self.revision and revision_comment == "N/A":
            revision_comment = _text(
                f"stratoflow export v{ds.attrs['export_version']}"
                + (f" ({ds.attrs['series_versions']})" if ds.attrs.get("series_versions") else "")
            )
        flags_info = IAGOS_FLAGS_NOTE
        data_info = keyword("DATA_INFO")
        flight = next(
            (str(ds.attrs[k]).strip() for k in _FLIGHT_KEYS if str(ds.attrs.get(k, "")).strip()),
            "",
        )
        other = [f"flight {_text(flight)}"] if flight else []
        if keyword("OTHER_COMMENTS") != "N/A":  # the source's, without what we add ourselves
            other += [
                part
                for part in keyword("OTHER_COMMENTS").split("; ")
                if not part.startswith(
                    ("flight ", "written by stratoflow from ", ANCILLARY_PREFIX, TEXT_LEFT_OUT)
                )
            ]
        other += _ancillary_comment(cols)
        if cols.left_out:
            other.append(TEXT_LEFT_OUT + " ".join(cols.left_out))
        other.append(f"written by stratoflow from {attr('source_file', None)}")
        if flags_info in data_info:
            data_info = data_info.replace(f"; {flags_info}", "").replace(flags_info, "N/A")
        pi_contact = keyword("PI_CONTACT_INFO", "pi_contact")
        header: dict[str, str | None] = {
            "pi": None if self.pi is not None else attr("pi", None),
            "organisation": None if self.organisation is not None else attr("organisation", None),
            "source": None if self.source is not None else attr("source", None),
            "mission": None if self.mission is not None else attr("mission", None),
            "platform": None if self.platform is not None else attr("platform", None),
            "special_comments": "\n".join(scom),
            "pi_contact": pi_contact,
            **({"flight": _text(flight)} if flight else {}),
        }
        ncom = [
            *_attribute_lines(_carried(ds.attrs), header),
            f"PI_CONTACT_INFO: {pi_contact}",
            f"PLATFORM: {attr('platform', self.platform)}",
            f"LOCATION: {keyword('LOCATION', 'location')}",
            f"ASSOCIATED_DATA: {keyword('ASSOCIATED_DATA')}",
            f"INSTRUMENT_INFO: {keyword('INSTRUMENT_INFO', 'instrument')}",
            f"DATA_INFO: {flags_info if data_info == 'N/A' else f'{data_info}; {flags_info}'}",
            f"UNCERTAINTY: {keyword('UNCERTAINTY')}",
            f"ULOD_FLAG: {number(ulod)}",
            f"ULOD_VALUE: {_limit_values(cols, 'ulod_value')}",
            f"LLOD_FLAG: {number(llod)}",
            f"LLOD_VALUE: {_limit_values(cols, 'llod_value')}",
            f"DM_CONTACT_INFO: {keyword('DM_CONTACT_INFO')}",
            f"PROJECT_INFO: {keyword('PROJECT_INFO', 'project')}",
            f"STIPULATIONS_ON_USE: {keyword('STIPULATIONS_ON_USE', 'license', 'licence')}",
            f"OTHER_COMMENTS: {'; '.join(other)}",
            f"REVISION: {revision}",
            f"{revision}: {revision_comment}",
            ", ".join(["Start_UTC", *cols.names]),
        ]
        head = [
            attr("pi", self.pi),
            attr("organisation", self.organisation),
            attr("source", self.source),
            attr("mission", self.mission),
            "1, 1",
            cols.date.strftime("%Y, %m, %d, ") + rdate.strftime("%Y, %m, %d"),
            repr(cols.dx),
            "Start_UTC, seconds, Start_UTC, seconds since 0000 UTC on the date in line 7",
            str(nv),
            ", ".join(["1"] * nv),
            ", ".join([number(missing)] * nv),
            *vnames,
            str(len(scom)),
            *scom,
            str(len(ncom)),
            *ncom,
        ]
        text = "\n".join([f"{len(head) + 1}, 1001, V02_2016", *head]) + "\n"
        write_block(cols, path, text, sep=",", missing=missing, encoding="ascii")
