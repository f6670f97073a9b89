"""Build the transfer library's :class:`~stratoflow.transfer.handler.TransferHandler` from a
:class:`~stratoflow.server.workflow.models.TransferHandler` row, and use it.

The row holds plugin names and plain option dicts (secrets only as references such as
``env:NAME``); the library does the protocol work, retries transient failures and names the
provider and location in every error. Staging lives under ``settings.STAGING_DIR/<row name>``.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from stratoflow.errors import ExportError, TransferError
from stratoflow.server.workflow.models import TransferHandler as TransferHandlerRow
from stratoflow.transfer.handler import TransferHandler
from stratoflow.transfer.staging import StagedFile, StagingArea

__all__ = ["build", "deliver", "fetch_new"]


def build(row: TransferHandlerRow) -> TransferHandler:
    """The configured transfer handler of ``row`` (checked: auth must fit the protocol)."""
    provider = row.provider
    return TransferHandler.from_config(
        {
            "provider": {
                "name": provider.name,
                "description": provider.description,
                "contact": provider.contact,
                "url": provider.url,
                "licence": provider.licence,
            },
            "transfer": {"type": row.transfer_type, **row.transfer_options},
            "auth": {"method": row.auth, **row.auth_options},
        }
    )


def fetch_new(row: TransferHandlerRow) -> list[StagedFile]:
    """Fetch every remote item not fetched before into the row's staging area."""
    return build(row).fetch_new(StagingArea(Path(settings.STAGING_DIR) / row.name))


def deliver(row: TransferHandlerRow, path: Path) -> str:
    """Upload ``path`` to the external system; return the remote identity."""
    try:
        return build(row).put(path)
    except TransferError as exc:
        raise ExportError(f"delivery of {path.name} failed: {exc}") from exc
