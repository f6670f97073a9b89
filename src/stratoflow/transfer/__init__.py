"""Moving files between stratoflow and external systems, without Django.

The seed's TransferHandler combines three independent parts:

- a :class:`TransferType` (protocol: :class:`LocalDirectory`, :class:`HttpPortal`,
  :class:`SFTPServer`, :class:`FTPServer`; plugins in ``stratoflow.transfer_types``),
- a :class:`ConnectionHandler` (authentication; plugins in ``stratoflow.auth``, see
  :mod:`stratoflow.transfer.auth`),
- a :class:`DataProvider` (who the external party is).

Downloads land atomically in a :class:`StagingArea` whose manifest remembers what was fetched.
Secrets are :class:`Secret` references resolved at use time. Example::

    from stratoflow.transfer import TransferHandler, StagingArea
    handler = TransferHandler.from_config({
        "provider": {"name": "Portal"},
        "transfer": {"type": "http", "base_url": "https://portal.example/api/"},
        "auth": {"method": "bearer", "token": "env:PORTAL_TOKEN"},
    })
    staged = handler.fetch_new(StagingArea("staging/portal"))
"""

from __future__ import annotations

from stratoflow.transfer.auth import ConnectionHandler, auth_from_config
from stratoflow.transfer.base import Connection, RemoteItem, TransferType, UploadTrace
from stratoflow.transfer.ftp import FTPServer
from stratoflow.transfer.handler import TransferHandler, transfer_type_from_config
from stratoflow.transfer.http import HttpPortal
from stratoflow.transfer.local import LocalDirectory
from stratoflow.transfer.provider import DataProvider
from stratoflow.transfer.retry import RetryPolicy
from stratoflow.transfer.secrets import Secret
from stratoflow.transfer.sftp import SFTPServer
from stratoflow.transfer.staging import StagedFile, StagingArea

__all__ = [
    "Connection",
    "ConnectionHandler",
    "DataProvider",
    "FTPServer",
    "HttpPortal",
    "LocalDirectory",
    "RemoteItem",
    "RetryPolicy",
    "SFTPServer",
    "Secret",
    "StagedFile",
    "StagingArea",
    "TransferHandler",
    "TransferType",
    "UploadTrace",
    "auth_from_config",
    "transfer_type_from_config",
]
