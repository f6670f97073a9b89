"""File names of exports: the default ``<flight>_<level>[_<resolution>]_v<version><suffix>``, or
a name template a site gives (``stratoflow export --name-template``, the export manager's
``name_template`` option) to match the names its users know.

A template is a file name with placeholders in braces (``str.format`` syntax):

``{flight}``      the flight identifier (characters unsafe in a file name replaced by ``_``)
``{level}``       the data level exported (L1, L2)
``{resolution}``  the resampling resolution, e.g. ``10s``; empty at native resolution
``{version}``     the export version: 1, then the next number for each new content
``{format}``      the export format, e.g. ``netcdf``
``{suffix}``      the writer's file suffix with its dot, e.g. ``.nc``
``{date}``        the UTC day of the flight's start, ``YYYYMMDD``

IAGOS names, e.g. ``IAGOS_timeseries_2019010510370802_L2_3.nc4``::

    --name-template 'IAGOS_timeseries_{flight}_{level}_{version}.nc4'

It is checked when a job is loaded or the command starts, not when the first file is
written: an unknown placeholder, unbalanced braces or a format spec that does not fit its
value (``{level:d}``) are named; a template without ``{version}`` (or ``{flight}``), or one
whose format specs make two flights or versions one name (``{flight:.8}``), is refused, as
the second export would be refused for the first's file; so is one that would name a folder
(``/``) or give an empty name. ICARTT files keep the names the ICARTT standard prescribes
(archives read the data ID, platform, date and revision from them): a template is refused
for that format. Other characters unsafe in a file name (``:``, spaces) are replaced by
``_``, as in the default name.

Plain Python (no database): the job loader and the command line check templates with it.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping

from stratoflow.errors import ConfigError

__all__ = ["PLACEHOLDERS", "check_name_template", "render_name", "safe_name"]

#: Placeholder -> what it stands for (for error messages and ``--help``).
PLACEHOLDERS: dict[str, str] = {
    "flight": "flight identifier",
    "level": "data level (L1, L2)",
    "resolution": "resampling resolution, e.g. 10s (empty at native resolution)",
    "version": "export version number",
    "format": "export format, e.g. netcdf",
    "suffix": "the writer's file suffix, e.g. .nc",
    "date": "UTC day of the flight's start, YYYYMMDD",
}
#: Placeholders every template needs: without them two files would get one name.
_REQUIRED = ("flight", "version")
#: Formats named by their own standard, not by a template.
_OWN_NAMES = {"icartt": "ICARTT files are named as the ICARTT standard prescribes"}
#: Representative values of every placeholder, of the type it has when a file is named
#: (``{version}`` an int, the others text; the flight identifier already cleaned by
#: :func:`safe_name`): the first of each is the template's trial run, the others are tried one
#: placeholder at a time. Flights and versions differ the ways real ones do (last digit,
#: first characters, length, a number of more digits), so that a format spec that cuts or
#: hides them (``{flight:.8}``, ``{version:c}``) shows as two files of one name.
_SAMPLES: dict[str, tuple[object, ...]] = {
    "flight": ("2019010510370802", "2019010510370803", "2024032703373803", "D-AIGT1", "D-AIGT"),
    "level": ("L2", "L1", "any"),
    "resolution": ("10s", "", "1min"),
    "version": (1, 2, 10, 11, 100),
    "format": ("netcdf", "csv"),
    "suffix": (".nc", ".csv", ".dat"),
    "date": ("20190105", "20191231"),
}
#: Two flight identifiers as long as the catalog takes (100 characters), differing in the
#: last: a format spec that cuts ``{flight}`` anywhere (``{flight:.40}``) gives them one name.
_LONG_FLIGHTS = ("F" * 99 + "1", "F" * 99 + "2")
#: Longest file name (bytes) the common file systems take (ext4, XFS, APFS, NTFS in UTF-16
#: units).
_NAME_MAX = 255
#: What a format spec may raise on a value (``{level:d}``, ``{flight:{nope}}``, ``{version:.2}``).
_FORMAT_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def safe_name(text: str, default: str) -> str:
    """``text`` with every character unsafe in a file name replaced by ``_`` and no leading
    dot: names come from data files and templates, and must never name a folder (``../``,
    ``/``) or a hidden file."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text).lstrip(".") or default


def _fields(template: str) -> list[str]:
    """Every placeholder of ``template``, those nested in format specs (``{flight:{x}}``)
    too; :class:`ValueError` for unbalanced braces."""
    found = []
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is not None:
            found.append(name)
        if spec:
            found.extend(_fields(spec))
    return found


def check_name_template(template: str, fmt: str, *, what: str = "name template") -> str:
    """``template`` when it can name the exports of format ``fmt``; else :class:`ConfigError`
    naming the template and its defect (``what`` says where it came from, e.g.
    ``--name-template``).

    Checked once, before anything is exported, by rendering it with representative values
    of every placeholder (:data:`_SAMPLES`): a format spec that does not fit a value fails
    here, not half-way through an export; a template that can name a folder (``/``), give an
    empty name, or give two flights or two versions one name (``{flight:.8}``) is refused
    rather than cleaned or numbered behind the user's back.
    """
    if not isinstance(template, str) or not template.strip():
        raise ConfigError(
            f"{what}: must be a non-empty file name template such as "
            "'{flight}_{level}_v{version}{suffix}'"
        )
    if fmt in _OWN_NAMES:
        raise ConfigError(f"{what}: not for format {fmt}: {_OWN_NAMES[fmt]}")
    try:
        fields = _fields(template)
    except ValueError as exc:  # a lone '{' or '}'
        raise ConfigError(f"{what} {template!r}: {exc} (write {{{{ or }}}} for a brace)") from None
    for name in fields:
        if name not in PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            shown = f"{{{name}}}" if name else "{}"
            raise ConfigError(f"{what} {template!r}: unknown placeholder {shown}; known: {known}")
    for name in _REQUIRED:
        if name not in fields:
            raise ConfigError(
                f"{what} {template!r}: lacks {{{name}}}; without it two "
                + ("versions of a flight" if name == "version" else "flights")
                + " would get the same file name"
            )
    base = {name: values[0] for name, values in _SAMPLES.items()}
    trials = [base] + [
        {**base, name: value} for name, values in _SAMPLES.items() for value in values[1:]
    ]
    # every flight with every version: '{flight}{version}' names D-AIGT1 v1 like D-AIGT v11
    trials += [
        {**base, "flight": flight, "version": version}
        for flight in _SAMPLES["flight"]
        for version in _SAMPLES["version"]
    ]
    # identifiers as long as the catalog takes: a spec that cuts them anywhere shows
    trials += [{**base, "flight": flight} for flight in _LONG_FLIGHTS]
    # one export has one level, resolution, format and suffix: names are compared within it
    named: dict[tuple[str, ...], dict[str, object]] = {}
    for fields_ in trials:
        name = _render(template, fields_, what)
        if not name:
            shown = ", ".join(f"{{{k}}}={v!r}" for k, v in fields_.items() if k in fields)
            raise ConfigError(f"{what} {template!r}: gives an empty file name (with {shown})")
        if fields_["flight"] not in _LONG_FLIGHTS and len(name.encode()) > _NAME_MAX:
            raise ConfigError(
                f"{what} {template!r}: gives names of {len(name.encode())} bytes "
                f"({name[:40]}...); file systems take {_NAME_MAX}"
            )
        shared = tuple(str(fields_[k]) for k in ("level", "resolution", "format", "suffix"))
        other = named.setdefault((name, *shared), fields_)
        if any(other[k] != fields_[k] for k in ("flight", "version")):
            raise ConfigError(
                f"{what} {template!r}: names flight {_short(other['flight'])} "
                f"v{other['version']} and flight {_short(fields_['flight'])} "
                f"v{fields_['version']} alike ({_short(name)!r}): each "
                "flight and version needs a name of its own (a format spec that shortens or "
                "hides {flight} or {version}? a separator between them?)"
            )
    return template


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:12]}...{text[-12:]}"


def _render(template: str, fields: Mapping[str, object], what: str) -> str:
    """The cleaned name ``template`` gives for ``fields``; :class:`ConfigError` when a format
    spec does not fit a value or the name would lie in a folder."""
    try:
        raw = template.format(**fields)
    except _FORMAT_ERRORS as exc:  # a format spec that does not fit, e.g. {level:d}
        raise ConfigError(f"{what} {template!r}: {_culprit(template, fields, exc)}") from None
    for separator in {"/", "\\", os.sep, *([os.altsep] if os.altsep else [])}:
        if separator in raw:
            raise ConfigError(
                f"{what} {template!r}: gives {raw!r}, with the path separator {separator!r}: "
                "a template names the file, not a folder (--out says where it goes)"
            )
    if "\0" in raw:
        raise ConfigError(f"{what} {template!r}: gives a name with a NUL character")
    return safe_name(raw, "")


def _culprit(template: str, fields: Mapping[str, object], exc: Exception) -> str:
    """Which placeholder of ``template`` failed with ``exc``, and on what value."""
    if isinstance(exc, KeyError):  # only nested ones get here: {flight:{nope}}
        return f"unknown placeholder {{{exc.args[0]}}} in a format spec"
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        piece = "{" + name + (f"!{conversion}" if conversion else "") + f":{spec}}}"
        try:
            piece.format(**fields)
        except _FORMAT_ERRORS:
            return f"{piece.replace(':}', '}')} does not fit {{{name}}} = {fields[name]!r}: {exc}"
    return str(exc)


def render_name(template: str, fields: Mapping[str, object]) -> str:
    """The file name ``template`` gives for ``fields`` (checked by :func:`check_name_template`),
    cleaned by :func:`safe_name`."""
    return safe_name(template.format(**fields), "export")
