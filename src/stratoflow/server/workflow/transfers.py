"""Build the transfer library's objects from a :class:`TransferHandler` row and use them.

The row holds plugin names and plain option dicts (secrets only as references); the transfer
library does the protocol work. Staging lives under ``settings.STAGING_DIR/<handler name>``.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from stratoflow import plugins
from stratoflow.errors import ExportError, TransferError
from stratoflow.server.workflow.models import TransferHandler
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.base import TransferType
from stratoflow.transfer.retry import RetryPolicy
from stratoflow.transfer.staging import StagedFile, StagingArea

__all__ = ["build", "deliver", "fetch_new"]


def build(row: TransferHandler) -> tuple[TransferType, ConnectionHandler]:
    """The configured transfer type and connection handler of ``row``."""
    type_cls: type[TransferType] = plugins.load("transfer_types", row.transfer_type)
    auth_cls: type[ConnectionHandler] = plugins.load("auth", row.auth)
    return type_cls.from_config(row.transfer_options), auth_cls.from_config(row.auth_options)


def _staging(row: TransferHandler) -> StagingArea:
    return StagingArea(Path(settings.STAGING_DIR) / row.name)


def fetch_new(row: TransferHandler) -> list[StagedFile]:
    """Fetch every remote item not fetched before into the staging area."""
    transfer, auth = build(row)
    return transfer.fetch_new(
        auth, _staging(row), retry=RetryPolicy(attempts=3), provider=row.provider.name
    )


def deliver(row: TransferHandler, path: Path) -> str:
    """Upload ``path`` to the external system; return the remote identity."""
    transfer, auth = build(row)
    try:
        return RetryPolicy(attempts=3).call(
            lambda: _put(transfer, auth, path), what=f"put {transfer.where}: {path.name}"
        )
    except TransferError as exc:
        raise ExportError(f"delivery of {path.name} to {row.provider.name} failed: {exc}") from exc


def _put(transfer: TransferType, auth: ConnectionHandler, path: Path) -> str:
    with transfer.connect(auth) as conn:
        return conn.put(path, path.name)
