"""Which flight today's importer gives a stored file, from what was stored of it.

The flight identity rules changed (see :mod:`stratoflow.flights`); migration
``catalog/0005_flight_identity`` moved the flights named by older rules to today's
identifiers, and left those it could not move without losing or deciding something (review or
export records, files that now name several flights). Both it and
:func:`~stratoflow.server.catalog.selectors.flights_named_otherwise` (``stratoflow manage
flights_identity``, which lists what was left) recompute a file's flight here: from the
Dataset attributes its reader made (stored on the source row), its name and the first time of
its series.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from stratoflow.flights import catalog_identifier, converted_flight
from stratoflow.readers.icartt import header_flight, keyword_value

__all__ = ["READERS", "file_flight"]

#: Readers whose flights the changed rules name.
READERS = ("icartt", "cf_netcdf")


def _utc64(value: datetime | None) -> np.datetime64 | None:
    if value is None:
        return None
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(naive, "ns")


def file_flight(
    reader: str, identity: str, stored: Any, first_time: datetime | None, limit: int
) -> str:
    """The identifier today's reader and importer give the file a source row records:
    ``reader`` and ``identity`` of the row, ``stored`` its attributes, ``first_time`` the
    first time of its series, ``limit`` the length of the flight identifier column."""
    attrs = dict(stored) if isinstance(stored, Mapping) else {}
    name = str(attrs.get("source_file") or identity.rsplit("/", 1)[-1])
    if reader == "icartt":
        flight = header_flight(
            name,
            str(attrs.get("platform", "")),
            str(attrs.get("data_date", "")).replace("-", ""),
            str(keyword_value(attrs, "OTHER_COMMENTS", "icartt_") or ""),
        )
        if flight:
            attrs["flight"] = flight
    elif reader == "cf_netcdf":
        joined = converted_flight(name, attrs, _utc64(first_time))
        if joined:
            attrs["flight"] = joined
    return catalog_identifier(attrs, identity, limit)
