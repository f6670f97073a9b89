"""Set-up the catalog tests share: a job whose metadata manager reads a local folder.

A metadata file (YAML or the spreadsheet) reaches the catalog through a job as well as
through ``stratoflow import-metadata``; the tests of both formats build that job the same
way, here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _jobs import one_manager_job, transfer_handler


def metadata_job(folder: Path, pattern: str) -> Any:
    """The job ``metadata-then-series``: one metadata manager (``instruments``, first) over
    the files of ``folder`` matching ``pattern``, from the provider ``instrument PIs``.
    Needs the database."""
    transfer = transfer_handler(
        "metadata-folder",
        provider="instrument PIs",
        transfer_type="local",
        auth="none",
        transfer_options={"root": str(folder), "pattern": pattern},
    )
    return one_manager_job(
        "metadata-then-series", manager="instruments", kind="metadata", order=1, transfer=transfer
    )
