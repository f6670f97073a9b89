"""The series importer: read a file, store its series, run QC on what was stored — atomically.

Reading, storing and QC happen in one database transaction: a defective file or a failing QC
test leaves no trace in the database, and the error names the file and the defect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from stratoflow import open_dataset
from stratoflow.flags import count_flags
from stratoflow.server.catalog.services import ImportResult, series_import

__all__ = ["FileImport", "import_file"]


@dataclass
class FileImport:
    """What importing one file did."""

    flight: str
    created: bool
    series_ids: list[int]
    points: int
    flag_counts: dict[str, int] = field(default_factory=dict)
    result: ImportResult | None = None


def import_file(
    path: Path,
    *,
    identity: str | None = None,
    provider: str = "",
    reader: str | None = None,
    reader_options: Mapping[str, Any] | None = None,
    qc: Mapping[str, Any] | bool = True,
    level: str = "L0",
) -> FileImport:
    """Import ``path``; run QC on new series unless ``qc`` is False.

    ``qc`` may be a mapping with ``config`` (a QC configuration) and ``evaluation`` (method
    name). Re-importing the same bytes under the same identity creates nothing.
    """
    from stratoflow.server.catalog.qc import qc_series

    options = dict(reader_options or {})
    ds = open_dataset(path, reader=reader, **options)
    with transaction.atomic():
        result = series_import(
            ds,
            identity=identity or path.name,
            size=path.stat().st_size,
            provider=provider,
            reader_options=options,
            level=level,
        )
        counts = count_flags([])
        if result.created and qc is not False:
            qc_options = dict(qc) if isinstance(qc, Mapping) else {}
            runs = qc_series(
                result.series,
                ds,
                config=qc_options.get("config"),
                evaluation=qc_options.get("evaluation", "worst"),
            )
            for run in runs:
                for name, n in run.flag_counts.items():
                    counts[name] = counts.get(name, 0) + int(n)
    flight = result.series[0].flight.identifier if result.series else ""
    return FileImport(
        flight=flight,
        created=result.created,
        series_ids=[s.pk for s in result.series],
        points=result.points,
        flag_counts=counts,
        result=result,
    )
