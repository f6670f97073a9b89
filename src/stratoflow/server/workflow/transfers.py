"""Build the transfer library's :class:`~stratoflow.transfer.handler.TransferHandler` from a
:class:`~stratoflow.server.workflow.models.TransferHandler` row, and use it.

The row holds plugin names and plain option dicts (secrets only as references such as
``env:NAME``); the library does the protocol work, retries transient failures and names the
provider and location in every error. Staging lives under ``settings.STAGING_DIR/<row name>``.

Reference files (the aircraft's own data a clock synchronisation step correlates against) come
through a transfer handler too, so a job names them the way it names its data: by a pattern at
a provider (:func:`fetch_matching`). They are staged apart, under
``settings.STAGING_DIR/.references/<row name>``, so that fetching them never turns them into
new data files of the row's own import manager.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from django.conf import settings

from stratoflow.errors import ExportError, TransferError
from stratoflow.server.workflow.models import TransferHandler as TransferHandlerRow
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.base import Connection, RemoteItem, TransferType
from stratoflow.transfer.handler import TransferHandler
from stratoflow.transfer.staging import Sink, StagedFile, StagingArea

__all__ = ["build", "deliver", "fetch_matching", "fetch_new"]


def build(
    row: TransferHandlerRow, *, overrides: Mapping[str, Any] | None = None
) -> TransferHandler:
    """The configured transfer handler of ``row`` (checked: auth must fit the protocol).

    ``overrides`` replace some of the row's transfer options for this use only (e.g. another
    ``pattern`` to list reference files instead of data files).
    """
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
            "transfer": {
                "type": row.transfer_type,
                **row.transfer_options,
                **dict(overrides or {}),
            },
            "auth": {"method": row.auth, **row.auth_options},
        }
    )


def fetch_new(row: TransferHandlerRow) -> list[StagedFile]:
    """Fetch every remote item not fetched before into the row's staging area."""
    return build(row).fetch_new(StagingArea(Path(settings.STAGING_DIR) / row.name))


@contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``root`` across processes (workers share the staging area).

    A :class:`StagingArea` clears its ``.partial`` folder when opened and rewrites its manifest
    when a file arrives; two workers resolving the same references at once must take turns.
    """
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class _Matching(TransferType):
    """Another transfer type's items, restricted to the file names matching a glob.

    Only the listing changes; so the base class's ``fetch_new`` (skip what is staged, stage
    the rest atomically, retry transient failures) applies to the matching items alone.
    """

    def __init__(self, inner: TransferType, pattern: str) -> None:
        self.inner, self.pattern = inner, pattern

    def options(self) -> dict[str, Any]:
        return self.inner.options()

    @property
    def where(self) -> str:
        return self.inner.where

    def connect(self, auth: ConnectionHandler) -> Connection:
        return _MatchingConnection(self.inner.connect(auth), self.pattern)


class _MatchingConnection(Connection):
    def __init__(self, inner: Connection, pattern: str) -> None:
        self.inner, self.pattern, self.where = inner, pattern, inner.where

    def list(self) -> Iterator[RemoteItem]:
        return (item for item in self.inner.list() if fnmatchcase(item.name, self.pattern))

    def get(self, item: RemoteItem, sink: Sink) -> None:
        self.inner.get(item, sink)

    def put(self, source: Path, name: str) -> str:
        return self.inner.put(source, name)

    def close(self) -> None:
        self.inner.close()


def fetch_matching(row: TransferHandlerRow, pattern: str) -> list[StagedFile]:
    """The newest staged version of every item of ``row`` whose file name matches ``pattern``.

    Items not staged yet are fetched first (into the reference staging area, see the module
    docstring). ``pattern`` is a glob on the file name; a transfer type that filters its
    listing by a ``pattern`` option (local, SFTP, FTP) lists with this one instead of its
    own. An item fetched earlier and since removed at the provider stays a candidate:
    references are kept, as data files are.
    """
    handler = build(row)
    if "pattern" in handler.transfer.options():
        handler = build(row, overrides={"pattern": pattern})
    matching = _Matching(handler.transfer, pattern)
    root = Path(settings.STAGING_DIR) / ".references" / row.name
    try:
        with _exclusive(root):
            staging = StagingArea(root)
            matching.fetch_new(
                handler.auth, staging, retry=handler.retry, provider=handler.provider.name
            )
            files = staging.files()
    except TransferError as exc:
        prefix = f"provider {handler.provider.name!r} ({handler.transfer.where})"
        raise type(exc)(f"{prefix}: {exc}") from exc
    newest: dict[str, StagedFile] = {}
    for staged in files:  # oldest first: a later version of an identity replaces the earlier
        if fnmatchcase(staged.name, pattern):
            newest[staged.identity] = staged
    return sorted(newest.values(), key=lambda f: f.identity)


def deliver(row: TransferHandlerRow, path: Path) -> str:
    """Upload ``path`` to the external system; return the remote identity."""
    try:
        return build(row).put(path)
    except TransferError as exc:
        raise ExportError(f"delivery of {path.name} failed: {exc}") from exc
