"""Flight identity: which flight a file's data belong to, whatever format the file is in.

One flight's data arrive in several files and formats: the ICARTT merge, each instrument's
ICARTT file, a flag file, revisions, and the archive's CF netCDF conversion of the merge. Each
names the platform in its own spelling (``NASA B200 Aircraft`` in the ICARTT header, ``NASA
B-200 Aircraft`` in the ORNL DAAC netCDF), so a flight named after the platform as spelt became
two flights for the PI, one per spelling.

The rule here:

* :func:`platform_key` -- one key per platform, whatever the case, spaces and punctuation:
  letters and digits carry the name; the spaces and punctuation between them (``-``, ``_``,
  ``.``, ``/``, brackets) do not, and a change from letters to digits is a boundary whether
  written or not (``B-200``, ``B 200``, ``B200``). Between two words or two numbers a separator
  is kept, as it is the only thing telling ``AB C`` from ``A BC`` or ``1 2`` from ``12``;
  symbols (``+``) are kept. The name as given stays for display; only the key is canonical.
* :func:`flight_identifier` -- ``<platform key>_<YYYYMMDD[hh[mm[ss]]]>[_L#][_V#]``, the flight
  of a file whose name follows the ICARTT naming rule (see :func:`icartt_name`): the date, start
  time, launch and volume come from the name, which the ICARTT rule makes unique per flight.
* :func:`converted_flight` -- a netCDF converted from an ICARTT file (it kept the ICARTT name,
  ``..._20170121_R0.nc``) lands on the ICARTT file's flight when nothing in it contradicts the
  name: a platform attribute, the data's first date, the date attributes, the volume
  attributes and a flight label that names a date all agree. Anything less is not guessed:
  the file keeps the flight it names itself, as before.

Example::

    >>> platform_key("NASA B-200 Aircraft") == platform_key("nasa_b200_aircraft")
    True
    >>> flight_identifier("NASA B200 Aircraft", "20170308", launch=2)
    'nasa-b-200-aircraft_20170308_L2'
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FLIGHT_ATTRIBUTES",
    "IcarttName",
    "catalog_identifier",
    "converted_flight",
    "flight_identifier",
    "icartt_name",
    "platform_key",
]

#: Dataset attributes naming the flight, strongest first (the importer takes the first given).
FLIGHT_ATTRIBUTES = ("flight_id", "flight", "flight_number", "identifier")

#: Extensions of container formats, dropped from a file name used as a flight identifier.
#: Instrument logs keep theirs: one measurement period gives several streams that differ only
#: in the extension (FAIRO ``11_30_01.HAL``, ``.T_P``, ``.DAT``), and they must not collide.
CONTAINER_SUFFIXES = re.compile(r"\.(nc|nc4|h5|hdf5|txt|nas|na|ict|csv|tsv)$", re.IGNORECASE)


def _kind(char: str) -> str:
    """``L`` letter, ``N`` digit, ``S`` symbol (kept alone), ``""`` a separator."""
    category = unicodedata.category(char)
    if category[0] == "L" or category in ("Mn", "Mc"):
        return "L"
    if category == "Nd":
        return "N"
    if category[0] == "S":
        return "S"
    return ""


def platform_key(name: str) -> str:
    """The canonical key of a platform name: its words, numbers and symbols, lower-case,
    joined by ``-`` ("" when the name has none).

    A separator (space, punctuation) is dropped where letters meet digits, and kept between
    two words or two numbers; letters meeting digits with no separator are split likewise.
    So ``NASA B-200 Aircraft``, ``NASA B200 Aircraft``, ``nasa_b200_aircraft`` and ``NASA
    B.200-AIRCRAFT`` are one key, while ``NASAB200`` (no word boundary), ``B-20-0`` (another
    number) or ``B200+`` (a symbol) are not the same platform.

    >>> platform_key("NASA B-200 Aircraft")
    'nasa-b-200-aircraft'
    """
    tokens: list[str] = []
    last = ""
    for char in unicodedata.normalize("NFKC", name).casefold():
        kind = _kind(char)
        if kind and kind == last and kind != "S":
            tokens[-1] += char
        elif kind:
            tokens.append(char)
        last = kind
    return "-".join(tokens)


def flight_identifier(
    platform: str,
    date: str,
    *,
    time: str = "",
    launch: int | None = None,
    volume: int | None = None,
) -> str | None:
    """``<platform key>_<date><time>[_L#][_V#]``; None without a platform key.

    ``date`` is ``YYYYMMDD``, ``time`` the ``hh[mm[ss]]`` an ICARTT file name may add to it.
    """
    key = platform_key(platform)
    if not key:
        return None
    launched = f"_L{launch}" if launch is not None else ""
    volumed = f"_V{volume}" if volume is not None else ""
    return f"{key}_{date}{time}{launched}{volumed}"


@dataclass(frozen=True)
class IcarttName:
    """What an ICARTT file name says about its flight."""

    date: str
    time: str
    launch: int | None
    volume: int | None
    suffix: str


#: ``dataID_locationID_YYYYMMDD[hh[mm[ss]]]_R#[_L#][_V#][_comments].<suffix>`` (ICARTT 2.0)
_ICARTT_NAME = re.compile(
    r"^[^_]+_[^_]+_(?P<date>\d{8})(?P<time>\d{2}(?:\d{2}(?:\d{2})?)?)?_R[0-9A-Za-z]+"
    r"(?:_L(?P<launch>\d+))?(?:_V(?P<volume>\d+))?(?:_[^.]*)?\.(?P<suffix>[A-Za-z0-9]+)$",
    re.IGNORECASE,
)


def icartt_name(name: str) -> IcarttName | None:
    """The parts of a file name that follows the ICARTT naming rule (any suffix), else None.

    >>> icartt_name("ACTAMERICA-flag-metadata_B200_20170308_R0_L2.ict").launch
    2
    """
    found = _ICARTT_NAME.match(name)
    if found is None:
        return None
    return IcarttName(
        date=found["date"],
        time=found["time"] or "",
        launch=int(found["launch"]) if found["launch"] else None,
        volume=int(found["volume"]) if found["volume"] else None,
        suffix=found["suffix"].lower(),
    )


#: Suffixes of the netCDF files that :func:`converted_flight` takes an ICARTT name from.
NETCDF_SUFFIXES = frozenset({"nc", "nc4"})
#: Attributes giving the flight's date: CF/ACDD, the ORNL DAAC conversions, stratoflow's own.
_DATE_ATTRIBUTES = ("time_coverage_start", "flight_date", "data_date")
_DATE = re.compile(r"^\s*(\d{4})-?(\d{2})-?(\d{2})(?:$|[T\s_])")
_DATE_IN_LABEL = re.compile(r"(?<!\d)((?:19|20)\d{6})(?!\d)")
_NOT_GIVEN = frozenset({"", "n/a", "na", "none", "unknown"})


def _given(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return None if text.casefold() in _NOT_GIVEN else text


def converted_flight(
    name: str, attrs: Mapping[Any, Any], first_time: np.datetime64 | None
) -> str | None:
    """The ICARTT flight of a netCDF file converted from an ICARTT file, or None.

    ``name`` is the file's name, ``attrs`` its global attributes, ``first_time`` its first
    time (UTC). The flight is the one :func:`flight_identifier` gives the ICARTT file of the
    same name, from the ``platform`` attribute and the name's date, time, launch and volume;
    only when the file says nothing else:

    * the name follows the ICARTT rule with a netCDF suffix, and a platform is given;
    * the data begin on the name's date (ICARTT names the UTC date the data begin), and every
      date attribute given (``time_coverage_start``, ``flight_date``, ``data_date``) says the
      same date;
    * a volume attribute given (``file_volume_number``) is the name's volume (1 without
      ``_V#``);
    * a flight label given (``flight``, ``flight_number``, a trajectory id) that names a date
      names this one (``merge_20170121``).

    Other files, and files whose attributes contradict their name (a copy renamed, a
    conversion of another day), get None: they are not guessed onto another file's flight.
    A file that names its flight in a ``flight_id`` attribute keeps it (see
    :func:`catalog_identifier`); nothing here is consulted then.
    """
    parts = icartt_name(name)
    platform = _given(attrs.get("platform"))
    if parts is None or parts.suffix not in NETCDF_SUFFIXES or platform is None:
        return None
    if first_time is None or np.isnat(first_time):
        return None
    begins = str(first_time.astype("datetime64[D]")).replace("-", "")
    if begins != parts.date:
        return None
    for key in _DATE_ATTRIBUTES:
        text = _given(attrs.get(key))
        if text is None:
            continue
        found = _DATE.match(text)
        if found is None or "".join(found.groups()) != parts.date:
            return None  # unreadable or another day: the name is not the only word
    volume = _given(attrs.get("file_volume_number"))
    if volume is not None and (not volume.isdigit() or int(volume) != (parts.volume or 1)):
        return None
    for key in ("flight", "flight_number"):
        label = _given(attrs.get(key))
        if label is not None and any(d != parts.date for d in _DATE_IN_LABEL.findall(label)):
            return None
    return flight_identifier(
        platform, parts.date, time=parts.time, launch=parts.launch, volume=parts.volume
    )


def catalog_identifier(attrs: Mapping[Any, Any], identity: str, limit: int) -> str:
    """The identifier of the catalog flight a file's data land on, at most ``limit`` long.

    The first of :data:`FLIGHT_ATTRIBUTES` the Dataset gives, else the file's name without
    a container suffix. Separators and control characters are replaced (it names pages,
    ``/review/flight/<id>``, and files). An identifier longer than the column keeps its start
    and a digest of the whole: cut, names that differ only at the end fell on one flight
    (EBAS names the level last, ``...GB12L_Picarro.lev1`` and ``.lev2``).
    """
    identifier = ""
    for key in FLIGHT_ATTRIBUTES:
        value = str(attrs.get(key, "")).strip()
        if value:
            identifier = re.sub(r"[/\\\x00-\x1f]", "_", value)
            break
    else:
        identifier = CONTAINER_SUFFIXES.sub("", identity.rsplit("/", 1)[-1])
    if len(identifier) <= limit:
        return identifier
    digest = hashlib.sha256(identifier.encode()).hexdigest()[:12]
    return f"{identifier[: limit - len(digest) - 1]}~{digest}"
