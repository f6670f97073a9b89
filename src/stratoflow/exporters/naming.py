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
written: an unknown placeholder is named; a template without ``{version}`` (or ``{flight}``)
is refused, as it would give two contents of a flight (or two flights) one name and the
second export would be refused for the first's file. ICARTT files keep the names the ICARTT
standard prescribes (archives read the data ID, platform, date and revision from them): a
template is refused for that format. The rendered name is cleaned as the default name is.

Plain Python (no database): the job loader and the command line check templates with it.
"""

from __future__ import annotations

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
#: Values to try a template's format specs with (``{version:03d}``).
_SAMPLE: dict[str, object] = {
    "flight": "2019010510370802",
    "level": "L2",
    "resolution": "10s",
    "version": 1,
    "format": "netcdf",
    "suffix": ".nc",
    "date": "20190105",
}


def safe_name(text: str, default: str) -> str:
    """``text`` with every character unsafe in a file name replaced by ``_`` and no leading
    dot: names come from data files and templates, and must never name a folder (``../``,
    ``/``) or a hidden file."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text).lstrip(".") or default


def check_name_template(template: str, fmt: str, *, what: str = "name template") -> str:
    """``template`` when it can name the exports of format ``fmt``; else :class:`ConfigError`
    naming the defect (``what`` says where it came from, e.g. ``--name-template``)."""
    if not isinstance(template, str) or not template.strip():
        raise ConfigError(
            f"{what}: must be a non-empty file name template such as "
            "'{flight}_{level}_v{version}{suffix}'"
        )
    if fmt in _OWN_NAMES:
        raise ConfigError(f"{what}: not for format {fmt}: {_OWN_NAMES[fmt]}")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
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
    try:
        template.format(**_SAMPLE)
    except (ValueError, TypeError) as exc:  # a format spec that does not fit, e.g. {level:d}
        raise ConfigError(f"{what} {template!r}: {exc}") from None
    return template


def render_name(template: str, fields: Mapping[str, object]) -> str:
    """The file name ``template`` gives for ``fields`` (checked by :func:`check_name_template`),
    cleaned by :func:`safe_name`."""
    return safe_name(template.format(**fields), "export")
